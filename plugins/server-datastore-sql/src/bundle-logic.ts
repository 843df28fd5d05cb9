/**
 * Pure bundle operations (validation, merge, prune, taint, revoke), as SPIRE's
 * bundleutil and datastore define them. Persistence is in bundles.ts.
 */
import { DataStoreError, failedPrecondition, invalidArgument, notFound } from './errors.js';
import { certificateFacts } from './der.js';
import type { Bundle, JwtAuthority, NewBundle, X509Authority } from './types.js';
import { checkBool, checkBytes, checkInt, checkString, LIMITS, normalizeTrustDomain } from './validation.js';

export function normalizeBundle(b: NewBundle, field = 'bundle'): Bundle {
  if (typeof b !== 'object' || b === null) throw invalidArgument(`${field}: is required`);
  const x509 = b.x509Authorities ?? [];
  const jwt = b.jwtAuthorities ?? [];
  if (!Array.isArray(x509) || !Array.isArray(jwt)) throw invalidArgument(`${field}: authorities must be lists`);
  const out: Bundle = {
    trustDomain: normalizeTrustDomain(b.trustDomain, `${field}.trustDomain`),
    x509Authorities: x509.map((a: X509Authority, i) => {
      const f = `${field}.x509Authorities[${i}]`;
      const asn1 = checkBytes(a?.asn1, `${f}.asn1`, LIMITS.blobBytes, { required: true });
      try {
        certificateFacts(asn1);
      } catch (err) {
        throw invalidArgument(`${f}: not a DER certificate (${(err as Error).message})`);
      }
      return { asn1: new Uint8Array(asn1), tainted: checkBool(a.tainted, `${f}.tainted`) };
    }),
    jwtAuthorities: jwt.map((k: JwtAuthority, i) => {
      const f = `${field}.jwtAuthorities[${i}]`;
      return {
        keyId: checkString(k?.keyId, `${f}.keyId`, LIMITS.shortStringBytes, { required: true }),
        publicKey: new Uint8Array(checkBytes(k.publicKey, `${f}.publicKey`, LIMITS.blobBytes, { required: true })),
        expiresAt: checkInt(k.expiresAt, `${f}.expiresAt`, 0, Number.MAX_SAFE_INTEGER),
        tainted: checkBool(k.tainted, `${f}.tainted`),
      };
    }),
    refreshHint: checkInt(b.refreshHint, `${field}.refreshHint`, 0, Number.MAX_SAFE_INTEGER),
    sequenceNumber: checkInt(b.sequenceNumber, `${field}.sequenceNumber`, 0, Number.MAX_SAFE_INTEGER),
  };
  const kids = new Set<string>();
  for (const k of out.jwtAuthorities) {
    if (kids.has(k.keyId)) throw invalidArgument(`${field}: duplicate JWT authority key ID ${JSON.stringify(k.keyId)}`);
    kids.add(k.keyId);
  }
  if (encodeBundleData(out).length > LIMITS.blobBytes) throw invalidArgument(`${field}: larger than ${LIMITS.blobBytes} bytes`);
  return out;
}

interface StoredData {
  x509: Array<{ der: string; tainted: boolean }>;
  jwt: Array<{ kid: string; key: string; exp: number; tainted: boolean }>;
}

export function encodeBundleData(b: Bundle): string {
  const data: StoredData = {
    x509: b.x509Authorities.map((a) => ({ der: Buffer.from(a.asn1).toString('base64'), tainted: a.tainted })),
    jwt: b.jwtAuthorities.map((k) => ({ kid: k.keyId, key: Buffer.from(k.publicKey).toString('base64'), exp: k.expiresAt, tainted: k.tainted })),
  };
  return JSON.stringify(data);
}

