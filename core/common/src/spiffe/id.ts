/**
 * SPIFFE IDs and trust domain names (spiffe/spiffe standards/SPIFFE-ID.md),
 * with the checks of go-spiffe's `spiffeid` package (read at go-spiffe
 * e9973f63) plus the spec's length limits, and messages that name the
 * offending character and where it is.
 */
import { SpiffeIdError, type SpiffeIdErrorReason } from './errors.js';

const SCHEME = 'spiffe://';

/** Longest SPIFFE ID, in bytes, the spec requires implementations to accept. */
export const MAX_SPIFFE_ID_BYTES = 2048;
/** Longest trust domain name, in bytes (the URI host limit). */
export const MAX_TRUST_DOMAIN_BYTES = 255;

const TD_CHARS = 'trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores';
const PATH_CHARS = 'path segment characters are limited to letters, numbers, dots, dashes, and underscores';

function show(s: string): string {
  return JSON.stringify(s.length > 96 ? `${s.slice(0, 96)}…` : s);
}

function fail(label: string, input: string, reason: SpiffeIdErrorReason, detail: string): never {
  throw new SpiffeIdError(reason, `${label} ${show(input)}: ${detail}`, input, detail);
}

function isTrustDomainChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f;
}

function isPathChar(c: number): boolean {
  return isTrustDomainChar(c) || (c >= 0x41 && c <= 0x5a);
}

/** Says which character broke the rule, where, and the URI part it implies. */
function badChar(s: string, index: number, offset: number, inTrustDomain: boolean): string {
  const ch = s[index] ?? '';
  const c = ch.charCodeAt(0);
  let hint = '';
  if (inTrustDomain && c >= 0x41 && c <= 0x5a) hint = 'trust domains must be lowercase';
  else if (inTrustDomain && (ch === '@' || (ch === ':' && s.includes('@', index)))) hint = 'userinfo is not allowed';
  else if (inTrustDomain && ch === ':') hint = 'a port is not allowed';
  else if (inTrustDomain && ch === '[') hint = 'IPv6 addresses are not allowed';
  else if (ch === '%') hint = 'percent-encoding is not allowed';
  else if (ch === '?') hint = 'a query is not allowed';
  else if (ch === '#') hint = 'a fragment is not allowed';
  else if (c > 0x7f) hint = 'only ASCII characters are allowed';
  return `${inTrustDomain ? TD_CHARS : PATH_CHARS}; found ${JSON.stringify(ch)} at position ${offset + index}${hint ? ` (${hint})` : ''}`;
}

function checkTrustDomain(td: string, label: string, input: string, offset: number): void {
  if (td === '') fail(label, input, 'missing-trust-domain', 'trust domain is missing');
  for (let i = 0; i < td.length; i++) {
    if (!isTrustDomainChar(td.charCodeAt(i))) fail(label, input, 'bad-trust-domain-char', badChar(td, i, offset, true));
  }
  if (td.length > MAX_TRUST_DOMAIN_BYTES) {
    fail(label, input, 'trust-domain-too-long', `trust domain is ${td.length} bytes; the maximum is ${MAX_TRUST_DOMAIN_BYTES}`);
  }
}

function checkPath(path: string, label: string, input: string, offset: number): void {
  if (path === '') return;
  if (path[0] !== '/') fail(label, input, 'no-leading-slash', 'path must have a leading slash');
  let start = 0;
  for (let i = 1; i <= path.length; i++) {
    if (i < path.length && path[i] !== '/') {
      if (!isPathChar(path.charCodeAt(i))) fail(label, input, 'bad-path-char', badChar(path, i, offset, false));
      continue;
    }
    const segment = path.slice(start + 1, i);
    if (segment === '.' || segment === '..') {
      fail(label, input, 'dot-segment', `path cannot contain dot segments; found ${JSON.stringify(segment)} at position ${offset + start + 1}`);
    }
    if (segment === '') {
      if (i === path.length) fail(label, input, 'trailing-slash', 'path cannot have a trailing slash');
      fail(label, input, 'empty-segment', `path cannot contain empty segments; found "//" at position ${offset + start}`);
    }
    start = i;
  }
}

function checkLength(id: string, label: string, input: string): void {
  const bytes = Buffer.byteLength(id, 'utf8');
  if (bytes > MAX_SPIFFE_ID_BYTES) {
    fail(label, input, 'too-long', `SPIFFE ID is ${bytes} bytes; the maximum is ${MAX_SPIFFE_ID_BYTES}`);
  }
}

