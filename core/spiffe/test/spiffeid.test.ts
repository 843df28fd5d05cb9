// SPIFFE ID and trust domain parsing against the SPIFFE ID specification's
// rules, with the valid and invalid examples go-spiffe's conformance tests
// use (every character 0x00-0xFF in the trust domain and in the path,
// schemes, empty and dot segments, percent-encoding), plus the authorizers.
import { describe, expect, it } from 'vitest';
import {
  AuthorizationError,
  SpiffeId,
  SpiffeIdError,
  TrustDomain,
  authorizeAny,
  authorizeId,
  authorizeIf,
  authorizeMemberOf,
  authorizeOneOf,
  checkAuthorized,
  validatePathSegment,
} from '../src/index.js';

const TD_CHARS = new Set('abcdefghijklmnopqrstuvwxyz0123456789.-_');
const PATH_CHARS = new Set('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_');
const BAD_TD = 'trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores';
const BAD_PATH = 'path segment characters are limited to letters, numbers, dots, dashes, and underscores';

function fails(input: string, message: string): void {
  let err: unknown;
  try {
    SpiffeId.parse(input);
  } catch (e) {
    err = e;
  }
  expect(err, input).toBeInstanceOf(SpiffeIdError);
  expect((err as SpiffeIdError).message, input).toBe(message);
  expect(SpiffeId.tryParse(input)).toBeUndefined();
}

function ok(input: string, td: string, path: string): void {
  const id = SpiffeId.parse(input);
  expect(id.trustDomain.name).toBe(td);
  expect(id.path).toBe(path);
  expect(id.toString()).toBe(input);
}

describe('SpiffeId.parse', () => {
  it('accepts an ID without a path, and with one', () => {
    ok('spiffe://trustdomain', 'trustdomain', '');
    ok('spiffe://trustdomain/path', 'trustdomain', '/path');
    ok('spiffe://example.org/ns/prod/sa/api-v2_x', 'example.org', '/ns/prod/sa/api-v2_x');
  });

  it('rejects the empty string', () => fails('', 'cannot be empty'));

  it('checks every character 0x00-0xFF in the trust domain and in the path', () => {
    for (let i = 0; i < 256; i++) {
      if (i === 0x2f) continue; // '/' separates segments
      const c = String.fromCharCode(i);
      if (TD_CHARS.has(c)) ok(`spiffe://trustdomain${c}/path`, `trustdomain${c}`, '/path');
      else fails(`spiffe://trustdomain${c}/path`, BAD_TD);
      if (PATH_CHARS.has(c)) ok(`spiffe://trustdomain/path${c}`, 'trustdomain', `/path${c}`);
      else fails(`spiffe://trustdomain/path${c}`, BAD_PATH);
    }
  });

  it('rejects a missing or wrong scheme', () => {
    for (const s of ['s', 'spiffe:/', 'Spiffe://', 'SPIFFE://trustdomain', 'http://trustdomain/path', 'spiffe:trustdomain']) fails(s, 'scheme is missing or invalid');
  });

  it('rejects a missing trust domain', () => {
    fails('spiffe://', 'trust domain is missing');
    fails('spiffe:///', 'trust domain is missing');
    fails('spiffe:///path', 'trust domain is missing');
  });

  it('rejects empty segments and a trailing slash', () => {
    fails('spiffe://trustdomain/', 'path cannot have a trailing slash');
    fails('spiffe://trustdomain//', 'path cannot contain empty segments');
    fails('spiffe://trustdomain//path', 'path cannot contain empty segments');
    fails('spiffe://trustdomain/path/', 'path cannot have a trailing slash');
  });

  it('rejects dot segments but accepts segments that merely contain dots', () => {
    for (const p of ['/.', '/./path', '/path/./other', '/path/..', '/..', '/../path', '/path/../other']) fails(`spiffe://trustdomain${p}`, 'path cannot contain dot segments');
    ok('spiffe://trustdomain/.path', 'trustdomain', '/.path');
    ok('spiffe://trustdomain/..path', 'trustdomain', '/..path');
    ok('spiffe://trustdomain/...', 'trustdomain', '/...');
  });

  it('rejects percent-encoding, ports, user info, queries and fragments', () => {
    fails('spiffe://%F0%9F%A4%AF/path', BAD_TD);
    fails('spiffe://trustdomain/%F0%9F%A4%AF', BAD_PATH);
    fails('spiffe://%62%61%64/path', BAD_TD);
    fails('spiffe://trustdomain/%62%61%64', BAD_PATH);
    fails('spiffe://trustdomain:8080/path', BAD_TD);
    fails('spiffe://user@trustdomain/path', BAD_TD);
    fails('spiffe://trustdomain/path?query', BAD_PATH);
    fails('spiffe://trustdomain/path#frag', BAD_PATH);
    fails('spiffe://trustdomain/pâth', BAD_PATH);
  });

  it('names the broken rule in `reason` and keeps the input', () => {
    const err = (() => {
      try {
        SpiffeId.parse('spiffe://Example.org');
      } catch (e) {
        return e as SpiffeIdError;
      }
      throw new Error('no error');
    })();
    expect(err.reason).toBe('bad-trust-domain-char');
    expect(err.input).toBe('spiffe://Example.org');
  });
});

