import { describe, expect, it } from 'vitest';
import {
  checkCidr,
  checkHttpsUrl,
  checkKeyType,
  checkLogFormat,
  checkLogLevel,
  checkSpiffeId,
  checkTrustDomain,
  parseKeyType,
  parseLogFormat,
  parseLogLevel,
} from '@spire-ts/server';

describe('checkTrustDomain', () => {
  const cases: [string, string | undefined][] = [
    ['example.org', undefined],
    ['a-b_c.d9', undefined],
    ['x'.repeat(255), undefined],
    ['', 'trust domain must not be empty'],
    ['Example.org', 'invalid trust domain "Example.org": only lowercase letters, digits, ".", "-" and "_" are allowed (did you mean "example.org"?)'],
    ['exa mple.org', 'invalid trust domain "exa mple.org": only lowercase letters, digits, ".", "-" and "_" are allowed'],
    ['spiffe://example.org', 'must be a bare trust domain name like "example.org", not a SPIFFE ID or URL'],
    ['https://acme.test/x', 'must be a bare trust domain name like "acme.test", not a SPIFFE ID or URL'],
    ['example.org:8081', 'trust domain must not have a port (use "example.org")'],
    ['x'.repeat(256), 'trust domain is 256 characters long; SPIFFE allows at most 255'],
  ];
  it.each(cases)('%j', (input, expected) => expect(checkTrustDomain(input)).toBe(expected));
});

describe('checkSpiffeId', () => {
  const cases: [string, string | undefined][] = [
    ['spiffe://example.org', undefined],
    ['spiffe://example.org/ops/admin', undefined],
    ['spiffe://example.org/A.b-c_9', undefined],
    ['', 'invalid SPIFFE ID "": must not be empty'],
    ['example.org/admin', 'invalid SPIFFE ID "example.org/admin": must start with "spiffe://"'],
    ['spiffe:///admin', 'invalid SPIFFE ID "spiffe:///admin": the trust domain is missing'],
    ['spiffe://Example.org/admin', 'invalid SPIFFE ID "spiffe://Example.org/admin": the trust domain may only contain lowercase letters, digits, ".", "-" and "_"'],
    ['spiffe://example.org/admin/', 'invalid SPIFFE ID "spiffe://example.org/admin/": the path must not end with "/"'],
    ['spiffe://example.org//admin', 'invalid SPIFFE ID "spiffe://example.org//admin": the path must not contain empty segments ("//")'],
    ['spiffe://example.org/../admin', 'invalid SPIFFE ID "spiffe://example.org/../admin": the path must not contain "." or ".." segments'],
    ['spiffe://example.org/a%20b', 'invalid SPIFFE ID "spiffe://example.org/a%20b": path segments may only contain letters, digits, ".", "-" and "_"'],
  ];
  it.each(cases)('%j', (input, expected) => expect(checkSpiffeId(input)).toBe(expected));
});

describe('log level, log format and key types (case-insensitive, as SPIRE)', () => {
  const levels: [string, string | undefined][] = [
    ['DEBUG', 'debug'],
    ['info', 'info'],
    ['Warn', 'warn'],
    ['warning', 'warn'],
    ['ERROR', 'error'],
    ['trace', 'trace'],
    ['fatal', 'error'],
    ['verbose', undefined],
    ['', undefined],
  ];
  it.each(levels)('log level %j', (input, expected) => expect(parseLogLevel(input)).toBe(expected));
  it('explains a bad level', () => {
    expect(checkLogLevel('VERBOSE')).toBe('invalid log level "VERBOSE" (expected DEBUG, INFO, WARN or ERROR, in any case)');
    expect(checkLogLevel('Debug')).toBeUndefined();
  });

  const formats: [string, string | undefined][] = [
    ['text', 'text'],
    ['TEXT', 'text'],
    ['', 'text'],
    ['json', 'json'],
    ['Json', 'json'],
    ['yaml', undefined],
  ];
  it.each(formats)('log format %j', (input, expected) => expect(parseLogFormat(input)).toBe(expected));
  it('explains a bad format', () => expect(checkLogFormat('yaml')).toBe('invalid log format "yaml" (expected "text" or "json")'));

  const keyTypes: [string, string | undefined][] = [
    ['ec-p256', 'ec-p256'],
    ['EC-P384', 'ec-p384'],
    ['rsa-2048', 'rsa-2048'],
    ['RSA-4096', 'rsa-4096'],
    ['ec-p521', undefined],
    ['rsa-1024', undefined],
  ];
  it.each(keyTypes)('key type %j', (input, expected) => expect(parseKeyType(input)).toBe(expected));
  it('explains a bad key type', () =>
    expect(checkKeyType('ec-p521')).toBe('unknown key type "ec-p521" (expected one of ec-p256, ec-p384, rsa-2048, rsa-4096)'));
});

describe('checkCidr and checkHttpsUrl', () => {
  const cidrs: [string, boolean][] = [
    ['10.0.0.0/8', true],
    ['192.168.1.7/32', true],
    ['0.0.0.0/0', true],
    ['fd00::/8', true],
    ['::1/128', true],
    ['10.0.0.0', false],
    ['10.0.0.0/33', false],
    ['fd00::/129', false],
    ['300.0.0.0/8', false],
    ['example.org/8', false],
    ['10.0.0.0/x', false],
  ];
  it.each(cidrs)('CIDR %j valid: %s', (input, ok) => expect(checkCidr(input) === undefined).toBe(ok));
  it('explains a bad CIDR', () =>
    expect(checkCidr('10.0.0.0')).toBe('invalid CIDR "10.0.0.0" (expected an address and a prefix length, like "10.0.0.0/8")'));

  const urls: [string, string | undefined][] = [
    ['https://example.org/bundle', undefined],
    ['HTTPS://example.org:8443', undefined],
    ['http://example.org/bundle', 'must use https:// (got "http://example.org/bundle")'],
    ['', 'must not be empty'],
    ['https://', 'invalid URL "https://"'],
  ];
  it.each(urls)('URL %j', (input, expected) => expect(checkHttpsUrl(input)).toBe(expected));
});
