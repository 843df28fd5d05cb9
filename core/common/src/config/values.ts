/**
 * Checks of single configuration values, shared by the file schema and the
 * command-line flags so that a value is judged the same way wherever it comes
 * from. Each check returns an error message, or `undefined` when the value is
 * fine.
 *
 * @module
 */

import { isIPv4, isIPv6 } from 'node:net';
import type { LogFormat, LogLevel } from '../log/logger.js';
import { SpiffeIdError } from '../spiffe/errors.js';
import type { SpiffeIdErrorReason } from '../spiffe/errors.js';
import { MAX_TRUST_DOMAIN_BYTES, parseSpiffeId, parseTrustDomain } from '../spiffe/id.js';

/** SPIFFE's limit on a trust domain name (SPIRE only warns beyond it; we refuse). */
export const MAX_TRUST_DOMAIN_LENGTH = MAX_TRUST_DOMAIN_BYTES;

/** The reason a parser of spiffe/id.ts gave, or `undefined` if it accepted the input. */
function refusal(parse: () => unknown): SpiffeIdError | undefined {
  try {
    parse();
    return undefined;
  } catch (err) {
    if (err instanceof SpiffeIdError) return err;
    throw err;
  }
}

/**
 * Checks a trust domain name with {@link parseTrustDomain}'s rules, worded
 * for a configuration value: lowercase letters, digits, `.`, `-` and `_`,
 * at most 255 characters, and a bare name (no scheme, port or path).
 *
 * @example
 * ```ts
 * checkTrustDomain('example.org');          // undefined
 * checkTrustDomain('spiffe://example.org'); // 'must be a bare trust domain name like "example.org", not a SPIFFE ID or URL'
 * ```
 */
export function checkTrustDomain(name: string): string | undefined {
  if (name === '') return 'trust domain must not be empty';
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/?([^/]*)/.exec(name);
  if (scheme) {
    const host = scheme[2] ?? '';
    const hint = host && refusal(() => parseTrustDomain(host)) === undefined ? `"${host}"` : '"example.org"';
    return `must be a bare trust domain name like ${hint}, not a SPIFFE ID or URL`;
  }
  const port = /^([^:]*):(\d*)$/.exec(name);
  if (port) return `trust domain must not have a port (use "${port[1]}")`;
  const err = refusal(() => parseTrustDomain(name));
  if (!err) return undefined;
  if (err.reason === 'trust-domain-too-long') {
    return `trust domain is ${name.length} characters long; SPIFFE allows at most ${MAX_TRUST_DOMAIN_LENGTH}`;
  }
  const lower = name.toLowerCase();
  const hint = lower !== name && refusal(() => parseTrustDomain(lower)) === undefined ? ` (did you mean "${lower}"?)` : '';
  return `invalid trust domain ${JSON.stringify(name)}: only lowercase letters, digits, ".", "-" and "_" are allowed${hint}`;
}

const SPIFFE_ID_WORDS: Partial<Readonly<Record<SpiffeIdErrorReason, string>>> = {
  empty: 'must not be empty',
  'wrong-scheme': 'must start with "spiffe://"',
  'missing-trust-domain': 'the trust domain is missing',
  'bad-trust-domain-char': 'the trust domain may only contain lowercase letters, digits, ".", "-" and "_"',
  'trailing-slash': 'the path must not end with "/"',
  'empty-segment': 'the path must not contain empty segments ("//")',
  'dot-segment': 'the path must not contain "." or ".." segments',
  'bad-path-char': 'path segments may only contain letters, digits, ".", "-" and "_"',
};

/**
 * Checks a SPIFFE ID with {@link parseSpiffeId}'s rules, worded for a
 * configuration value: `spiffe://<trust domain>[/<path>]`, a trust domain of
 * lowercase letters, digits, `.`, `-` and `_`, then a path of non-empty
 * segments of letters, digits, `.`, `-` and `_`, no `.` or `..` segments and
 * no trailing slash.
 *
 * @example
 * ```ts
 * checkSpiffeId('spiffe://example.org/admin'); // undefined
 * checkSpiffeId('example.org/admin');          // 'invalid SPIFFE ID "example.org/admin": must start with "spiffe://"'
 * ```
 */
