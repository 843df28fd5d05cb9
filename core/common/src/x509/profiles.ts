/**
 * SPIRE's certificate profiles (pkg/server/credtemplate/builder.go at
 * spiffe/spire ef8527ec91013c6c1b4741e0f6ac0786576e620e) as pure functions:
 * the clock reading and the issuer come in as arguments.
 */
import type { CertificateTemplate } from './builder.js';
import { randomSerialNumber } from './builder.js';
import type { Certificate } from './certificate.js';
import { X509Error } from './errors.js';
import type { NameConstraints } from './extensions.js';
import type { NameSpec } from './name.js';
import { checkSpiffeId, checkTrustDomain } from './spiffe-id.js';

/** SPIRE's `NotBeforeCushion`: certificates are back-dated this much for clock skew. */
export const NOT_BEFORE_CUSHION_MS = 10_000;

/** SPIRE's default X.509-SVID subject. */
export const DEFAULT_X509_SVID_SUBJECT: Readonly<NameSpec> = Object.freeze({ country: 'US', organization: 'SPIRE' });

/** SPIRE's default X.509 CA subject (a serialNumber attribute is added). */
export const DEFAULT_X509_CA_SUBJECT: Readonly<NameSpec> = Object.freeze({ country: 'US', organization: 'SPIFFE' });

function fail(message: string): never {
  throw new X509Error('ERR_X509_TEMPLATE', message);
}

export function isEmpty(subject: NameSpec | undefined): boolean {
  return !subject || Object.values(subject).every((v) => v === undefined || v === '' || (Array.isArray(v) && v.length === 0));
}

/** now − cushion and now + ttl capped at `cap`, as SPIRE's `computeCappedLifetime`. */
export function lifetime(now: Date, ttlMs: number, cap: Date | undefined): { notBefore: Date; notAfter: Date } {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) fail('now must be a valid Date');
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) fail(`ttl must be positive, got ${ttlMs} ms`);
  const notBefore = new Date(now.getTime() - NOT_BEFORE_CUSHION_MS);
  let notAfter = new Date(now.getTime() + ttlMs);
  if (cap && notAfter.getTime() > cap.getTime()) notAfter = new Date(cap.getTime());
  if (notAfter.getTime() <= now.getTime()) fail(`the issuing CA expired at ${cap?.toISOString()}`);
  return { notBefore, notAfter };
}

/** The SPIFFE ID (trust domain ID) in a CA's URI SANs, if it has one. */
export function issuerTrustDomain(issuer: Certificate): string | undefined {
  for (const uri of issuer.extensions.subjectAltName?.uris ?? []) {
    const parts = checkSpiffeId(uri);
    if (typeof parts !== 'string') return parts.trustDomain;
  }
  return undefined;
}

/** Inputs of {@link x509SvidTemplate}. */
export interface X509SvidParams {
  /** The SVID's SPIFFE ID: must have a path, and be in the issuer's trust domain when the issuer names one. */
  spiffeId: string;
  /** DNS SANs; the first is also the subject CN (SPIRE does this even for an explicit subject). */
  dnsNames?: readonly string[];
  /** Default (also for an empty subject) {@link DEFAULT_X509_SVID_SUBJECT}. */
  subject?: NameSpec;
  /** The clock reading. */
  now: Date;
  /** Lifetime from `now`; capped at the issuer's notAfter. */
  ttlMs: number;
  /** The CA that signs the SVID. */
  issuer: Certificate;
  /** Default: {@link randomSerialNumber}. */
  serialNumber?: bigint;
  random?: (size: number) => Uint8Array;
}

/**
 * SPIRE's X.509-SVID profile (workload, agent and server SVIDs): URI SAN =
 * SPIFFE ID, keyUsage digitalSignature|keyEncipherment|keyAgreement (critical),
 * EKU serverAuth+clientAuth, CA=false, SKI (by the builder) and AKI = issuer SKI,
 * notBefore = now − 10 s, notAfter = min(now + ttl, issuer notAfter).
 * @throws X509Error `ERR_X509_TEMPLATE` for a bad SPIFFE ID, a foreign trust domain, an expired issuer.
 */
