/**
 * Reading registration entries: row mapping, SPIRE's list filters rendered as
 * SQL, keyset pagination, and the authorized-entries walk.
 */
import { invalidArgument } from './errors.js';
import { placeholders } from './dialect/types.js';
import type { DialectName, Param, Sql } from './dialect/types.js';
import { bool, inChunks, jsonOf, num, selectorHashes, str } from './rows.js';
import type {
  EntryAttributes, EntryFilters, FederatesWithMatch, ListEntriesRequest, ListEntriesResponse, MatchBehavior,
  RegistrationEntry, Selector, SelectorMatch,
} from './types.js';
import {
  checkSelectors, checkSpiffeId, checkString, LIMITS, normalizeTrustDomain, trustDomainOf,
} from './validation.js';
import { keysetPage, nextPageToken } from './keyset.js';

export const ENTRY_COLUMNS =
  'e.pk, e.id, e.spiffe_id, e.parent_id, e.x509_svid_ttl, e.jwt_svid_ttl, e.admin, e.downstream, e.store_svid, e.expires_at, ' +
  'e.hint, e.revision_number, e.created_at, e.selectors, e.dns_names, e.federates_with, e.attributes';

export interface EntryRow {
  pk: number;
  entry: RegistrationEntry;
}

export function rowToEntry(r: Record<string, unknown>): EntryRow {
  const entry: RegistrationEntry = {
    id: str(r['id']),
    spiffeId: str(r['spiffe_id']),
    parentId: str(r['parent_id']),
    selectors: jsonOf<Selector[]>(r['selectors']),
    x509SvidTtl: num(r['x509_svid_ttl']),
    jwtSvidTtl: num(r['jwt_svid_ttl']),
    federatesWith: jsonOf<string[]>(r['federates_with']),
    admin: bool(r['admin']),
    downstream: bool(r['downstream']),
    dnsNames: jsonOf<string[]>(r['dns_names']),
    expiresAt: num(r['expires_at']),
    hint: str(r['hint']),
    storeSvid: bool(r['store_svid']),
    revisionNumber: num(r['revision_number']),
    createdAt: num(r['created_at']),
  };
  if (r['attributes'] !== null && r['attributes'] !== undefined) entry.additionalAttributes = jsonOf<EntryAttributes>(r['attributes']);
  return { pk: num(r['pk']), entry };
}

interface Filter {
  where: string[];
  params: Param[];
}

const MATCHES: readonly MatchBehavior[] = ['exact', 'subset', 'superset', 'any'];

function checkMatch(m: unknown, field: string): MatchBehavior {
  if (!MATCHES.includes(m as MatchBehavior)) throw invalidArgument(`${field}: match must be one of ${MATCHES.join(', ')}`);
  return m as MatchBehavior;
}

/**
 * Set matching over a child table: `driver` finds candidates by index, the
 * count enforces "contains all" and NOT EXISTS enforces "nothing else".
 */
function setMatch(f: Filter, owner: string, table: string, fk: string, col: string, values: Param[], match: MatchBehavior): void {
  const list = placeholders(values.length);
  f.where.push(`${owner} IN (SELECT x.${fk} FROM ${table} x WHERE x.${col} IN ${list})`);
  f.params.push(...values);
  if (match === 'exact' || match === 'superset') {
    f.where.push(`(SELECT COUNT(*) FROM ${table} y WHERE y.${fk} = ${owner} AND y.${col} IN ${list}) = ?`);
    f.params.push(...values, values.length);
  }
  if (match === 'exact' || match === 'subset') {
    f.where.push(`NOT EXISTS (SELECT 1 FROM ${table} z WHERE z.${fk} = ${owner} AND z.${col} NOT IN ${list})`);
    f.params.push(...values);
  }
}

export function selectorFilter(f: Filter, owner: string, table: string, fk: string, m: SelectorMatch, field: string): void {
  if (typeof m !== 'object' || m === null) throw invalidArgument(`${field}: must be an object`);
  const match = checkMatch(m.match, `${field}.match`);
  const selectors = checkSelectors(m.selectors, `${field}.selectors`, { required: true });
  setMatch(f, owner, table, fk, 'sel_hash', selectorHashes(selectors), match);
}

function federatesFilter(f: Filter, m: FederatesWithMatch): void {
  if (typeof m !== 'object' || m === null) throw invalidArgument('byFederatesWith: must be an object');
  const match = checkMatch(m.match, 'byFederatesWith.match');
  if (!Array.isArray(m.trustDomains)) throw invalidArgument('byFederatesWith.trustDomains: must be a list');
  if (m.trustDomains.length === 0) return; // as SPIRE: an empty set does not filter
  const tds = [...new Set(m.trustDomains.map((td, i) => normalizeTrustDomain(td, `byFederatesWith.trustDomains[${i}]`)))];
  setMatch(f, 'e.pk', 'entry_federates', 'entry_pk', 'trust_domain', tds, match);
}