export function checkSpiffeId(id: string): string | undefined {
  const err = refusal(() => parseSpiffeId(id));
  if (!err) return undefined;
  const words = SPIFFE_ID_WORDS[err.reason];
  return words ? `invalid SPIFFE ID ${JSON.stringify(id)}: ${words}` : err.message;
}

/** The levels SPIRE accepts (logrus names, any case) and what they mean here. */
const LOG_LEVELS: ReadonlyMap<string, LogLevel> = new Map([
  ['trace', 'trace'],
  ['debug', 'debug'],
  ['info', 'info'],
  ['warn', 'warn'],
  ['warning', 'warn'],
  ['error', 'error'],
  ['fatal', 'error'],
  ['panic', 'error'],
]);

/**
 * The logger level for a SPIRE `log_level` (`DEBUG`, `info`, `Warn`...), or
 * `undefined` if it is not one.
 *
 * @example
 * ```ts
 * parseLogLevel('DEBUG'); // 'debug'
 * parseLogLevel('loud');  // undefined
 * ```
 */
export function parseLogLevel(value: string): LogLevel | undefined {
  return LOG_LEVELS.get(value.toLowerCase());
}

/** {@link parseLogLevel} as a check. */
export function checkLogLevel(value: string): string | undefined {
  return parseLogLevel(value) ? undefined : `invalid log level ${JSON.stringify(value)} (expected DEBUG, INFO, WARN or ERROR, in any case)`;
}

/**
 * The log format for a SPIRE `log_format` (`text` or `json`, any case; empty
 * means text).
 *
 * @example
 * ```ts
 * parseLogFormat('JSON'); // 'json'
 * ```
 */
export function parseLogFormat(value: string): LogFormat | undefined {
  const v = value.toLowerCase();
  return v === '' || v === 'text' ? 'text' : v === 'json' ? 'json' : undefined;
}

/** {@link parseLogFormat} as a check. */
export function checkLogFormat(value: string): string | undefined {
  return parseLogFormat(value) ? undefined : `invalid log format ${JSON.stringify(value)} (expected "text" or "json")`;
}

/** Key types of the server CA, JWT and WIT signing keys. */
export const KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-4096'] as const;

/** One of {@link KEY_TYPES}. */
export type KeyType = (typeof KEY_TYPES)[number];

/**
 * The key type for a SPIRE key type string (any case), or `undefined`.
 *
 * @example
 * ```ts
 * parseKeyType('EC-P384'); // 'ec-p384'
 * ```
 */
export function parseKeyType(value: string): KeyType | undefined {
  const v = value.toLowerCase();
  return (KEY_TYPES as readonly string[]).includes(v) ? (v as KeyType) : undefined;
}

/** {@link parseKeyType} as a check. */
export function checkKeyType(value: string): string | undefined {
  return parseKeyType(value) ? undefined : `unknown key type ${JSON.stringify(value)} (expected one of ${KEY_TYPES.join(', ')})`;
}

/**
 * Checks an IP network in CIDR notation (`10.0.0.0/8`, `fd00::/8`).
 *
 * @example
 * ```ts
 * checkCidr('10.0.0.0/8');  // undefined
 * checkCidr('10.0.0.0');    // 'invalid CIDR "10.0.0.0" (expected an address and a prefix length, like "10.0.0.0/8")'
 * ```
 */
export function checkCidr(value: string): string | undefined {
  const bad = `invalid CIDR ${JSON.stringify(value)} (expected an address and a prefix length, like "10.0.0.0/8")`;
  const slash = value.indexOf('/');
  if (slash < 0) return bad;
  const addr = value.slice(0, slash);
  const bits = value.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits)) return bad;
  const max = isIPv4(addr) ? 32 : isIPv6(addr) ? 128 : undefined;
  if (max === undefined || Number(bits) > max) return bad;
  return undefined;
}

/**
 * Checks an `https://` URL (a federation bundle endpoint).
 *
 * @example
 * ```ts
 * checkHttpsUrl('http://example.org/bundle'); // 'must use https:// (got "http://example.org/bundle")'
 * ```
 */
export function checkHttpsUrl(value: string): string | undefined {
  if (value === '') return 'must not be empty';
  if (!value.toLowerCase().startsWith('https://')) return `must use https:// (got ${JSON.stringify(value)})`;
  try {
    new URL(value);
  } catch {
    return `invalid URL ${JSON.stringify(value)}`;
  }
  return undefined;
}