export function decodeBundleData(trustDomain: string, json: string, refreshHint: number, sequenceNumber: number): Bundle {
  const data = JSON.parse(json) as StoredData;
  return {
    trustDomain,
    x509Authorities: data.x509.map((a) => ({ asn1: new Uint8Array(Buffer.from(a.der, 'base64')), tainted: a.tainted })),
    jwtAuthorities: data.jwt.map((k) => ({ keyId: k.kid, publicKey: new Uint8Array(Buffer.from(k.key, 'base64')), expiresAt: k.exp, tainted: k.tainted })),
    refreshHint,
    sequenceNumber,
  };
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** Adds b's authorities that `a` lacks (X.509 by DER, JWT by key ID). */
export function mergeBundles(a: Bundle, b: Bundle): { bundle: Bundle; changed: boolean } {
  const x509 = [...a.x509Authorities];
  const jwt = [...a.jwtAuthorities];
  let changed = false;
  for (const cert of b.x509Authorities) {
    if (!x509.some((c) => sameBytes(c.asn1, cert.asn1))) {
      x509.push(cert);
      changed = true;
    }
  }
  for (const key of b.jwtAuthorities) {
    if (!jwt.some((k) => k.keyId === key.keyId)) {
      jwt.push(key);
      changed = true;
    }
  }
  return { bundle: { ...a, x509Authorities: x509, jwtAuthorities: jwt, sequenceNumber: a.sequenceNumber + (changed ? 1 : 0) }, changed };
}

function facts(a: X509Authority): ReturnType<typeof certificateFacts> {
  try {
    return certificateFacts(a.asn1);
  } catch (err) {
    throw new DataStoreError('INTERNAL', `stored X.509 authority cannot be parsed: ${(err as Error).message}`);
  }
}

/** Drops authorities that expire at or before `expiresBefore`; refuses to drop them all. */
export function pruneBundleAuthorities(b: Bundle, expiresBefore: number): { bundle: Bundle; changed: boolean } {
  const x509 = b.x509Authorities.filter((a) => facts(a).notAfter > expiresBefore);
  const jwt = b.jwtAuthorities.filter((k) => k.expiresAt === 0 || k.expiresAt > expiresBefore);
  if (x509.length === 0 && b.x509Authorities.length > 0) throw failedPrecondition('prune would remove all X.509 authorities of the bundle');
  if (jwt.length === 0 && b.jwtAuthorities.length > 0) throw failedPrecondition('prune would remove all JWT authorities of the bundle');
  const changed = x509.length !== b.x509Authorities.length || jwt.length !== b.jwtAuthorities.length;
  return { bundle: changed ? { ...b, x509Authorities: x509, jwtAuthorities: jwt, sequenceNumber: b.sequenceNumber + 1 } : b, changed };
}

export function taintX509(b: Bundle, subjectKeyId: string): Bundle {
  const ski = subjectKeyId.toLowerCase();
  let found = false;
  const x509 = b.x509Authorities.map((a) => {
    if (facts(a).subjectKeyId !== ski) return a;
    if (a.tainted) throw invalidArgument('root CA is already tainted');
    found = true;
    return { ...a, tainted: true };
  });
  if (!found) throw notFound('no X.509 authority found with the given subject key ID');
  return { ...b, x509Authorities: x509, sequenceNumber: b.sequenceNumber + 1 };
}

export function revokeX509(b: Bundle, subjectKeyId: string): Bundle {
  const ski = subjectKeyId.toLowerCase();
  const match = b.x509Authorities.filter((a) => facts(a).subjectKeyId === ski);
  if (match.length === 0) throw notFound('no X.509 authority found with the given subject key ID');
  if (match.some((a) => !a.tainted)) throw invalidArgument('an untainted X.509 authority cannot be revoked');
  return { ...b, x509Authorities: b.x509Authorities.filter((a) => !match.includes(a)), sequenceNumber: b.sequenceNumber + 1 };
}

export function taintJwt(b: Bundle, keyId: string): { bundle: Bundle; key: JwtAuthority } {
  const key = b.jwtAuthorities.find((k) => k.keyId === keyId);
  if (!key) throw notFound('no JWT authority found with the given key ID');
  if (key.tainted) throw invalidArgument('JWT authority is already tainted');
  const tainted = { ...key, tainted: true };
  return { bundle: { ...b, jwtAuthorities: b.jwtAuthorities.map((k) => (k === key ? tainted : k)), sequenceNumber: b.sequenceNumber + 1 }, key: tainted };
}

export function revokeJwt(b: Bundle, keyId: string): { bundle: Bundle; key: JwtAuthority } {
  const key = b.jwtAuthorities.find((k) => k.keyId === keyId);
  if (!key) throw notFound('no JWT authority found with the given key ID');
  if (!key.tainted) throw invalidArgument('an untainted JWT authority cannot be revoked');
  return { bundle: { ...b, jwtAuthorities: b.jwtAuthorities.filter((k) => k !== key), sequenceNumber: b.sequenceNumber + 1 }, key };
}
