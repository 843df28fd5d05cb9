/**
 * `spire.api.types.Bundle` ⇄ core bundles (SPIRE's api/bundle.go): X.509
 * authorities must be DER certificates, JWT authorities DER
 * SubjectPublicKeyInfo with a key id; bundle masks.
 */
import { createPublicKey } from 'node:crypto';
import { parseCertificate, type Bundle, type JwtAuthority } from '@spire-ts/common';
import type { apiTypes } from '@spire-ts/proto';
import { errorMessage, trustDomainFromString } from './common.js';

export type ProtoBundle = apiTypes.Bundle__Output;
type BundleInput = apiTypes.Bundle__Output | apiTypes.Bundle;
type MaskInput = apiTypes.BundleMask__Output | apiTypes.BundleMask | null | undefined;
type X509Input = apiTypes.X509Certificate__Output | apiTypes.X509Certificate;
type JwtKeyInput = apiTypes.JWTKey__Output | apiTypes.JWTKey;

function bytes(v: Buffer | Uint8Array | string | null | undefined): Uint8Array {
  if (v === null || v === undefined) return new Uint8Array();
  if (typeof v === 'string') return new Uint8Array(Buffer.from(v, 'base64'));
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

export function jwtKeysToProto(keys: readonly JwtAuthority[]): apiTypes.JWTKey__Output[] {
  return keys.map((k) => ({ public_key: Buffer.from(k.publicKeyDer), key_id: k.keyId, expires_at: k.expiresAt, tainted: false }));
}

/** The proto form of a core bundle. */
export function bundleToProto(b: Bundle): ProtoBundle {
  return {
    trust_domain: trustDomainFromString(b.trustDomain),
    x509_authorities: b.x509Authorities.map((der) => ({ asn1: Buffer.from(der), tainted: false })),
    jwt_authorities: jwtKeysToProto(b.jwtAuthorities),
    refresh_hint: b.refreshHint,
    sequence_number: b.sequenceNumber,
    wit_authorities: [],
  };
}

/** `b` with the fields `mask` leaves out zeroed (trust_domain always stays); no mask keeps all. */
export function applyBundleMask(b: ProtoBundle, mask: MaskInput): ProtoBundle {
  if (!mask) return b;
  return {
    trust_domain: b.trust_domain,
    x509_authorities: mask.x509_authorities ? b.x509_authorities : [],
    jwt_authorities: mask.jwt_authorities ? b.jwt_authorities : [],
    refresh_hint: mask.refresh_hint ? b.refresh_hint : 0,
    sequence_number: mask.sequence_number ? b.sequence_number : 0,
    wit_authorities: mask.wit_authorities ? b.wit_authorities : [],
  };
}

/** DER certificates from proto X.509 authorities; throws unless each is exactly one well-formed certificate. */
export function parseX509Authorities(list: readonly X509Input[] | null | undefined): Uint8Array[] {
  return (list ?? []).map((c, i) => {
    const der = bytes(c.asn1);
    if (der.length === 0) throw new Error(`X.509 authority ${i}: empty certificate`);
    try {
      parseCertificate(der);
    } catch (err) {
      throw new Error(`X.509 authority ${i}: ${errorMessage(err)}`, { cause: err });
    }
    return der;
  });
}

/** Core JWT authorities from proto keys; throws unless each has a key id and a parsable public key. */
export function parseJwtAuthorities(list: readonly JwtKeyInput[] | null | undefined): JwtAuthority[] {
  return (list ?? []).map((k) => {
    const der = bytes(k.public_key);
    try {
      createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
    } catch (err) {
      throw new Error(`failed to parse public key: ${errorMessage(err)}`, { cause: err });
    }
    const keyId = k.key_id ?? '';
    if (keyId === '') throw new Error('missing key ID');
    const expiresAt = Number(k.expires_at ?? 0);
    if (!Number.isSafeInteger(expiresAt) || expiresAt < 0) throw new Error(`key ${JSON.stringify(keyId)}: invalid expires_at`);
    return { keyId, publicKeyDer: der, expiresAt };
  });
}

/** A core bundle from a proto one (SPIRE's ProtoToBundle); throws an Error naming the problem. */
export function bundleFromProto(b: BundleInput | null | undefined): Bundle {
  if (!b) throw new Error('no bundle provided');
  let trustDomain: string;
  try {
    trustDomain = trustDomainFromString(b.trust_domain ?? '');
  } catch (err) {
    throw new Error(`invalid trust domain: ${errorMessage(err)}`, { cause: err });
  }
  let x509Authorities: Uint8Array[];
  try {
    x509Authorities = parseX509Authorities(b.x509_authorities);
  } catch (err) {
    throw new Error(`unable to parse X.509 authority: ${errorMessage(err)}`, { cause: err });
  }
  let jwtAuthorities: JwtAuthority[];
  try {
    jwtAuthorities = parseJwtAuthorities(b.jwt_authorities);
  } catch (err) {
    throw new Error(`unable to parse JWT authority: ${errorMessage(err)}`, { cause: err });
  }
  const refreshHint = Number(b.refresh_hint ?? 0);
  const sequenceNumber = Number(b.sequence_number ?? 0);
  if (!Number.isSafeInteger(refreshHint) || refreshHint < 0) throw new Error('invalid refresh hint');
  if (!Number.isSafeInteger(sequenceNumber) || sequenceNumber < 0) throw new Error('invalid sequence number');
  return { trustDomain, x509Authorities, jwtAuthorities, refreshHint, sequenceNumber };
}

/** `current` with the fields of `update` that `mask` selects (all when absent): SPIRE's masked UpdateBundle. */
export function mergeBundle(current: Bundle, update: Bundle, mask: MaskInput): Bundle {
  if (!mask) return { ...update, trustDomain: current.trustDomain };
  return {
    trustDomain: current.trustDomain,
    x509Authorities: mask.x509_authorities ? update.x509Authorities : current.x509Authorities,
    jwtAuthorities: mask.jwt_authorities ? update.jwtAuthorities : current.jwtAuthorities,
    refreshHint: mask.refresh_hint ? update.refreshHint : current.refreshHint,
    sequenceNumber: mask.sequence_number ? update.sequenceNumber : current.sequenceNumber,
  };
}
