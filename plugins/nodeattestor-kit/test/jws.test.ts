import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { JWS_ALGORITHMS, verifyJws } from '../src/index.js';

describe('verifyJws', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const input = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0';

  it('verifies RS256 and ES256 and refuses a changed input', () => {
    const rs = sign('sha256', Buffer.from(input), rsa.privateKey);
    const es = sign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
    expect(verifyJws('RS256', rsa.publicKey, input, rs)).toBe(true);
    expect(verifyJws('ES256', ec.publicKey, input, es)).toBe(true);
    expect(verifyJws('RS256', rsa.publicKey, `${input}x`, rs)).toBe(false);
  });

  it('refuses unknown algorithms, mismatched key types and garbage signatures', () => {
    const rs = sign('sha256', Buffer.from(input), rsa.privateKey);
    expect(verifyJws('none', rsa.publicKey, input, rs)).toBe(false);
    expect(verifyJws('constructor', rsa.publicKey, input, rs)).toBe(false);
    expect(verifyJws('ES256', rsa.publicKey, input, rs)).toBe(false);
    expect(verifyJws('RS256', ec.publicKey, input, rs)).toBe(false);
    expect(verifyJws('ES256', ec.publicKey, input, Buffer.from('x'))).toBe(false);
    expect(JWS_ALGORITHMS).not.toContain('HS256');
  });
});