/**
 * A parsed, valid SPIFFE ID. Construct with {@link parseSpiffeId},
 * {@link spiffeIdFromPath} or {@link spiffeIdFromSegments}; the constructor
 * validates too. Immutable; `toString()` and `toJSON()` give the URI.
 *
 * @example
 * ```ts
 * const id = parseSpiffeId('spiffe://example.org/ns/prod/sa/web');
 * id.trustDomain; // 'example.org'
 * id.path;        // '/ns/prod/sa/web'
 * `${id}`;        // 'spiffe://example.org/ns/prod/sa/web'
 * ```
 */
export class SpiffeId {
  /** Trust domain name, without scheme (`example.org`). */
  readonly trustDomain: string;
  /** Path with its leading slash (`/web`), or `''` for a trust domain's own ID. */
  readonly path: string;

  /** @throws SpiffeIdError if the trust domain or path breaks the spec. */
  constructor(trustDomain: string, path = '') {
    const id = SCHEME + trustDomain + path;
    checkTrustDomain(trustDomain, 'invalid trust domain', trustDomain, 0);
    checkPath(path, 'invalid path', path, 0);
    checkLength(id, 'invalid SPIFFE ID', id);
    this.trustDomain = trustDomain;
    this.path = path;
    Object.freeze(this);
  }

  /** The URI form, `spiffe://<trust domain><path>`. */
  toString(): string {
    return SCHEME + this.trustDomain + this.path;
  }

  /** Serialises as the URI string. */
  toJSON(): string {
    return this.toString();
  }

  /** True if `other` (an ID or its string form) is the same ID. Case-sensitive, as the spec says. */
  equals(other: SpiffeId | string): boolean {
    return this.toString() === String(other);
  }

  /** True if this ID belongs to `trustDomain` (a name or `spiffe://` ID). */
  memberOf(trustDomain: string): boolean {
    return isMemberOf(this, trustDomain);
  }
}

/**
 * Parses a SPIFFE ID. The scheme must be the literal lowercase `spiffe://`
 * (as go-spiffe requires); the trust domain is lowercase `[a-z0-9._-]` with no
 * port or userinfo (IPv4 dotted quads pass, IPv6 literals do not); path
 * segments are `[A-Za-z0-9._-]` with no empty, `.` or `..` segments and no
 * trailing slash; no query, fragment or percent-encoding; at most 2048 bytes
 * in all and 255 for the trust domain.
 *
 * @throws SpiffeIdError saying which rule failed and at which position.
 * @example
 * ```ts
 * parseSpiffeId('spiffe://example.org/web').path; // '/web'
 * parseSpiffeId('spiffe://example.org:8080/web');
 * // SpiffeIdError: invalid SPIFFE ID "spiffe://example.org:8080/web": trust domain characters are
 * //   limited to lowercase letters, numbers, dots, dashes, and underscores; found ":" at position 20 (a port is not allowed)
 * ```
 */
export function parseSpiffeId(input: string): SpiffeId {
  const label = 'invalid SPIFFE ID';
  if (typeof input !== 'string') throw new TypeError(`SPIFFE ID must be a string, got ${typeof input}`);
  if (input === '') fail(label, input, 'empty', 'cannot be empty');
  if (!input.startsWith(SCHEME)) {
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/?\/?/.exec(input)?.[0];
    let detail = 'scheme is missing or invalid: a SPIFFE ID starts with "spiffe://"';
    if (scheme !== undefined && scheme.toLowerCase() === SCHEME) detail = `scheme is missing or invalid: the scheme must be lowercase "spiffe://", got ${JSON.stringify(scheme)}`;
    else if (scheme !== undefined) detail = `scheme is missing or invalid: want "spiffe://", got ${JSON.stringify(scheme)}`;
    fail(label, input, 'wrong-scheme', detail);
  }
  const slash = input.indexOf('/', SCHEME.length);
  const end = slash === -1 ? input.length : slash;
  const trustDomain = input.slice(SCHEME.length, end);
  checkTrustDomain(trustDomain, label, input, SCHEME.length);
  const path = input.slice(end);
  checkPath(path, label, input, end);
  checkLength(input, label, input);
  return new SpiffeId(trustDomain, path);
}

/**
 * True if `input` parses as a SPIFFE ID (see {@link parseSpiffeId}).
 *
 * @example
 * ```ts
 * isValidSpiffeId('spiffe://example.org/a'); // true
 * isValidSpiffeId('spiffe://example.org/a/'); // false
 * ```
 */