describe('building IDs', () => {
  const td = TrustDomain.parse('trustdomain');
  it('from segments, each validated', () => {
    expect(SpiffeId.fromSegments(td).toString()).toBe('spiffe://trustdomain');
    expect(SpiffeId.fromSegments(td, 'foo', 'bar').path).toBe('/foo/bar');
    expect(() => SpiffeId.fromSegments(td, '')).toThrow('path cannot contain empty segments');
    expect(() => SpiffeId.fromSegments(td, '/')).toThrow(BAD_PATH);
    expect(() => SpiffeId.fromSegments(td, '/foo')).toThrow(BAD_PATH);
    expect(() => SpiffeId.fromSegments(td, '$')).toThrow(BAD_PATH);
    expect(() => validatePathSegment('..')).toThrow('path cannot contain dot segments');
  });
  it('from a path', () => {
    expect(SpiffeId.fromPath(td, '/foo').toString()).toBe('spiffe://trustdomain/foo');
    expect(SpiffeId.fromPath(td, '').toString()).toBe('spiffe://trustdomain');
    expect(() => SpiffeId.fromPath(td, 'foo')).toThrow('path must have a leading slash');
    expect(() => SpiffeId.fromPath(td, '/')).toThrow('path cannot have a trailing slash');
    expect(SpiffeId.parse('spiffe://trustdomain/a').replacePath('/b').toString()).toBe('spiffe://trustdomain/b');
    expect(SpiffeId.parse('spiffe://trustdomain/a/b').segments()).toEqual(['a', 'b']);
  });
  it('membership and equality', () => {
    const id = SpiffeId.parse('spiffe://trustdomain/path/element');
    expect(id.memberOf(td)).toBe(true);
    expect(id.memberOf('domain2.test')).toBe(false);
    expect(td.id().memberOf(td)).toBe(true);
    expect(id.equals('spiffe://trustdomain/path/element')).toBe(true);
    expect(JSON.stringify({ id, td })).toBe('{"id":"spiffe://trustdomain/path/element","td":"trustdomain"}');
  });
});

describe('TrustDomain.parse', () => {
  it('accepts a name or an ID', () => {
    for (const s of ['trustdomain', 'spiffe://trustdomain', 'spiffe://trustdomain/path']) {
      expect(TrustDomain.parse(s).name).toBe('trustdomain');
      expect(TrustDomain.parse(s).idString()).toBe('spiffe://trustdomain');
    }
  });
  it('rejects bad names and bad IDs with the spec reason', () => {
    expect(() => TrustDomain.parse('')).toThrow('trust domain is missing');
    expect(() => TrustDomain.parse('spiffe:/trustdomain/path')).toThrow('scheme is missing or invalid');
    expect(() => TrustDomain.parse('spiffe://')).toThrow('trust domain is missing');
    expect(() => TrustDomain.parse('spiffe:///path')).toThrow('trust domain is missing');
    expect(() => TrustDomain.parse('spiffe://trustdomain/')).toThrow('path cannot have a trailing slash');
    expect(() => TrustDomain.parse('spiffe://trustdomain/path/')).toThrow('path cannot have a trailing slash');
    expect(() => TrustDomain.parse('spiffe://%F0%9F%A4%AF/path')).toThrow(BAD_TD);
    expect(() => TrustDomain.parse('spiffe://trustdomain/%F0%9F%A4%AF')).toThrow(BAD_PATH);
    for (let i = 0; i < 256; i++) {
      const c = String.fromCharCode(i);
      if (TD_CHARS.has(c)) expect(TrustDomain.parse(`trustdomain${c}`).name).toBe(`trustdomain${c}`);
      else expect(() => TrustDomain.parse(`trustdomain${c}`), `0x${i.toString(16)}`).toThrow(BAD_TD);
    }
  });
});

describe('authorizers', () => {
  const a = SpiffeId.parse('spiffe://example.org/a');
  const b = SpiffeId.parse('spiffe://example.org/b');
  const other = SpiffeId.parse('spiffe://other.org/a');
  it('exact ID', () => {
    expect(() => authorizeId('spiffe://example.org/a')(a)).not.toThrow();
    expect(() => authorizeId(a)(b)).toThrow(new AuthorizationError(b.toString(), 'unexpected ID "spiffe://example.org/b": expected "spiffe://example.org/a"'));
    expect(() => authorizeId('spiffe://example.org/a/')).toThrow('path cannot have a trailing slash');
  });
  it('one of', () => {
    const auth = authorizeOneOf([a, 'spiffe://other.org/a']);
    expect(() => auth(a)).not.toThrow();
    expect(() => auth(other)).not.toThrow();
    expect(() => auth(b)).toThrow('unexpected ID "spiffe://example.org/b": expected one of "spiffe://example.org/a", "spiffe://other.org/a"');
  });
  it('member of a trust domain', () => {
    expect(() => authorizeMemberOf('example.org')(b)).not.toThrow();
    expect(() => authorizeMemberOf('example.org')(other)).toThrow('unexpected trust domain "other.org" of "spiffe://other.org/a": expected "example.org"');
  });
  it('custom predicate, and any', () => {
    const auth = authorizeIf((id) => id.path.startsWith('/a'), 'paths under /a');
    expect(() => auth(a)).not.toThrow();
    expect(checkAuthorized(auth, b)?.message).toBe('unexpected ID "spiffe://example.org/b": not accepted by paths under /a');
    expect(checkAuthorized(authorizeAny(), other)).toBeUndefined();
    expect(
      checkAuthorized(() => {
        throw new Error('boom');
      }, a),
    ).toBeInstanceOf(AuthorizationError);
  });
});
