/** Parsing of the extensions X.509-SVIDs and CAs use. */
import { decodeDer, parseFail, type DerElement } from './der-decode.js';
import { TAG } from './der-encode.js';
import { EXT_KEY_USAGES, GENERAL_NAME_TAG, KEY_USAGES, type Extension, type KeyUsage } from './extensions.js';
import { X509Error } from './errors.js';
import { OID } from './oids.js';

/** Subject alternative names read from a certificate or CSR. */
export interface ParsedAltNames {
  readonly critical: boolean;
  readonly uris: string[];
  readonly dnsNames: string[];
  readonly ipAddresses: string[];
  readonly emails: string[];
  /** Count of other GeneralName forms (otherName, directoryName...), which are not interpreted. */
  readonly others: number;
}

/** One name constraint subtree. */
export interface ParsedSubtree {
  readonly type: 'uri' | 'dns' | 'ip' | 'email' | 'other';
  readonly value: string;
}

/** The known extensions of a certificate or CSR, decoded. */
export interface ParsedExtensions {
  /** Every extension, in order. */
  readonly list: Extension[];
  readonly basicConstraints?: { readonly critical: boolean; readonly ca: boolean; readonly pathLen?: number };
  readonly keyUsage?: { readonly critical: boolean; readonly usages: KeyUsage[] };
  /** Names from {@link EXT_KEY_USAGES} where known, dotted OIDs otherwise. */
  readonly extKeyUsage?: { readonly critical: boolean; readonly usages: string[] };
  readonly subjectKeyId?: Uint8Array;
  readonly authorityKeyId?: Uint8Array;
  readonly subjectAltName?: ParsedAltNames;
  readonly nameConstraints?: { readonly critical: boolean; readonly permitted: ParsedSubtree[]; readonly excluded: ParsedSubtree[] };
  /** OIDs of critical extensions not understood here (RFC 5280: such certificates must be rejected). */
  readonly unhandledCritical: string[];
}

const EKU_NAMES = new Map(Object.entries(EXT_KEY_USAGES).map(([name, oid]) => [oid as string, name]));

function parseExtension(el: DerElement): Extension {
  const parts = el.expect(TAG.SEQUENCE, 'extension').children();
  if (parts.length < 2 || parts.length > 3) parseFail(`extension has ${parts.length} parts`, el);
  const oid = (parts[0] as DerElement).expect(TAG.OID, 'extension id').oid();
  const critical = parts.length === 3 ? (parts[1] as DerElement).expect(TAG.BOOLEAN, `extension ${oid} critical`).boolean() : false;
  const value = (parts[parts.length - 1] as DerElement).expect(TAG.OCTET_STRING, `extension ${oid} value`).octetString();
  return { oid, critical, value };
}

function ipString(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((b[i] as number) << 8) | (b[i + 1] as number)).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

/** Reads one GeneralName; unknown but well-formed forms are 'other'. */
function generalName(el: DerElement, what: string, nameConstraint: boolean): ParsedSubtree {
  switch (el.tag) {
    case GENERAL_NAME_TAG.uri:
      return { type: 'uri', value: el.ia5String(el.tag) };
    case GENERAL_NAME_TAG.dns:
      return { type: 'dns', value: el.ia5String(el.tag) };
    case GENERAL_NAME_TAG.email:
      return { type: 'email', value: el.ia5String(el.tag) };
    case GENERAL_NAME_TAG.ip: {
      const b = el.octetString(el.tag);
      // In name constraints an iPAddress is address + mask.
      const ok = nameConstraint ? b.length === 8 || b.length === 32 : b.length === 4 || b.length === 16;
      if (!ok) parseFail(`${what}: iPAddress of ${b.length} bytes`, el);
      const half = nameConstraint ? b.length / 2 : b.length;
      const addr = ipString(b.subarray(0, half));
      return { type: 'ip', value: nameConstraint ? `${addr}/${ipString(b.subarray(half))}` : addr };
    }
    case 0xa0: case 0xa3: case 0xa4: case 0xa5: case 0x88:
      return { type: 'other', value: '' };
    default:
      return parseFail(`${what}: invalid GeneralName tag 0x${el.tag.toString(16)}`, el);
  }
}

function altNames(value: Uint8Array, critical: boolean): ParsedAltNames {
  const seq = decodeDer(value).expect(TAG.SEQUENCE, 'subjectAltName');
  const names = seq.children();
  if (names.length === 0) parseFail('subjectAltName is empty');
  const out: ParsedAltNames = { critical, uris: [], dnsNames: [], ipAddresses: [], emails: [], others: 0 };
  for (const n of names) {
    const g = generalName(n, 'subjectAltName', false);
    if (g.type === 'uri') out.uris.push(g.value);
    else if (g.type === 'dns') out.dnsNames.push(g.value);
    else if (g.type === 'ip') out.ipAddresses.push(g.value);
    else if (g.type === 'email') out.emails.push(g.value);
    else (out as { others: number }).others++;
  }
  return out;
}

