/** Distinguished names: encoding as Go's `pkix.Name` does, parsing and RFC 4514 printing. */
import { parseFail, tagName, type DerElement } from './der-decode.js';
import { DER, TAG } from './der-encode.js';
import { NAME_SHORT, OID } from './oids.js';

/** One attribute of a name: type OID and string value. */
export interface NameAttribute {
  readonly oid: string;
  readonly value: string;
}

/**
 * A distinguished name to encode. Attributes are written in Go's order (C, ST,
 * L, STREET, POSTALCODE, O, OU, CN, SERIALNUMBER, then `extra`); several
 * values of one field form one multi-valued RDN, as Go does. Strings are
 * PrintableString when they fit, UTF8String otherwise.
 */
export interface NameSpec {
  country?: string | readonly string[];
  province?: string | readonly string[];
  locality?: string | readonly string[];
  streetAddress?: string | readonly string[];
  postalCode?: string | readonly string[];
  organization?: string | readonly string[];
  organizationalUnit?: string | readonly string[];
  commonName?: string;
  serialNumber?: string;
  /** Further attributes, each in its own RDN, after the named ones. */
  extra?: readonly NameAttribute[];
}

/** A parsed distinguished name. */
export interface Name {
  /** The exact DER encoding (issuer names must match subject names byte for byte). */
  readonly der: Uint8Array;
  /** Relative distinguished names, outermost (e.g. C) first. */
  readonly rdns: readonly (readonly NameAttribute[])[];
}

type Field = Exclude<keyof NameSpec, 'extra'>;

const FIELDS: ReadonlyArray<[Field, string]> = [
  ['country', OID.country],
  ['province', OID.province],
  ['locality', OID.locality],
  ['streetAddress', OID.streetAddress],
  ['postalCode', OID.postalCode],
  ['organization', OID.organization],
  ['organizationalUnit', OID.organizationalUnit],
  ['commonName', OID.commonName],
  ['serialNumber', OID.serialNumber],
];

const STRING_TAGS = new Set<number>([
  TAG.UTF8_STRING, TAG.PRINTABLE_STRING, TAG.IA5_STRING, TAG.T61_STRING, TAG.BMP_STRING, TAG.NUMERIC_STRING, TAG.VISIBLE_STRING,
]);

function values(v: string | readonly string[] | undefined): string[] {
  if (v === undefined) return [];
  if (typeof v === 'string') return v === '' ? [] : [v];
  return v.filter((x) => x !== '');
}

function attribute(oid: string, value: string): Uint8Array {
  return DER.sequence(DER.oid(oid), DER.isPrintable(value) ? DER.printableString(value) : DER.utf8String(value));
}

/** True when `x` is a parsed {@link Name} rather than a {@link NameSpec}. */
export function isParsedName(x: NameSpec | Name): x is Name {
  return (x as Name).der instanceof Uint8Array && Array.isArray((x as Name).rdns);
}

/** Encodes a name; a parsed {@link Name} is passed through byte for byte. */
export function encodeName(name: NameSpec | Name): Uint8Array {
  if (isParsedName(name)) return name.der;
  const extra = name.extra ?? [];
  const rdns: Uint8Array[] = [];
  for (const [field, oid] of FIELDS) {
    if (extra.some((a) => a.oid === oid)) continue;
    const vs = values(name[field]);
    if (vs.length > 0) rdns.push(DER.set(...vs.map((v) => attribute(oid, v))));
  }
  for (const a of extra) rdns.push(DER.set(attribute(a.oid, a.value)));
  return DER.sequence(...rdns);
}

/** Parses a `Name` (RDNSequence). Attribute values must be strings (as in every certificate SPIRE deals with). */
export function parseName(el: DerElement, what: string): Name {
  el.expect(TAG.SEQUENCE, what);
  const rdns = el.children().map((set) => {
    const atvs = set.expect(TAG.SET, `${what} RDN`).children();
    if (atvs.length === 0) parseFail(`${what}: empty RDN`, set);
    return atvs.map((atv) => {
      const parts = atv.expect(TAG.SEQUENCE, `${what} attribute`).children();
      if (parts.length !== 2) parseFail(`${what}: attribute has ${parts.length} parts, expected type and value`, atv);
      const [type, value] = parts as [DerElement, DerElement];
      const oid = type.expect(TAG.OID, `${what} attribute type`).oid();
      if (!STRING_TAGS.has(value.tag)) parseFail(`${what}: attribute ${oid} value must be a string, found ${tagName(value.tag)}`, value);
      return { oid, value: value.string() };
    });
  });
  return { der: el.bytes, rdns };
}

/** Values of one attribute type (OID or short name such as `CN`, `O`) in a parsed name. */
export function nameValues(name: Name, type: string): string[] {
  const oid = Object.entries(NAME_SHORT).find(([, s]) => s === type.toUpperCase())?.[0] ?? type;
  return name.rdns.flatMap((rdn) => rdn.filter((a) => a.oid === oid).map((a) => a.value));
}

function escapeValue(v: string): string {
  let out = v.replace(/[,+"\\<>;]/g, (c) => `\\${c}`);
  if (out.startsWith(' ') || out.startsWith('#')) out = `\\${out}`;
  if (out.endsWith(' ') && out.length > 1) out = `${out.slice(0, -1)}\\ `;
  return out;
}

/** RFC 4514 string, last RDN first, as Go's `pkix.Name.String()`: `CN=x,O=SPIRE,C=US`. */
export function formatName(name: Name): string {
  return [...name.rdns]
    .reverse()
    .map((rdn) => rdn.map((a) => `${NAME_SHORT[a.oid] ?? a.oid}=${escapeValue(a.value)}`).join('+'))
    .join(',');
}

/** Turns a parsed name back into a {@link NameSpec} (to edit it); unknown attributes go to `extra`. */
export function nameToSpec(name: Name): NameSpec {
  const spec: Record<string, unknown> = {};
  const extra: NameAttribute[] = [];
  for (const a of name.rdns.flat()) {
    const field = FIELDS.find(([, oid]) => oid === a.oid)?.[0];
    if (field === 'commonName' || field === 'serialNumber') spec[field] = a.value;
    else if (field) spec[field] = [...((spec[field] as string[] | undefined) ?? []), a.value];
    else extra.push(a);
  }
  if (extra.length > 0) spec.extra = extra;
  return spec as NameSpec;
}
