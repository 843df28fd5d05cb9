import { describe, expect, it } from 'vitest';
import {
  SpiffeId,
  SpiffeIdError,
  agentId,
  isAgentId,
  isAgentPath,
  isMemberOf,
  isReservedPath,
  isServerId,
  isValidSpiffeId,
  joinPathSegments,
  parseSpiffeId,
  parseTrustDomain,
  serverId,
  spiffeIdFromPath,
  spiffeIdFromSegments,
  trustDomainId,
  validatePath,
  validatePathSegment,
  type SpiffeIdErrorReason,
} from '../src/spiffe/index.js';

function failure(fn: () => unknown): SpiffeIdError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SpiffeIdError);
    return err as SpiffeIdError;
  }
  throw new Error('expected a SpiffeIdError');
}

const TD_255 = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`; // 255 bytes
const LONGEST = `spiffe://example.org/${'x'.repeat(2048 - 'spiffe://example.org/'.length)}`;

describe('parseSpiffeId: valid IDs', () => {
  const valid: [string, string, string][] = [
    ['spiffe://example.org', 'example.org', ''],
    ['spiffe://example.org/web', 'example.org', '/web'],
    ['spiffe://staging.example.com/payments/mysql', 'staging.example.com', '/payments/mysql'],
    ['spiffe://k8s-west.example.com/ns/staging/sa/default', 'k8s-west.example.com', '/ns/staging/sa/default'],
    ['spiffe://example.com/9eebccd2-12bf-40a6-b262-65fe0487d453', 'example.com', '/9eebccd2-12bf-40a6-b262-65fe0487d453'],
    ['spiffe://trust_domain-1.example/Mixed_Case-Path.v2', 'trust_domain-1.example', '/Mixed_Case-Path.v2'],
    ['spiffe://192.168.1.10/ipv4/is/allowed', '192.168.1.10', '/ipv4/is/allowed'],
    ['spiffe://example.org/.../a./.b/..c', 'example.org', '/.../a./.b/..c'],
    ['spiffe://a/b', 'a', '/b'],
    [`spiffe://${TD_255}/x`, TD_255, '/x'],
    [LONGEST, 'example.org', LONGEST.slice('spiffe://example.org'.length)],
  ];
  it.each(valid)('%s', (input, td, path) => {
    const id = parseSpiffeId(input);
    expect(id.trustDomain).toBe(td);
    expect(id.path).toBe(path);
    expect(id.toString()).toBe(input);
    expect(`${id}`).toBe(input);
    expect(JSON.stringify({ id })).toBe(JSON.stringify({ id: input }));
    expect(isValidSpiffeId(input)).toBe(true);
  });

  it('accepts exactly 2048 bytes', () => {
    expect(Buffer.byteLength(LONGEST)).toBe(2048);
  });
});