function keyUsage(value: Uint8Array): KeyUsage[] {
  const { bytes } = decodeDer(value).bitString();
  const usages: KeyUsage[] = [];
  KEY_USAGES.forEach((u, i) => {
    if (((bytes[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0) usages.push(u);
  });
  return usages;
}

function basicConstraints(value: Uint8Array): { ca: boolean; pathLen?: number } {
  const parts = decodeDer(value).expect(TAG.SEQUENCE, 'basicConstraints').children();
  let i = 0;
  let ca = false;
  if (parts[i]?.tag === TAG.BOOLEAN) ca = (parts[i++] as DerElement).boolean();
  let pathLen: number | undefined;
  if (parts[i]?.tag === TAG.INTEGER) pathLen = (parts[i++] as DerElement).smallInteger('pathLenConstraint');
  if (i !== parts.length) parseFail('basicConstraints has unexpected contents');
  return pathLen === undefined ? { ca } : { ca, pathLen };
}

function subtrees(el: DerElement): ParsedSubtree[] {
  return el.children().map((st) => {
    const parts = st.expect(TAG.SEQUENCE, 'GeneralSubtree').children();
    if (parts.length === 0) parseFail('empty GeneralSubtree', st);
    // minimum [0] DEFAULT 0 and maximum [1]: RFC 5280 says absent; refuse anything else.
    if (parts.length > 1) parseFail('GeneralSubtree with minimum/maximum is not supported', st);
    return generalName(parts[0] as DerElement, 'nameConstraints', true);
  });
}

/**
 * Decodes a list of `Extension`s (the SEQUENCE inside tbsCertificate's [3] or
 * a CSR's extensionRequest). Duplicate extensions are an error.
 * @throws X509Error `ERR_DER` / `ERR_X509_PARSE`.
 */
export function parseExtensions(seq: DerElement): ParsedExtensions {
  const list = seq.expect(TAG.SEQUENCE, 'extensions').children().map(parseExtension);
  const seen = new Set<string>();
  const out: Mutable = { list, unhandledCritical: [] };
  for (const ext of list) {
    if (seen.has(ext.oid)) parseFail(`duplicate extension ${ext.oid}`);
    seen.add(ext.oid);
    try {
      decodeKnown(out, ext);
    } catch (err) {
      if (!(err instanceof X509Error)) throw err;
      throw new X509Error(err.code, `extension ${ext.oid}: ${err.message}`, { cause: err });
    }
  }
  return out;
}

type Mutable = { -readonly [K in keyof ParsedExtensions]: ParsedExtensions[K] };

function decodeKnown(out: Mutable, ext: Extension): void {
  const { critical, value } = ext;
  switch (ext.oid) {
    case OID.basicConstraints:
      out.basicConstraints = { critical, ...basicConstraints(value) };
      break;
    case OID.keyUsage:
      out.keyUsage = { critical, usages: keyUsage(value) };
      break;
    case OID.extKeyUsage: {
      const oids = decodeDer(value).expect(TAG.SEQUENCE, 'extKeyUsage').children().map((o) => o.oid());
      out.extKeyUsage = { critical, usages: oids.map((o) => EKU_NAMES.get(o) ?? o) };
      break;
    }
    case OID.subjectKeyIdentifier:
      out.subjectKeyId = decodeDer(value).octetString();
      break;
    case OID.authorityKeyIdentifier: {
      const kid = decodeDer(value).expect(TAG.SEQUENCE, 'authorityKeyIdentifier').children().find((c) => c.tag === 0x80);
      if (kid) out.authorityKeyId = kid.octetString(0x80);
      break;
    }
    case OID.subjectAltName:
      out.subjectAltName = altNames(value, critical);
      break;
    case OID.nameConstraints: {
      const nc = { critical, permitted: [] as ParsedSubtree[], excluded: [] as ParsedSubtree[] };
      for (const part of decodeDer(value).expect(TAG.SEQUENCE, 'nameConstraints').children()) {
        if (part.tag === 0xa0) nc.permitted = subtrees(part);
        else if (part.tag === 0xa1) nc.excluded = subtrees(part);
        else parseFail('nameConstraints: unexpected element', part);
      }
      out.nameConstraints = nc;
      break;
    }
    default:
      if (critical) out.unhandledCritical.push(ext.oid);
  }
}
