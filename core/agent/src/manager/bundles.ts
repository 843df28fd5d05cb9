/** Immutable copies of bundles, and change detection between them. */
import type { Bundle } from '@spire-ts/common';

const copy = (b: Uint8Array): Uint8Array => new Uint8Array(b);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** A frozen deep copy (later changes to `b` do not reach the cache, and consumers cannot change it). */
export function freezeBundle(b: Bundle): Bundle {
  return Object.freeze({
    trustDomain: b.trustDomain,
    x509Authorities: Object.freeze(b.x509Authorities.map(copy)) as Uint8Array[],
    jwtAuthorities: Object.freeze(
      b.jwtAuthorities.map((a) => Object.freeze({ keyId: a.keyId, publicKeyDer: copy(a.publicKeyDer), expiresAt: a.expiresAt })),
    ) as Bundle['jwtAuthorities'],
    refreshHint: b.refreshHint,
    sequenceNumber: b.sequenceNumber,
  });
}

/** Whether two bundles carry the same trust domain, authorities (in order), refresh hint and sequence number. */
export function bundlesEqual(a: Bundle, b: Bundle): boolean {
  if (a.trustDomain !== b.trustDomain || a.refreshHint !== b.refreshHint || a.sequenceNumber !== b.sequenceNumber) return false;
  if (a.x509Authorities.length !== b.x509Authorities.length || a.jwtAuthorities.length !== b.jwtAuthorities.length) return false;
  if (!a.x509Authorities.every((der, i) => sameBytes(der, b.x509Authorities[i] as Uint8Array))) return false;
  return a.jwtAuthorities.every((k, i) => {
    const o = b.jwtAuthorities[i];
    return o !== undefined && k.keyId === o.keyId && k.expiresAt === o.expiresAt && sameBytes(k.publicKeyDer, o.publicKeyDer);
  });
}
