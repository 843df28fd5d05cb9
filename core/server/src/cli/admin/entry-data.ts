/**
 * `-data FILE.json` of `entry create|update`: SPIRE's registration JSON,
 * `{"entries": [{"spiffe_id": "spiffe://...", "parent_id": "...",
 * "selectors": [{"type": "unix", "value": "uid:0"}], ...}]}` (field names
 * matched case-insensitively, unknown fields ignored, as Go's encoding/json).
 *
 * @module
 */

import { parseSpiffeId, parseTrustDomain } from '@spire-ts/common';
import type { apiTypes } from '@spire-ts/proto';
import { AdminError } from './client.js';
import { spiffeIdProblem } from './entry-filter.js';

type Kind = 'string' | 'int' | 'bool' | 'strings' | 'selectors' | 'attrs';

const FIELDS: ReadonlyMap<string, { key: string; kind: Kind }> = new Map(
  (
    [
      ['selectors', 'selectors'],
      ['parent_id', 'string'],
      ['spiffe_id', 'string'],
      ['x509_svid_ttl', 'int'],
      ['federates_with', 'strings'],
      ['entry_id', 'string'],
      ['admin', 'bool'],
      ['downstream', 'bool'],
      ['entryExpiry', 'int'],
      ['dns_names', 'strings'],
      ['revision_number', 'int'],
      ['store_svid', 'bool'],
      ['jwt_svid_ttl', 'int'],
      ['hint', 'string'],
      ['created_at', 'int'],
      ['additional_attributes', 'attrs'],
    ] as const
  ).map(([key, kind]) => [key.toLowerCase(), { key, kind }]),
);

function check(kind: Kind, v: unknown, where: string): void {
  const ok =
    kind === 'string' ? typeof v === 'string'
    : kind === 'int' ? typeof v === 'number' && Number.isSafeInteger(v)
    : kind === 'bool' ? typeof v === 'boolean'
    : kind === 'strings' ? Array.isArray(v) && v.every((x) => typeof x === 'string')
    : kind === 'selectors' ? Array.isArray(v) && v.every((x) => x !== null && typeof x === 'object')
    : v !== null && typeof v === 'object';
  const want = { string: 'a string', int: 'an integer', bool: 'true or false', strings: 'a list of strings', selectors: 'a list of {"type": ..., "value": ...}', attrs: 'an object' }[kind];
  if (!ok) throw new AdminError(`${where}: expected ${want}, got ${JSON.stringify(v)}`);
}

function entryFrom(raw: unknown, where: string): apiTypes.Entry {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new AdminError(`${where}: expected an entry object`);
  const v: Record<string, unknown> = {};
  for (const [k, value] of Object.entries(raw as Record<string, unknown>)) {
    const field = FIELDS.get(k.toLowerCase());
    if (!field || value === null) continue;
    check(field.kind, value, `${where}.${field.key}`);
    v[field.key] = value;
  }
  const id = (key: string, what: string): { trust_domain: string; path: string } => {
    const text = typeof v[key] === 'string' ? (v[key] as string) : '';
    try {
      const parsed = parseSpiffeId(text);
      return { trust_domain: parsed.trustDomain, path: parsed.path };
    } catch (err) {
      throw new AdminError(`${where}: invalid ${what} ${JSON.stringify(text)}: ${spiffeIdProblem(err)}`);
    }
  };
  const e: apiTypes.Entry = {
    id: (v.entry_id as string | undefined) ?? '',
    spiffe_id: id('spiffe_id', 'SPIFFE ID'),
    parent_id: id('parent_id', 'parent ID'),
    selectors: ((v.selectors as Record<string, unknown>[] | undefined) ?? []).map((s) => ({ type: String(s.type ?? ''), value: String(s.value ?? '') })),
    x509_svid_ttl: (v.x509_svid_ttl as number | undefined) ?? 0,
    federates_with: ((v.federates_with as string[] | undefined) ?? []).map((td) => {
      try {
        return parseTrustDomain(td);
      } catch (err) {
        throw new AdminError(`${where}: invalid federated trust domain ${JSON.stringify(td)}: ${spiffeIdProblem(err)}`);
      }
    }),
    admin: (v.admin as boolean | undefined) ?? false,
    downstream: (v.downstream as boolean | undefined) ?? false,
    expires_at: (v.entryExpiry as number | undefined) ?? 0,
    dns_names: (v.dns_names as string[] | undefined) ?? [],
    revision_number: (v.revision_number as number | undefined) ?? 0,
    store_svid: (v.store_svid as boolean | undefined) ?? false,
    jwt_svid_ttl: (v.jwt_svid_ttl as number | undefined) ?? 0,
    hint: (v.hint as string | undefined) ?? '',
    created_at: (v.created_at as number | undefined) ?? 0,
  };
  const attrs = v.additional_attributes as Record<string, unknown> | undefined;
  if (attrs) {
    e.additional_attributes = { disable_x509_svid_prefetch: attrs.disable_x509_svid_prefetch === true, jwt_svid_include_jti: attrs.jwt_svid_include_jti === true };
  }
  return e;
}

/**
 * The entries of a registration JSON document; `source` names it in errors.
 *
 * @example
 * ```ts
 * parseEntriesJson('{"entries":[{"spiffe_id":"spiffe://example.org/w","parent_id":"spiffe://example.org/a","selectors":[{"type":"unix","value":"uid:0"}]}]}', 'e.json');
 * ```
 */
export function parseEntriesJson(text: string, source: string): apiTypes.Entry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new AdminError(`${source} is not valid JSON: ${(err as Error).message} (expected {"entries": [...]})`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new AdminError(`${source}: expected a JSON object {"entries": [...]}`);
  const key = Object.keys(doc).find((k) => k.toLowerCase() === 'entries');
  const list = key === undefined ? [] : (doc as Record<string, unknown>)[key];
  if (list === null) return [];
  if (!Array.isArray(list)) throw new AdminError(`${source}: "entries" must be a list of entries`);
  return list.map((raw, i) => entryFrom(raw, `${source}: entries[${i}]`));
}
