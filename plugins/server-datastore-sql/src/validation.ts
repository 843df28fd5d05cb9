/**
 * Input checks shared by every object: SPIFFE IDs (SPIFFE-ID.md), trust
 * domains, selectors and size limits. Every failure is INVALID_ARGUMENT and is
 * raised before anything is written.
 */
import { invalidArgument } from './errors.js';
import type { Selector } from './types.js';

/** Field size limits (bytes of UTF-8 unless noted). The schema is sized to them. */
export const LIMITS = {
  spiffeIdBytes: 2048,
  trustDomainBytes: 255,
  entryIdChars: 255,
  selectorTypeBytes: 255,
  selectorValueBytes: 2048,
  selectorsPerObject: 256,
  dnsNameBytes: 255,
  dnsNamesPerEntry: 256,
  federatesWithPerEntry: 256,
  hintBytes: 255,
  joinTokenBytes: 255,
  shortStringBytes: 255,
  urlBytes: 2048,
  blobBytes: 16 * 1024 * 1024 - 1024,
  int32Max: 2 ** 31 - 1,
} as const;

const TD_CHARS = /^[a-z0-9._-]+$/;
const PATH_SEGMENT = /^[a-zA-Z0-9._-]+$/;
const ENTRY_ID = /^[a-zA-Z0-9._-]+$/;

export function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** Checks a SPIFFE ID and returns it unchanged; INVALID_ARGUMENT naming `field` otherwise. */
export function checkSpiffeId(id: unknown, field: string): string {
  if (typeof id !== 'string' || id === '') throw invalidArgument(`${field}: SPIFFE ID is required`);
  const problem = spiffeIdProblem(id);
  if (problem) throw invalidArgument(`${field}: invalid SPIFFE ID ${JSON.stringify(truncate(id))}: ${problem}`);
  return id;
}

/** Why `id` is not a SPIFFE ID, or undefined if it is one. */
export function spiffeIdProblem(id: string): string | undefined {
  if (byteLength(id) > LIMITS.spiffeIdBytes) return `longer than ${LIMITS.spiffeIdBytes} bytes`;
  if (!id.startsWith('spiffe://')) return 'scheme must be "spiffe://"';
  const rest = id.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const td = slash === -1 ? rest : rest.slice(0, slash);
  const tdProblem = trustDomainProblem(td);
  if (tdProblem) return tdProblem;
  if (slash === -1) return undefined;
  const path = rest.slice(slash);
  if (path === '/') return 'path cannot have a trailing slash';
  const segments = path.slice(1).split('/');
  for (const seg of segments) {
    if (seg === '') return 'path cannot contain empty segments or a trailing slash';
    if (seg === '.' || seg === '..') return 'path cannot contain dot segments';
    if (!PATH_SEGMENT.test(seg)) return 'path segments may contain only letters, digits, ".", "-" and "_"';
  }
  return undefined;
}

function trustDomainProblem(td: string): string | undefined {
  if (td === '') return 'trust domain is missing';
  if (byteLength(td) > LIMITS.trustDomainBytes) return `trust domain longer than ${LIMITS.trustDomainBytes} bytes`;
  if (!TD_CHARS.test(td)) return 'trust domain may contain only lowercase letters, digits, ".", "-" and "_"';
  return undefined;
}

/**
 * Accepts `example.org` or `spiffe://example.org` and returns the trust domain
 * ID (`spiffe://example.org`).
 */
export function normalizeTrustDomain(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw invalidArgument(`${field}: trust domain is required`);
  const name = value.startsWith('spiffe://') ? value.slice('spiffe://'.length) : value;
  const problem = trustDomainProblem(name);
  if (problem) throw invalidArgument(`${field}: invalid trust domain ${JSON.stringify(truncate(value))}: ${problem}`);
  return `spiffe://${name}`;
}

/** The trust domain ID of a SPIFFE ID (already checked). */
export function trustDomainOf(spiffeId: string): string {
  const rest = spiffeId.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  return `spiffe://${slash === -1 ? rest : rest.slice(0, slash)}`;
}