export function x509SvidTemplate(p: X509SvidParams): CertificateTemplate {
  const id = checkSpiffeId(p.spiffeId);
  if (typeof id === 'string') fail(`invalid X509-SVID ID ${JSON.stringify(p.spiffeId)}: ${id}`);
  if (id.path === '') fail(`invalid X509-SVID ID ${JSON.stringify(p.spiffeId)}: an SVID needs a path`);
  const td = issuerTrustDomain(p.issuer);
  if (td !== undefined && td !== id.trustDomain) {
    fail(`invalid X509-SVID ID ${JSON.stringify(p.spiffeId)}: not a member of trust domain "${td}"`);
  }
  const dnsNames = p.dnsNames ?? [];
  const subject: NameSpec = { ...(isEmpty(p.subject) ? DEFAULT_X509_SVID_SUBJECT : p.subject) };
  if (dnsNames.length > 0) subject.commonName = dnsNames[0];
  const aki = p.issuer.extensions.subjectKeyId;
  return {
    serialNumber: p.serialNumber ?? randomSerialNumber(p.random),
    subject,
    ...lifetime(p.now, p.ttlMs, p.issuer.notAfter),
    basicConstraints: { ca: false },
    keyUsage: ['digitalSignature', 'keyEncipherment', 'keyAgreement'],
    extKeyUsage: ['serverAuth', 'clientAuth'],
    ...(aki ? { authorityKeyId: aki } : {}),
    uris: [id.id],
    ...(dnsNames.length > 0 ? { dnsNames: [...dnsNames] } : {}),
  };
}

/** Inputs of {@link caTemplate}. */
export interface X509CaParams {
  /** `example.org` or `spiffe://example.org`; the CA's URI SAN is `spiffe://example.org`. */
  trustDomain: string;
  /** Default (also for an empty subject) {@link DEFAULT_X509_CA_SUBJECT}; serialNumber defaults to the serial in decimal. */
  subject?: NameSpec;
  now: Date;
  /** Lifetime from `now` (SPIRE's ca_ttl, default 24 h); capped at the issuer's notAfter. */
  ttlMs: number;
  /** The upstream or parent CA that signs this one; absent for a self-signed root. */
  issuer?: Certificate;
  serialNumber?: bigint;
  random?: (size: number) => Uint8Array;
  /** Optional pathLenConstraint (SPIRE sets none). */
  pathLen?: number;
  /** Optional name constraints, e.g. `{ permittedUriDomains: ['example.org'] }` (SPIRE sets none). */
  nameConstraints?: NameConstraints;
}

/**
 * SPIRE's X.509 CA profile: CA=true, keyUsage keyCertSign|cRLSign (critical),
 * URI SAN = trust domain ID, SKI, AKI = issuer SKI when upstream-signed,
 * notBefore = now − 10 s, notAfter = min(now + ttl, issuer notAfter).
 * Build it with `issuer` absent (self-signed: the signer holds the new key) or
 * the upstream CA (the signer holds the upstream key).
 * @throws X509Error `ERR_X509_TEMPLATE` for a bad trust domain or an expired issuer.
 */
export function caTemplate(p: X509CaParams): CertificateTemplate {
  const td = checkTrustDomain(p.trustDomain);
  if (typeof td === 'string') fail(`invalid trust domain ${JSON.stringify(p.trustDomain)}: ${td}`);
  const serialNumber = p.serialNumber ?? randomSerialNumber(p.random);
  const subject: NameSpec = { ...(isEmpty(p.subject) ? DEFAULT_X509_CA_SUBJECT : p.subject) };
  if (!subject.serialNumber) subject.serialNumber = serialNumber.toString();
  const aki = p.issuer?.extensions.subjectKeyId;
  return {
    serialNumber,
    subject,
    ...lifetime(p.now, p.ttlMs, p.issuer?.notAfter),
    basicConstraints: p.pathLen === undefined ? { ca: true } : { ca: true, pathLen: p.pathLen },
    keyUsage: ['keyCertSign', 'cRLSign'],
    ...(aki ? { authorityKeyId: aki } : {}),
    uris: [`spiffe://${td.name}`],
    ...(p.nameConstraints ? { nameConstraints: p.nameConstraints } : {}),
  };
}
