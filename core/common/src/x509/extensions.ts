/** Certificate extensions: the types shared by the builder and the parser, and their encoders. */
import { DER } from './der-encode.js';
import { X509Error } from './errors.js';
import { OID } from './oids.js';

/** One extension as it appears in a certificate or CSR. */
export interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  /** The DER inside extnValue's OCTET STRING. */
  readonly value: Uint8Array;
}

/** keyUsage bits, in bit order (digitalSignature is bit 0). */
export const KEY_USAGES = Object.freeze([
  'digitalSignature',
  'contentCommitment',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const);

/** One keyUsage bit. */
export type KeyUsage = (typeof KEY_USAGES)[number];

/** Extended key usages known by name; others are given as dotted OIDs. */
export const EXT_KEY_USAGES = Object.freeze({
  any: OID.anyExtendedKeyUsage,
  serverAuth: OID.serverAuth,
  clientAuth: OID.clientAuth,
  codeSigning: OID.codeSigning,
  emailProtection: OID.emailProtection,
  timeStamping: OID.timeStamping,
  ocspSigning: OID.ocspSigning,
});

/** An extended key usage: a name from {@link EXT_KEY_USAGES} or a dotted OID. */
export type ExtKeyUsage = keyof typeof EXT_KEY_USAGES | (string & {});

/** Subject alternative names this toolkit writes and reads. */
export interface AltNames {
  uris?: readonly string[];
  dnsNames?: readonly string[];
}

/** URI and DNS name constraints (RFC 5280 §4.2.1.10). URI constraints are hosts; a leading `.` means subdomains. */
export interface NameConstraints {
  permittedUriDomains?: readonly string[];
  excludedUriDomains?: readonly string[];
  permittedDnsDomains?: readonly string[];
  excludedDnsDomains?: readonly string[];
}

function fail(message: string): never {
  throw new X509Error('ERR_X509_TEMPLATE', message);
}

/** DER `Extension` SEQUENCE (critical written only when true, as DER requires). */
export function encodeExtension(ext: Extension): Uint8Array {
  return ext.critical
    ? DER.sequence(DER.oid(ext.oid), DER.boolean(true), DER.octetString(ext.value))
    : DER.sequence(DER.oid(ext.oid), DER.octetString(ext.value));
}

/** keyUsage extension (critical by default, as SPIFFE requires and Go does). */
export function keyUsageExtension(usages: readonly KeyUsage[], critical = true): Extension {
  let bits = 0;
  for (const u of usages) {
    const i = KEY_USAGES.indexOf(u);
    if (i < 0) fail(`unknown key usage ${JSON.stringify(u)}`);
    bits |= 1 << i;
  }
  if (bits === 0) fail('keyUsage needs at least one usage');
  // Named bit list: bit 0 is the MSB of the first byte; trailing zero bits are dropped.
  const nbits = 32 - Math.clz32(bits);
  let value = 0;
  for (let i = 0; i < nbits; i++) if (bits & (1 << i)) value |= 1 << (15 - i);
  const bytes = nbits > 8 ? Uint8Array.of(value >> 8, value & 0xff) : Uint8Array.of(value >> 8);
  let unused = 0;
  while (unused < 7 && ((bytes[bytes.length - 1] as number) & (1 << unused)) === 0) unused++;
  return { oid: OID.keyUsage, critical, value: DER.bitString(bytes, unused) };
}

/** extKeyUsage extension (not critical, as Go writes it). */
export function extKeyUsageExtension(usages: readonly ExtKeyUsage[]): Extension {
  if (usages.length === 0) fail('extKeyUsage needs at least one usage');
  const oids = usages.map((u) => (EXT_KEY_USAGES as Record<string, string>)[u] ?? u);
  return { oid: OID.extKeyUsage, critical: false, value: DER.sequence(...oids.map((o) => DER.oid(o))) };
}

/** basicConstraints extension, always critical (Go and RFC 5280 for CAs). */
export function basicConstraintsExtension(ca: boolean, pathLen?: number): Extension {
  if (pathLen !== undefined) {
    if (!ca) fail('pathLen is only meaningful for CA certificates');
    if (!Number.isInteger(pathLen) || pathLen < 0) fail(`invalid pathLen ${pathLen}`);
  }
  const parts: Uint8Array[] = [];
  if (ca) parts.push(DER.boolean(true));
  if (pathLen !== undefined) parts.push(DER.integer(pathLen));
  return { oid: OID.basicConstraints, critical: true, value: DER.sequence(...parts) };
}

/** subjectKeyIdentifier extension. */
export function subjectKeyIdExtension(keyId: Uint8Array): Extension {
  if (keyId.length === 0) fail('empty subject key identifier');
  return { oid: OID.subjectKeyIdentifier, critical: false, value: DER.octetString(keyId) };
}

/** authorityKeyIdentifier extension carrying only keyIdentifier. */
export function authorityKeyIdExtension(keyId: Uint8Array): Extension {
  if (keyId.length === 0) fail('empty authority key identifier');
  return { oid: OID.authorityKeyIdentifier, critical: false, value: DER.sequence(DER.implicit(0, DER.octetString(keyId))) };
}

function uriName(uri: string): Uint8Array {
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:[\x21-\x7e]*$/.test(uri)) fail(`invalid URI SAN ${JSON.stringify(uri)}`);
  return DER.implicit(6, DER.ia5String(uri));
}

function dnsName(name: string): Uint8Array {
  if (!/^[\x21-\x7e]+$/.test(name)) fail(`invalid DNS SAN ${JSON.stringify(name)}`);
  return DER.implicit(2, DER.ia5String(name));
}

/** subjectAltName extension with URIs then DNS names, or undefined when there are none. */
export function subjectAltNameExtension(names: AltNames, critical: boolean): Extension | undefined {
  const parts = [...(names.dnsNames ?? []).map(dnsName), ...(names.uris ?? []).map(uriName)];
  if (parts.length === 0) return undefined;
  return { oid: OID.subjectAltName, critical, value: DER.sequence(...parts) };
}

/** nameConstraints extension (critical, as RFC 5280 requires). */
export function nameConstraintsExtension(nc: NameConstraints): Extension {
  const subtrees = (uris: readonly string[] | undefined, dns: readonly string[] | undefined): Uint8Array[] => [
    ...(dns ?? []).map((d) => DER.sequence(dnsName(d))),
    ...(uris ?? []).map((u) => {
      if (!/^\.?[a-zA-Z0-9._-]+$/.test(u)) fail(`invalid URI name constraint ${JSON.stringify(u)} (a host or .domain)`);
      return DER.sequence(DER.implicit(6, DER.ia5String(u)));
    }),
  ];
  const permitted = subtrees(nc.permittedUriDomains, nc.permittedDnsDomains);
  const excluded = subtrees(nc.excludedUriDomains, nc.excludedDnsDomains);
  if (permitted.length + excluded.length === 0) fail('nameConstraints needs at least one subtree');
  const parts: Uint8Array[] = [];
  if (permitted.length > 0) parts.push(DER.tlv(0xa0, ...permitted));
  if (excluded.length > 0) parts.push(DER.tlv(0xa1, ...excluded));
  return { oid: OID.nameConstraints, critical: true, value: DER.sequence(...parts) };
}

/** The context tag of each GeneralName form we read. */
export const GENERAL_NAME_TAG = Object.freeze({ email: 0x81, dns: 0x82, uri: 0x86, ip: 0x87 });
