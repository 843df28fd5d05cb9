/** SPIFFE ID rules (SPIFFE-ID.md) as the DataStore enforces them. */
import { describe, expect, it } from 'vitest';
import { spiffeIdProblem } from '../src/index.js';

describe('spiffeIdProblem', () => {
  it.each([
    'spiffe://example.org',
    'spiffe://example.org/a/b-c/d_e.f',
    'spiffe://1.2.3.4/x',
    'spiffe://td_with-chars.0/UPPER/path',
    `spiffe://example.org/${'a'.repeat(2000)}`,
  ])('accepts %s', (id) => expect(spiffeIdProblem(id)).toBeUndefined());

  it.each([
    ['', /scheme/],
    ['SPIFFE://example.org/a', /scheme/],
    ['spiffe://', /trust domain is missing/],
    ['spiffe:///path', /trust domain is missing/],
    ['spiffe://Example.org', /lowercase/],
    ['spiffe://user@example.org', /lowercase/],
    ['spiffe://example.org:443/a', /lowercase/],
    ['spiffe://[::1]/a', /lowercase/],
    ['spiffe://example.org/', /trailing slash/],
    ['spiffe://example.org/a/', /empty segments|trailing/],
    ['spiffe://example.org//a', /empty segments/],
    ['spiffe://example.org/./a', /dot segments/],
    ['spiffe://example.org/a/..', /dot segments/],
    ['spiffe://example.org/a%2Fb', /letters, digits/],
    ['spiffe://example.org/a?q', /letters, digits/],
    ['spiffe://example.org/a#f', /letters, digits/],
    ['spiffe://example.org/ü', /letters, digits/],
    [`spiffe://${'a'.repeat(256)}/x`, /255/],
    [`spiffe://example.org/${'a'.repeat(2100)}`, /2048/],
  ])('rejects %j', (id, why) => expect(spiffeIdProblem(id)).toMatch(why));
});