export function isValidSpiffeId(input: string): boolean {
  try {
    parseSpiffeId(input);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses a trust domain given as a bare name (`example.org`) or as its SPIFFE
 * ID (`spiffe://example.org`, the Workload API map key form), returning the
 * bare name. Like go-spiffe, anything containing `:/` is parsed as an ID;
 * unlike go-spiffe, an ID with a path is refused rather than truncated.
 *
 * @throws SpiffeIdError
 * @example
 * ```ts
 * parseTrustDomain('spiffe://example.org'); // 'example.org'
 * parseTrustDomain('example.org');          // 'example.org'
 * parseTrustDomain('Example.org');          // throws: trust domains must be lowercase
 * ```
 */
export function parseTrustDomain(input: string): string {
  if (typeof input !== 'string') throw new TypeError(`trust domain must be a string, got ${typeof input}`);
  if (input === '') fail('invalid trust domain', input, 'missing-trust-domain', 'trust domain is missing');
  if (input.includes(':/')) {
    const id = parseSpiffeId(input);
    if (id.path !== '') {
      fail('invalid trust domain', input, 'not-a-trust-domain-id', `a trust domain ID has no path (got ${JSON.stringify(id.path)}); use "spiffe://${id.trustDomain}"`);
    }
    return id.trustDomain;
  }
  checkTrustDomain(input, 'invalid trust domain', input, 0);
  return input;
}

/**
 * The SPIFFE ID of a trust domain, `spiffe://<name>`: the key form used by the
 * Workload API and SPIRE's Delegated Identity API bundle maps.
 *
 * @throws SpiffeIdError if `trustDomain` is not a valid name or trust domain ID.
 * @example
 * ```ts
 * trustDomainId('example.org'); // 'spiffe://example.org'
 * ```
 */
export function trustDomainId(trustDomain: string): string {
  return SCHEME + parseTrustDomain(trustDomain);
}

/**
 * True if `id` is a valid SPIFFE ID in `trustDomain` (a name or trust domain
 * ID). Invalid input of either kind gives `false`, never a throw.
 *
 * @example
 * ```ts
 * isMemberOf('spiffe://example.org/web', 'example.org');        // true
 * isMemberOf('spiffe://example.org/web', 'spiffe://other.org'); // false
 * ```
 */
export function isMemberOf(id: SpiffeId | string, trustDomain: string): boolean {
  try {
    const parsed = typeof id === 'string' ? parseSpiffeId(id) : id;
    return parsed.trustDomain === parseTrustDomain(trustDomain);
  } catch {
    return false;
  }
}

/**
 * Checks a SPIFFE ID path: empty, or `/`-led segments of `[A-Za-z0-9._-]`.
 *
 * @throws SpiffeIdError
 * @example
 * ```ts
 * validatePath('/ns/prod'); // ok
 * validatePath('/ns/../x'); // throws: path cannot contain dot segments
 * ```
 */
export function validatePath(path: string): void {
  checkPath(path, 'invalid path', path, 0);
}

/**
 * Checks one path segment (no slashes).
 *
 * @throws SpiffeIdError
 * @example
 * ```ts
 * validatePathSegment('web'); // ok
 * validatePathSegment('a/b'); // throws: "/" is not a segment character
 * ```
 */
export function validatePathSegment(segment: string): void {
  const label = 'invalid path segment';
  if (segment === '') fail(label, segment, 'empty-segment', 'path cannot contain empty segments');
  if (segment === '.' || segment === '..') fail(label, segment, 'dot-segment', 'path cannot contain dot segments');
  for (let i = 0; i < segment.length; i++) {
    if (!isPathChar(segment.charCodeAt(i))) fail(label, segment, 'bad-path-char', badChar(segment, i, 0, false));
  }
}

/**
 * Joins validated segments into a path (`['a', 'b']` → `/a/b`; none → `''`).
 *
 * @throws SpiffeIdError if a segment is invalid.
 * @example
 * ```ts
 * joinPathSegments('ns', 'prod'); // '/ns/prod'
 * ```
 */
export function joinPathSegments(...segments: string[]): string {
  for (const s of segments) validatePathSegment(s);
  return segments.map((s) => `/${s}`).join('');
}

/**
 * Builds a SPIFFE ID from a trust domain (name or ID) and an absolute path.
 *
 * @throws SpiffeIdError
 * @example
 * ```ts
 * spiffeIdFromPath('example.org', '/web').toString(); // 'spiffe://example.org/web'
 * ```
 */
export function spiffeIdFromPath(trustDomain: string, path: string): SpiffeId {
  return new SpiffeId(parseTrustDomain(trustDomain), path);
}

/**
 * Builds a SPIFFE ID from a trust domain (name or ID) and path segments.
 *
 * @throws SpiffeIdError
 * @example
 * ```ts
 * spiffeIdFromSegments('example.org', 'ns', 'prod', 'sa', 'web').path; // '/ns/prod/sa/web'
 * ```
 */
export function spiffeIdFromSegments(trustDomain: string, ...segments: string[]): SpiffeId {
  return new SpiffeId(parseTrustDomain(trustDomain), joinPathSegments(...segments));
}