export function entryFilter(req: EntryFilters): Filter {
  const f: Filter = { where: [], params: [] };
  if (req.byParentId !== undefined) {
    f.where.push('e.parent_id = ?');
    f.params.push(checkSpiffeId(req.byParentId, 'byParentId'));
  }
  if (req.bySpiffeId !== undefined) {
    f.where.push('e.spiffe_id = ?');
    f.params.push(checkSpiffeId(req.bySpiffeId, 'bySpiffeId'));
  }
  if (req.byHint !== undefined) {
    f.where.push('e.hint = ?');
    f.params.push(checkString(req.byHint, 'byHint', LIMITS.hintBytes));
  }
  if (req.byDownstream !== undefined) {
    f.where.push('e.downstream = ?');
    f.params.push(req.byDownstream ? 1 : 0);
  }
  if (req.bySelectors !== undefined) selectorFilter(f, 'e.pk', 'entry_selectors', 'entry_pk', req.bySelectors, 'bySelectors');
  if (req.byFederatesWith !== undefined) federatesFilter(f, req.byFederatesWith);
  return f;
}

export async function listEntries(sql: Sql, req: ListEntriesRequest): Promise<ListEntriesResponse> {
  const f = entryFilter(req);
  const { limit, pageSize } = keysetPage(f, 'e.pk', req.pagination);
  const where = f.where.length ? ` WHERE ${f.where.join(' AND ')}` : '';
  const rows = (await sql.query(`SELECT ${ENTRY_COLUMNS} FROM registered_entries e${where} ORDER BY e.pk${limit}`, f.params)).map(rowToEntry);
  const next = nextPageToken(rows, req.pagination, pageSize);
  return { entries: rows.map((r) => r.entry), nextPageToken: next };
}

export async function countEntries(sql: Sql, filters: EntryFilters): Promise<number> {
  const f = entryFilter(filters);
  const where = f.where.length ? ` WHERE ${f.where.join(' AND ')}` : '';
  const [row] = await sql.query(`SELECT COUNT(*) AS n FROM registered_entries e${where}`, f.params);
  return num(row?.['n']);
}

export async function fetchEntryRow(sql: Sql, id: string, forUpdate = ''): Promise<EntryRow | null> {
  const [row] = await sql.query(`SELECT ${ENTRY_COLUMNS} FROM registered_entries e WHERE e.id = ?${forUpdate}`, [id]);
  return row ? rowToEntry(row) : null;
}

export async function fetchEntries(sql: Sql, ids: readonly string[]): Promise<RegistrationEntry[]> {
  const unique = [...new Set(ids)];
  const rows = await inChunks(unique, 500, (chunk) =>
    sql.query(`SELECT ${ENTRY_COLUMNS} FROM registered_entries e WHERE e.id IN ${placeholders(chunk.length)}`, chunk),
  );
  const byId = new Map(rows.map((r) => [str(r['id']), rowToEntry(r).entry]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

/**
 * The agent's authorized entries, as SPIRE's entry cache computes them: the
 * descendants of the agent ID and of each node alias whose selectors are a
 * subset of the agent's selectors (aliases are entries parented by the
 * server ID). Descendants are found by parent_id, so with the parent_id index
 * the cost grows with the size of the result, not of the table.
 */
export async function listAuthorizedEntries(
  sql: Sql,
  dialect: DialectName,
  agentId: string,
  agentSelectors: readonly Selector[],
): Promise<RegistrationEntry[]> {
  const serverId = `${trustDomainOf(agentId)}/spire/server`;
  const hashes = selectorHashes(agentSelectors);
  const params: Param[] = [agentId];
  let aliases = '';
  if (hashes.length > 0) {
    const list = placeholders(hashes.length);
    aliases =
      `  UNION SELECT c.pk, c.spiffe_id FROM registered_entries c WHERE c.parent_id IN (` +
      `SELECT a.spiffe_id FROM registered_entries a WHERE a.parent_id = ?` +
      ` AND a.pk IN (SELECT s.entry_pk FROM entry_selectors s WHERE s.sel_hash IN ${list})` +
      ` AND NOT EXISTS (SELECT 1 FROM entry_selectors n WHERE n.entry_pk = a.pk AND n.sel_hash NOT IN ${list}))\n`;
    params.push(serverId, ...hashes, ...hashes);
  }
  // PostgreSQL plans the recursive step and the final fetch from a rough
  // row estimate and, on small or fresh tables, picks hash or merge joins
  // that scan the whole table. LATERAL ... OFFSET 0 pins them to per-row
  // index lookups, so the cost follows the result size at any table size.
  const pgLateral = dialect === 'postgres';
  const step = pgLateral
    ? 'UNION SELECT c.pk, c.spiffe_id FROM tree t CROSS JOIN LATERAL (SELECT x.pk, x.spiffe_id FROM registered_entries x WHERE x.parent_id = t.spiffe_id OFFSET 0) c'
    : 'UNION SELECT c.pk, c.spiffe_id FROM registered_entries c JOIN tree t ON c.parent_id = t.spiffe_id';
  const fetch = pgLateral
    ? `SELECT e.* FROM tree t CROSS JOIN LATERAL (SELECT ${ENTRY_COLUMNS} FROM registered_entries e WHERE e.pk = t.pk OFFSET 0) e ORDER BY e.pk`
    : `SELECT ${ENTRY_COLUMNS} FROM registered_entries e WHERE e.pk IN (SELECT pk FROM tree) ORDER BY e.pk`;
  const query =
    `WITH RECURSIVE tree (pk, spiffe_id) AS (\n` +
    `  SELECT c.pk, c.spiffe_id FROM registered_entries c WHERE c.parent_id = ?\n` +
    aliases +
    `  ${step}\n` +
    `)\n` +
    fetch;
  return (await sql.query(query, params)).map((r) => rowToEntry(r).entry);
}
