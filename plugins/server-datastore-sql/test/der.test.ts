/** Reading notAfter and the subject key ID from DER certificates (real ones from openssl, and the test fakes). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fakeCert } from '@spire-ts/conformance/datastore';
import { certificateFacts } from '../src/index.js';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('certificateFacts', () => {
  it.skipIf(!hasOpenssl())('matches openssl on a real certificate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'der-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.der'),
        '-outform', 'DER', '-days', '30', '-subj', '/CN=test-ca'], { stdio: 'ignore' });
      const der = readFileSync(join(dir, 'c.der'));
      const x = new X509Certificate(der);
      const text = execFileSync('openssl', ['x509', '-inform', 'DER', '-in', join(dir, 'c.der'), '-noout', '-ext', 'subjectKeyIdentifier'], { encoding: 'utf8' });
      const ski = (text.split('\n')[1] ?? '').trim().replace(/:/g, '').toLowerCase();
      expect(certificateFacts(der)).toEqual({ notAfter: Date.parse(x.validTo) / 1000, subjectKeyId: ski });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the fakes the contract uses', () => {
    expect(certificateFacts(fakeCert({ notAfter: 2_000_000_000, ski: '0a0b' }))).toEqual({ notAfter: 2_000_000_000, subjectKeyId: '0a0b' });
  });

  it('rejects non-certificates', () => {
    expect(() => certificateFacts(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]))).toThrow();
    expect(() => certificateFacts(new Uint8Array([1, 2, 3]))).toThrow();
    expect(() => certificateFacts(new Uint8Array())).toThrow();
  });
});
