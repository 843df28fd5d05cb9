/**
 * SPIFFE IDs and trust domains, parsed and validated per the SPIFFE ID
 * specification: `spiffe://<trust domain>[/<path>]`, where the trust domain
 * holds only lowercase letters, digits, `.`, `-` and `_`, and each path
 * segment only letters, digits, `.`, `-` and `_`, is not empty and is not `.`
 * or `..`. No percent-encoding, query, fragment, port or userinfo.
 */

/** Why a string is not a SPIFFE ID or trust domain name. */
export type SpiffeIdErrorReason =
  | 'empty'
  | 'wrong-scheme'
  | 'missing-trust-domain'
  | 'bad-trust-domain-char'
  | 'bad-path-segment-char'
  | 'dot-segment'
  | 'empty-segment'
  | 'trailing-slash'
  | 'no-leading-slash';

const MESSAGES: Record<SpiffeIdErrorReason, string> = {
  empty: 'cannot be empty',
  'wrong-scheme': 'scheme is missing or invalid',
  'missing-trust-domain': 'trust domain is missing',
  'bad-trust-domain-char': 'trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores',
  'bad-path-segment-char': 'path segment characters are limited to letters, numbers, dots, dashes, and underscores',
  'dot-segment': 'path cannot contain dot segments',
  'empty-segment': 'path cannot contain empty segments',
  'trailing-slash': 'path cannot have a trailing slash',
  'no-leading-slash': 'path must have a leading slash',
};

/** A string that is not a valid SPIFFE ID, trust domain or path; `reason` says which rule it broke. */
export class SpiffeIdError extends Error {
  override readonly name = 'SpiffeIdError';
  constructor(
    readonly reason: SpiffeIdErrorReason,
    readonly input: string,
  ) {
    super(MESSAGES[reason]);
  }
}

const SCHEME = 'spiffe://';

function isTdChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d || c === 0x5f;
}

function isPathChar(c: number): boolean {
  return isTdChar(c) || (c >= 0x41 && c <= 0x5a);
}

function checkTrustDomainName(name: string, input: string): void {
  if (name.length === 0) throw new SpiffeIdError('missing-trust-domain', input);
  for (let i = 0; i < name.length; i++) if (!isTdChar(name.charCodeAt(i))) throw new SpiffeIdError('bad-trust-domain-char', input);
}

function checkPath(path: string, input: string): void {
  if (path === '') return;
  if (path[0] !== '/') throw new SpiffeIdError('no-leading-slash', input);
  let segStart = 1;
  for (let i = 1; i <= path.length; i++) {
    if (i < path.length && path[i] !== '/') {
      if (!isPathChar(path.charCodeAt(i))) throw new SpiffeIdError('bad-path-segment-char', input);
      continue;
    }
    const seg = path.slice(segStart, i);
    if (seg === '') throw new SpiffeIdError(i === path.length ? 'trailing-slash' : 'empty-segment', input);
    if (seg === '.' || seg === '..') throw new SpiffeIdError('dot-segment', input);
    segStart = i + 1;
  }
}

/** Checks one path segment (no slashes); throws a {@link SpiffeIdError} if invalid. */
export function validatePathSegment(segment: string): void {
  if (segment === '') throw new SpiffeIdError('empty-segment', segment);
  if (segment === '.' || segment === '..') throw new SpiffeIdError('dot-segment', segment);
  for (let i = 0; i < segment.length; i++) if (!isPathChar(segment.charCodeAt(i))) throw new SpiffeIdError('bad-path-segment-char', segment);
}

/** Checks a SPIFFE ID path (`""` or `/seg[/seg...]`); throws a {@link SpiffeIdError} if invalid. */
export function validatePath(path: string): void {
  checkPath(path, path);
}

/**
 * A trust domain: the authority of a SPIFFE ID.
 *
 * @example
 * ```ts
 * const td = TrustDomain.parse('example.org'); // or 'spiffe://example.org/anything'
 * td.idString(); // 'spiffe://example.org'
 * ```
 */
export class TrustDomain {
  private constructor(readonly name: string) {}