describe('parseSpiffeId: every rule, with a precise message', () => {
  const invalid: [string, string, SpiffeIdErrorReason, RegExp][] = [
    ['empty', '', 'empty', /cannot be empty/],
    ['no scheme', 'example.org/web', 'wrong-scheme', /scheme is missing or invalid: a SPIFFE ID starts with "spiffe:\/\/"/],
    ['wrong scheme', 'https://example.org/web', 'wrong-scheme', /want "spiffe:\/\/", got "https:\/\/"/],
    ['uppercase scheme', 'SPIFFE://example.org/web', 'wrong-scheme', /must be lowercase "spiffe:\/\/", got "SPIFFE:\/\/"/],
    ['mixed-case scheme', 'Spiffe://example.org', 'wrong-scheme', /must be lowercase/],
    ['one slash', 'spiffe:/example.org/web', 'wrong-scheme', /got "spiffe:\/"/],
    ['no authority', 'spiffe:example.org', 'wrong-scheme', /scheme is missing or invalid/],
    ['empty trust domain', 'spiffe://', 'missing-trust-domain', /trust domain is missing/],
    ['empty trust domain with path', 'spiffe:///web', 'missing-trust-domain', /trust domain is missing/],
    ['uppercase trust domain', 'spiffe://Example.org/web', 'bad-trust-domain-char', /found "E" at position 9 \(trust domains must be lowercase\)/],
    ['port', 'spiffe://example.org:8080/web', 'bad-trust-domain-char', /found ":" at position 20 \(a port is not allowed\)/],
    ['userinfo', 'spiffe://user@example.org/web', 'bad-trust-domain-char', /found "@" at position 13 \(userinfo is not allowed\)/],
    ['userinfo with password', 'spiffe://u:p@example.org', 'bad-trust-domain-char', /found ":" at position 10 \(userinfo is not allowed\)/],
    ['IPv6', 'spiffe://[::1]/web', 'bad-trust-domain-char', /found "\[" at position 9 \(IPv6 addresses are not allowed\)/],
    ['percent-encoded trust domain', 'spiffe://ex%41mple.org', 'bad-trust-domain-char', /found "%" .*percent-encoding is not allowed/],
    ['query on trust domain', 'spiffe://example.org?x=1', 'bad-trust-domain-char', /found "\?" .*a query is not allowed/],
    ['fragment on trust domain', 'spiffe://example.org#f', 'bad-trust-domain-char', /found "#" .*a fragment is not allowed/],
    ['space in trust domain', 'spiffe://exa mple.org', 'bad-trust-domain-char', /lowercase letters, numbers, dots, dashes, and underscores; found " " at position 12/],
    ['non-ASCII trust domain', 'spiffe://exämple.org', 'bad-trust-domain-char', /found "ä" .*only ASCII/],
    ['empty segment', 'spiffe://example.org/a//b', 'empty-segment', /path cannot contain empty segments; found "\/\/" at position 22/],
    ['empty first segment', 'spiffe://example.org//a', 'empty-segment', /empty segments/],
    ['root trailing slash', 'spiffe://example.org/', 'trailing-slash', /path cannot have a trailing slash/],
    ['trailing slash', 'spiffe://example.org/web/', 'trailing-slash', /trailing slash/],
    ['dot segment', 'spiffe://example.org/.', 'dot-segment', /path cannot contain dot segments; found "\."/],
    ['dot-dot segment', 'spiffe://example.org/..', 'dot-segment', /dot segments; found "\.\."/],
    ['inner dot segment', 'spiffe://example.org/a/./b', 'dot-segment', /dot segments/],
    ['inner dot-dot segment', 'spiffe://example.org/a/../b', 'dot-segment', /dot segments; found "\.\." at position 23/],
    ['percent-encoded path', 'spiffe://example.org/a%20b', 'bad-path-char', /path segment characters are limited to letters, numbers, dots, dashes, and underscores; found "%" at position 22 \(percent-encoding is not allowed\)/],
    ['query', 'spiffe://example.org/web?x=1', 'bad-path-char', /found "\?" at position 24 \(a query is not allowed\)/],
    ['fragment', 'spiffe://example.org/web#top', 'bad-path-char', /found "#" at position 24 \(a fragment is not allowed\)/],
    ['colon in path', 'spiffe://example.org/a:b', 'bad-path-char', /found ":" at position 22$/],
    ['space in path', 'spiffe://example.org/a b', 'bad-path-char', /found " "/],
    ['non-ASCII path', 'spiffe://example.org/café', 'bad-path-char', /found "é" .*only ASCII/],
    ['over 2048 bytes', `${LONGEST}x`, 'too-long', /SPIFFE ID is 2049 bytes; the maximum is 2048/],
    ['trust domain over 255 bytes', `spiffe://${TD_255}a/x`, 'trust-domain-too-long', /trust domain is 256 bytes; the maximum is 255/],
  ];
  it.each(invalid)('%s', (_name, input, reason, message) => {
    const err = failure(() => parseSpiffeId(input));
    expect(err.reason).toBe(reason);
    expect(err.code).toBe('ERR_SPIFFE_ID');
    expect(err.input).toBe(input);
    expect(err.message).toMatch(/^invalid SPIFFE ID "/);
    expect(err.message).toMatch(message);
    // The detail is the message without its `invalid SPIFFE ID "<input>": ` prefix.
    expect(err.message.endsWith(`: ${err.detail}`)).toBe(true);
    expect(err.detail).not.toMatch(/invalid SPIFFE ID/);
    expect(isValidSpiffeId(input)).toBe(false);
  });

  it('checks the trust domain before the path, as go-spiffe does', () => {
    expect(failure(() => parseSpiffeId('spiffe://A/b//c')).reason).toBe('bad-trust-domain-char');
  });

  it('truncates very long inputs in the message but keeps them whole on the error', () => {
    const err = failure(() => parseSpiffeId(`${LONGEST}x`));
    expect(err.message.length).toBeLessThan(200);
    expect(err.input.length).toBe(2049);
  });

  it('refuses non-strings with a TypeError', () => {
    expect(() => parseSpiffeId(42 as unknown as string)).toThrow(TypeError);
  });
});

describe('trust domains', () => {
  it.each([
    ['example.org', 'example.org'],
    ['spiffe://example.org', 'example.org'],
    ['10.0.0.1', '10.0.0.1'],
    ['spiffe://10.0.0.1', '10.0.0.1'],
    [TD_255, TD_255],
  ])('parseTrustDomain(%s)', (input, name) => {
    expect(parseTrustDomain(input)).toBe(name);
    expect(trustDomainId(input)).toBe(`spiffe://${name}`);
  });

  it.each<[string, SpiffeIdErrorReason, RegExp]>([
    ['', 'missing-trust-domain', /trust domain is missing/],
    ['Example.org', 'bad-trust-domain-char', /^invalid trust domain "Example.org": .*found "E" at position 0 \(trust domains must be lowercase\)/],
    ['example.org:443', 'bad-trust-domain-char', /a port is not allowed/],
    ['[::1]', 'bad-trust-domain-char', /IPv6/],
    ['fe80::1', 'bad-trust-domain-char', /found ":"/],
    ['example.org/web', 'bad-trust-domain-char', /found "\/"/],
    ['spiffe://example.org/web', 'not-a-trust-domain-id', /a trust domain ID has no path \(got "\/web"\); use "spiffe:\/\/example.org"/],
    ['spiffe:/example.org', 'wrong-scheme', /scheme is missing or invalid/],
    ['https://example.org', 'wrong-scheme', /got "https:\/\/"/],
    ['SPIFFE://example.org', 'wrong-scheme', /lowercase/],
    [`${TD_255}a`, 'trust-domain-too-long', /256 bytes; the maximum is 255/],
  ])('parseTrustDomain(%j) fails', (input, reason, message) => {
    const err = failure(() => parseTrustDomain(input));
    expect(err.reason).toBe(reason);
    expect(err.message).toMatch(message);
    expect(() => trustDomainId(input)).toThrow(SpiffeIdError);
  });

  it('isMemberOf compares trust domains, never throwing', () => {
    expect(isMemberOf('spiffe://example.org/web', 'example.org')).toBe(true);
    expect(isMemberOf('spiffe://example.org/web', 'spiffe://example.org')).toBe(true);
    expect(isMemberOf(parseSpiffeId('spiffe://example.org'), 'example.org')).toBe(true);
    expect(isMemberOf('spiffe://example.org/web', 'example.com')).toBe(false);
    expect(isMemberOf('spiffe://example.org.evil/web', 'example.org')).toBe(false);
    expect(isMemberOf('spiffe://sub.example.org/web', 'example.org')).toBe(false);
    expect(isMemberOf('spiffe://Example.org/web', 'example.org')).toBe(false);
    expect(isMemberOf('spiffe://example.org/web', 'Example.org')).toBe(false);
    expect(parseSpiffeId('spiffe://example.org/x').memberOf('example.org')).toBe(true);
  });
});

describe('building IDs', () => {
  it('from a path or segments', () => {
    expect(spiffeIdFromPath('example.org', '/ns/prod').toString()).toBe('spiffe://example.org/ns/prod');
    expect(spiffeIdFromPath('spiffe://example.org', '').toString()).toBe('spiffe://example.org');
    expect(spiffeIdFromSegments('example.org', 'ns', 'prod', 'sa', 'web').path).toBe('/ns/prod/sa/web');
    expect(spiffeIdFromSegments('example.org').toString()).toBe('spiffe://example.org');
    expect(joinPathSegments('a', 'B', 'c-d')).toBe('/a/B/c-d');
    expect(joinPathSegments()).toBe('');
    expect(new SpiffeId('example.org', '/x').equals('spiffe://example.org/x')).toBe(true);
    expect(new SpiffeId('example.org', '/x').equals(parseSpiffeId('spiffe://example.org/X'))).toBe(false);
  });

  it.each<[string, () => unknown, SpiffeIdErrorReason, RegExp]>([
    ['path without leading slash', () => spiffeIdFromPath('example.org', 'web'), 'no-leading-slash', /^invalid path "web": path must have a leading slash/],
    ['path with empty segment', () => validatePath('/a//b'), 'empty-segment', /empty segments/],
    ['path with trailing slash', () => validatePath('/a/'), 'trailing-slash', /trailing slash/],
    ['path with dot segment', () => validatePath('/a/..'), 'dot-segment', /dot segments/],
    ['path with query', () => validatePath('/a?b'), 'bad-path-char', /a query is not allowed/],
    ['empty segment', () => validatePathSegment(''), 'empty-segment', /^invalid path segment "": path cannot contain empty segments/],
    ['dot segment', () => spiffeIdFromSegments('example.org', 'a', '..'), 'dot-segment', /dot segments/],
    ['slash in segment', () => joinPathSegments('a/b'), 'bad-path-char', /found "\/" at position 1/],
    ['bad trust domain', () => spiffeIdFromSegments('Example.org', 'a'), 'bad-trust-domain-char', /lowercase/],
    ['constructor checks too', () => new SpiffeId('example.org:1', '/a'), 'bad-trust-domain-char', /port/],
    ['too long when built', () => spiffeIdFromSegments('example.org', 'x'.repeat(2030)), 'too-long', /SPIFFE ID is 2051 bytes/],
  ])('%s', (_name, fn, reason, message) => {
    const err = failure(fn);
    expect(err.reason).toBe(reason);
    expect(err.message).toMatch(message);
  });

  it('SpiffeId instances are frozen', () => {
    const id = parseSpiffeId('spiffe://example.org/web');
    expect(Object.isFrozen(id)).toBe(true);
  });
});

describe('SPIRE IDs', () => {
  it('agentId puts the attestor and its suffix under /spire/agent', () => {
    expect(agentId('example.org', 'join_token', '2f1c3d').toString()).toBe('spiffe://example.org/spire/agent/join_token/2f1c3d');
    expect(agentId('spiffe://example.org', 'k8s_psat', 'prod/node-1').path).toBe('/spire/agent/k8s_psat/prod/node-1');
    expect(agentId('example.org', 'aws_iid', '/123/us-east-1/i-0abc').path).toBe('/spire/agent/aws_iid/123/us-east-1/i-0abc');
    expect(agentId('example.org', 'x509pop', ['abc', 'def']).path).toBe('/spire/agent/x509pop/abc/def');
  });

  it.each<[string, () => unknown, RegExp]>([
    ['empty suffix', () => agentId('example.org', 'join_token', ''), /suffix cannot be empty/],
    ['empty suffix list', () => agentId('example.org', 'join_token', []), /suffix cannot be empty/],
    ['slash-only suffix', () => agentId('example.org', 'join_token', '/'), /suffix cannot be empty/],
    ['bad attestor', () => agentId('example.org', 'join/token', 'x'), /found "\/"/],
    ['bad suffix', () => agentId('example.org', 'join_token', 'a//b'), /empty segments/],
    ['bad suffix segment', () => agentId('example.org', 'join_token', ['a', '..']), /dot segments/],
    ['bad trust domain', () => agentId('EXAMPLE.org', 'join_token', 'x'), /lowercase/],
    ['server in bad trust domain', () => serverId(''), /trust domain is missing/],
  ])('%s', (_name, fn, message) => {
    expect(failure(fn).message).toMatch(message);
  });

  it('serverId, isServerId, isAgentId', () => {
    expect(serverId('example.org').toString()).toBe('spiffe://example.org/spire/server');
    expect(isServerId('spiffe://example.org/spire/server')).toBe(true);
    expect(isServerId('spiffe://example.org/spire/server', 'example.org')).toBe(true);
    expect(isServerId('spiffe://example.org/spire/server', 'other.org')).toBe(false);
    expect(isServerId('spiffe://example.org/spire/server/x')).toBe(false);
    expect(isServerId('not an id')).toBe(false);
    expect(isAgentId('spiffe://example.org/spire/agent/join_token/abc', 'example.org')).toBe(true);
    expect(isAgentId(agentId('example.org', 'x509pop', 'f'), 'other.org')).toBe(false);
    expect(isAgentId('spiffe://example.org/spire/agentx/a')).toBe(false);
    expect(isAgentId('spiffe://example.org/spire/agent/')).toBe(false);
  });

  it('reserved paths are /spire and everything below', () => {
    expect(isReservedPath('/spire')).toBe(true);
    expect(isReservedPath('/spire/server')).toBe(true);
    expect(isReservedPath('/spire/agent/join_token/x')).toBe(true);
    expect(isReservedPath('/spirefoo')).toBe(false);
    expect(isReservedPath('/web/spire')).toBe(false);
    expect(isReservedPath('')).toBe(false);
    expect(isAgentPath('/spire/agent/join_token/x')).toBe(true);
    expect(isAgentPath('/spire/agent/join_token/x', 'join_token')).toBe(true);
    expect(isAgentPath('/spire/agent/join_token/x', 'join')).toBe(false);
    expect(isAgentPath('/spire/server')).toBe(false);
  });
});

describe('errors', () => {
  it('instanceof works across module copies through the Symbol.for marker', () => {
    const foreign = Object.assign(new Error('x'), { [Symbol.for('@spire-ts/spiffe/SpiffeIdError')]: true });
    expect(foreign instanceof SpiffeIdError).toBe(true);
    expect(new Error('x') instanceof SpiffeIdError).toBe(false);
  });
});
