/**
 * The SPIFFE ID rules an X.509-SVID must satisfy (SPIFFE-ID.md), as strict as
 * go-spiffe: literal lowercase `spiffe://`, lowercase trust domain, clean path.
 */

/** A SPIFFE ID split into its parts. */
export interface SpiffeIdParts {
  readonly id: string;
  readonly trustDomain: string;
  /** `''` for a trust domain ID, else `/seg/seg`. */
  readonly path: string;
}

const TD = /^[a-z0-9._-]+$/;
const SEGMENT = /^[a-zA-Z0-9._-]+$/;

/** Returns the parts of `uri`, or a sentence saying why it is not a SPIFFE ID. */
export function checkSpiffeId(uri: string): SpiffeIdParts | string {
  if (typeof uri !== 'string' || uri === '') return 'SPIFFE ID is empty';
  if (Buffer.byteLength(uri) > 2048) return 'SPIFFE ID is longer than 2048 bytes';
  if (!uri.startsWith('spiffe://')) {
    return /^spiffe:\/\//i.test(uri) ? 'scheme must be lowercase "spiffe"' : `scheme is not "spiffe" in ${JSON.stringify(uri)}`;
  }
  const rest = uri.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  if (trustDomain === '') return 'trust domain is missing';
  if (trustDomain.length > 255) return 'trust domain is longer than 255 bytes';
  if (!TD.test(trustDomain)) {
    return /[:@]/.test(trustDomain)
      ? 'trust domain must not contain a port or user info'
      : 'trust domain characters are limited to lowercase letters, numbers, dots, dashes and underscores';
  }
  if (path !== '') {
    const segments = path.slice(1).split('/');
    for (const seg of segments) {
      if (seg === '') return path.endsWith('/') ? 'path cannot have a trailing slash' : 'path cannot contain empty segments';
      if (seg === '.' || seg === '..') return 'path cannot contain dot segments';
      if (!SEGMENT.test(seg)) return 'path segment characters are limited to letters, numbers, dots, dashes and underscores';
    }
  }
  return { id: uri, trustDomain, path };
}

/** Accepts `example.org` or `spiffe://example.org`; returns the bare name or a reason. */
export function checkTrustDomain(td: string): string | { name: string } {
  const parts = checkSpiffeId(td.startsWith('spiffe://') ? td : `spiffe://${td}`);
  if (typeof parts === 'string') return parts;
  if (parts.path !== '') return `trust domain ${JSON.stringify(td)} must not have a path`;
  return { name: parts.trustDomain };
}
