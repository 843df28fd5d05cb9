/**
 * Normalises registration entry input: every field checked and defaulted,
 * selectors de-duplicated and sorted, federated trust domains normalised to
 * trust domain IDs. Everything here runs before any write.
 */
import { randomUUID } from 'node:crypto';
import { invalidArgument } from './errors.js';
import type { EntryAttributes, EntryMask, NewEntry, RegistrationEntry } from './types.js';
import {
  checkBool, checkEntryId, checkInt, checkSelectors, checkSpiffeId, checkString, LIMITS, normalizeTrustDomain,
} from './validation.js';

/** An entry as written (without revision and creation time). */
export type EntryData = Omit<RegistrationEntry, 'revisionNumber' | 'createdAt'>;

export function normalizeNewEntry(e: NewEntry, field: string): EntryData {
  if (typeof e !== 'object' || e === null) throw invalidArgument(`${field}: entry is required`);
  const id = e.id === undefined || e.id === '' ? randomUUID() : checkEntryId(e.id, `${field}.id`);
  return checkEntryData({ ...defaults(), ...stripUndefined(e), id }, field);
}

function defaults(): EntryData {
  return {
    id: '', spiffeId: '', parentId: '', selectors: [], x509SvidTtl: 0, jwtSvidTtl: 0, federatesWith: [], admin: false,
    downstream: false, dnsNames: [], expiresAt: 0, hint: '', storeSvid: false,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const MASK_FIELDS: ReadonlyArray<keyof EntryMask> = [
  'spiffeId', 'parentId', 'selectors', 'x509SvidTtl', 'jwtSvidTtl', 'federatesWith', 'admin', 'downstream', 'dnsNames',
  'expiresAt', 'hint', 'storeSvid', 'additionalAttributes',
];

/** Applies `update` to `current` for the fields in `mask` (all when absent), then checks the result. */
export function applyEntryUpdate(current: EntryData, update: Partial<RegistrationEntry>, mask: EntryMask | undefined, field: string): EntryData {
  const next: Record<string, unknown> = { ...current };
  for (const key of MASK_FIELDS) {
    if (mask && !mask[key]) continue;
    const v = (update as Record<string, unknown>)[key];
    if (key === 'additionalAttributes') {
      if (v === undefined) delete next[key];
      else next[key] = v;
    } else next[key] = v ?? defaults()[key as keyof EntryData];
  }
  return checkEntryData(next as EntryData, field);
}

function checkEntryData(e: EntryData, field: string): EntryData {
  const out: EntryData = {
    id: e.id,
    spiffeId: checkSpiffeId(e.spiffeId, `${field}.spiffeId`),
    parentId: checkSpiffeId(e.parentId, `${field}.parentId`),
    selectors: checkSelectors(e.selectors, `${field}.selectors`, { required: true }),
    x509SvidTtl: checkInt(e.x509SvidTtl, `${field}.x509SvidTtl`, 0, LIMITS.int32Max),
    jwtSvidTtl: checkInt(e.jwtSvidTtl, `${field}.jwtSvidTtl`, 0, LIMITS.int32Max),
    federatesWith: checkFederatesWith(e.federatesWith, `${field}.federatesWith`),
    admin: checkBool(e.admin, `${field}.admin`),
    downstream: checkBool(e.downstream, `${field}.downstream`),
    dnsNames: checkDnsNames(e.dnsNames, `${field}.dnsNames`),
    expiresAt: checkInt(e.expiresAt, `${field}.expiresAt`, 0, Number.MAX_SAFE_INTEGER),
    hint: checkString(e.hint, `${field}.hint`, LIMITS.hintBytes),
    storeSvid: checkBool(e.storeSvid, `${field}.storeSvid`),
  };
  if (e.additionalAttributes !== undefined) out.additionalAttributes = checkAttributes(e.additionalAttributes, `${field}.additionalAttributes`);
  if (out.storeSvid) {
    if (out.additionalAttributes?.disableX509SvidPrefetch) {
      throw invalidArgument(`${field}: disabling X.509-SVID prefetch is incompatible with storable SVIDs`);
    }
    const type = out.selectors[0]?.type;
    if (out.selectors.some((s) => s.type !== type)) throw invalidArgument(`${field}: selector types must be the same when storeSvid is set`);
  }
  return out;
}

function checkFederatesWith(list: unknown, field: string): string[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw invalidArgument(`${field}: must be a list`);
  if (list.length > LIMITS.federatesWithPerEntry) throw invalidArgument(`${field}: more than ${LIMITS.federatesWithPerEntry} trust domains`);
  return [...new Set(list.map((td, i) => normalizeTrustDomain(td, `${field}[${i}]`)))].sort();
}

function checkDnsNames(list: unknown, field: string): string[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw invalidArgument(`${field}: must be a list`);
  if (list.length > LIMITS.dnsNamesPerEntry) throw invalidArgument(`${field}: more than ${LIMITS.dnsNamesPerEntry} DNS names`);
  const out: string[] = [];
  list.forEach((name, i) => {
    const n = checkString(name, `${field}[${i}]`, LIMITS.dnsNameBytes, { required: true });
    if (/[\s\x00-\x1f\x7f]/.test(n)) throw invalidArgument(`${field}[${i}]: DNS name contains whitespace or control characters`);
    if (!out.includes(n)) out.push(n);
  });
  return out;
}

function checkAttributes(a: unknown, field: string): EntryAttributes {
  if (typeof a !== 'object' || a === null) throw invalidArgument(`${field}: must be an object`);
  const { disableX509SvidPrefetch, jwtSvidIncludeJti } = a as Partial<EntryAttributes>;
  return {
    disableX509SvidPrefetch: checkBool(disableX509SvidPrefetch, `${field}.disableX509SvidPrefetch`),
    jwtSvidIncludeJti: checkBool(jwtSvidIncludeJti, `${field}.jwtSvidIncludeJti`),
  };
}