  /** Parses a trust domain name (`example.org`) or takes the trust domain of a SPIFFE ID (`spiffe://example.org/x`). */
  static parse(nameOrId: string): TrustDomain {
    if (nameOrId === '') throw new SpiffeIdError('missing-trust-domain', nameOrId);
    if (nameOrId.includes(':/')) return SpiffeId.parse(nameOrId).trustDomain;
    checkTrustDomainName(nameOrId, nameOrId);
    return new TrustDomain(nameOrId);
  }

  /** @internal */
  static fromValidated(name: string): TrustDomain {
    return new TrustDomain(name);
  }

  /** The SPIFFE ID of the trust domain itself, `spiffe://<name>`. */
  idString(): string {
    return SCHEME + this.name;
  }

  /** The trust domain's SPIFFE ID (empty path). */
  id(): SpiffeId {
    return SpiffeId.fromPath(this, '');
  }

  equals(other: TrustDomain | string): boolean {
    return this.name === (typeof other === 'string' ? other : other.name);
  }

  toString(): string {
    return this.name;
  }

  toJSON(): string {
    return this.name;
  }
}

/**
 * A SPIFFE ID: `spiffe://<trust domain><path>`.
 *
 * @example
 * ```ts
 * const id = SpiffeId.parse('spiffe://example.org/ns/prod/sa/api');
 * id.trustDomain.name; // 'example.org'
 * id.path;             // '/ns/prod/sa/api'
 * id.memberOf(TrustDomain.parse('example.org')); // true
 * SpiffeId.parse('spiffe://example.org/a/');  // throws SpiffeIdError 'path cannot have a trailing slash'
 * ```
 */
export class SpiffeId {
  private constructor(
    readonly trustDomain: TrustDomain,
    readonly path: string,
  ) {}

  /** Parses a SPIFFE ID; throws a {@link SpiffeIdError} naming the broken rule. */
  static parse(input: string): SpiffeId {
    if (input === '') throw new SpiffeIdError('empty', input);
    if (!input.startsWith(SCHEME)) throw new SpiffeIdError('wrong-scheme', input);
    const rest = input.slice(SCHEME.length);
    const slash = rest.indexOf('/');
    const name = slash < 0 ? rest : rest.slice(0, slash);
    const path = slash < 0 ? '' : rest.slice(slash);
    checkTrustDomainName(name, input);
    checkPath(path, input);
    return new SpiffeId(TrustDomain.fromValidated(name), path);
  }

  /** Like {@link SpiffeId.parse} but returns `undefined` instead of throwing. */
  static tryParse(input: string): SpiffeId | undefined {
    try {
      return SpiffeId.parse(input);
    } catch {
      return undefined;
    }
  }

  /** A SPIFFE ID from a trust domain and a path (`""` or `/a/b`). */
  static fromPath(td: TrustDomain | string, path: string): SpiffeId {
    const t = typeof td === 'string' ? TrustDomain.parse(td) : td;
    checkPath(path, path);
    return new SpiffeId(t, path);
  }

  /** A SPIFFE ID from a trust domain and path segments (each validated, no slashes). */
  static fromSegments(td: TrustDomain | string, ...segments: string[]): SpiffeId {
    const t = typeof td === 'string' ? TrustDomain.parse(td) : td;
    for (const s of segments) validatePathSegment(s);
    return new SpiffeId(t, segments.map((s) => `/${s}`).join(''));
  }

  /** True if the ID belongs to trust domain `td`. */
  memberOf(td: TrustDomain | string): boolean {
    return this.trustDomain.equals(td);
  }

  /** The path segments (`[]` for a trust domain ID). */
  segments(): string[] {
    return this.path === '' ? [] : this.path.slice(1).split('/');
  }

  /** A copy with another path. */
  replacePath(path: string): SpiffeId {
    return SpiffeId.fromPath(this.trustDomain, path);
  }

  equals(other: SpiffeId | string): boolean {
    return this.toString() === (typeof other === 'string' ? other : other.toString());
  }

  toString(): string {
    return SCHEME + this.trustDomain.name + this.path;
  }

  toJSON(): string {
    return this.toString();
  }
}