export function checkString(value: unknown, field: string, maxBytes: number, opts: { required?: boolean } = {}): string {
  if (value === undefined || value === null) value = '';
  if (typeof value !== 'string') throw invalidArgument(`${field}: must be a string`);
  if (opts.required && value === '') throw invalidArgument(`${field}: is required`);
  if (byteLength(value) > maxBytes) throw invalidArgument(`${field}: longer than ${maxBytes} bytes`);
  if (value.includes('\0')) throw invalidArgument(`${field}: contains a NUL character`);
  return value;
}

export function checkInt(value: unknown, field: string, min: number, max: number): number {
  if (value === undefined || value === null) value = 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalidArgument(`${field}: must be an integer`);
  if (value < min || value > max) throw invalidArgument(`${field}: must be between ${min} and ${max}`);
  return value;
}

export function checkBool(value: unknown, field: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw invalidArgument(`${field}: must be a boolean`);
  return value;
}

export function checkBytes(value: unknown, field: string, maxBytes: number, opts: { required?: boolean } = {}): Uint8Array {
  if (value === undefined || value === null) value = new Uint8Array(0);
  if (!(value instanceof Uint8Array)) throw invalidArgument(`${field}: must be bytes`);
  if (opts.required && value.length === 0) throw invalidArgument(`${field}: is required`);
  if (value.length > maxBytes) throw invalidArgument(`${field}: larger than ${maxBytes} bytes`);
  return value;
}

export function checkSelector(s: unknown, field: string): Selector {
  if (typeof s !== 'object' || s === null) throw invalidArgument(`${field}: selector must be an object`);
  const { type, value } = s as { type?: unknown; value?: unknown };
  const t = checkString(type, `${field}.type`, LIMITS.selectorTypeBytes);
  const v = checkString(value, `${field}.value`, LIMITS.selectorValueBytes);
  if (t === '' || v === '') throw invalidArgument(`${field}: malformed selector "${truncate(t)}:${truncate(v)}": type and value must be non-empty`);
  if (t.includes(':')) throw invalidArgument(`${field}: malformed selector type "${truncate(t)}": must not contain ":"`);
  return { type: t, value: v };
}

/** Checks, de-duplicates and sorts selectors (by type, then value). */
export function checkSelectors(list: unknown, field: string, opts: { required: boolean }): Selector[] {
  if (list === undefined || list === null) list = [];
  if (!Array.isArray(list)) throw invalidArgument(`${field}: must be a list`);
  if (opts.required && list.length === 0) throw invalidArgument(`${field}: at least one selector is required`);
  if (list.length > LIMITS.selectorsPerObject) throw invalidArgument(`${field}: more than ${LIMITS.selectorsPerObject} selectors`);
  return canonicalSelectors(list.map((s, i) => checkSelector(s, `${field}[${i}]`)));
}

export function canonicalSelectors(list: Selector[]): Selector[] {
  const seen = new Map<string, Selector>();
  for (const s of list) seen.set(`${s.type}:${s.value}`, { type: s.type, value: s.value });
  return [...seen.values()].sort(compareSelectors);
}

export function compareSelectors(a: Selector, b: Selector): number {
  if (a.type !== b.type) return a.type < b.type ? -1 : 1;
  if (a.value === b.value) return 0;
  return a.value < b.value ? -1 : 1;
}

export function checkEntryId(id: unknown, field = 'id'): string {
  if (typeof id !== 'string' || id === '') throw invalidArgument(`${field}: entry ID is required`);
  if (id.length > LIMITS.entryIdChars) throw invalidArgument(`${field}: entry ID longer than ${LIMITS.entryIdChars} characters`);
  if (!ENTRY_ID.test(id)) throw invalidArgument(`${field}: entry ID may contain only letters, digits, ".", "-" and "_"`);
  return id;
}

export function checkPageSize(pageSize: unknown): number {
  if (typeof pageSize !== 'number' || !Number.isSafeInteger(pageSize) || pageSize <= 0) {
    throw invalidArgument('pagination: page size must be a positive integer');
  }
  return Math.min(pageSize, 10_000);
}

/** Page tokens are the last row's key, base-10. */
export function parsePageToken(token: string | undefined): number {
  if (token === undefined || token === '') return 0;
  if (!/^[0-9]{1,15}$/.test(token)) throw invalidArgument(`pagination: invalid page token ${JSON.stringify(truncate(token))}`);
  return Number(token);
}

export function truncate(s: string, max = 64): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
