/** Attested nodes and their selectors; every change appends a node event. */
import { alreadyExists, invalidArgument, notFound } from './errors.js';
import { placeholders, SqlError } from './dialect/types.js';
import type { Param, Sql } from './dialect/types.js';
import { selectorFilter } from './entry-query.js';
import { appendEvents, NODE_EVENTS } from './events.js';
import { bool, flag, inChunks, insertMany, num, selectorHash, str } from './rows.js';
import type { Ctx } from './context.js';
import type { AttestedNode, ListNodesRequest, ListNodesResponse, NewNode, NodeFilters, NodeMask, PruneNodesOptions, Selector } from './types.js';
import { checkBool, checkInt, checkSelectors, checkSpiffeId, checkString, compareSelectors, LIMITS } from './validation.js';
import { keysetPage, nextPageToken } from './keyset.js';

const NODE_COLUMNS = 'n.pk, n.spiffe_id, n.attestation_type, n.serial_number, n.expires_at, n.new_serial_number, n.new_expires_at, n.can_reattest, n.agent_version';

function rowToNode(r: Record<string, unknown>): AttestedNode & { pk: number } {
  const serial = str(r['serial_number']);
  return {
    pk: num(r['pk']),
    spiffeId: str(r['spiffe_id']),
    attestationDataType: str(r['attestation_type']),
    certSerialNumber: serial,
    certNotAfter: num(r['expires_at']),
    newCertSerialNumber: str(r['new_serial_number']),
    newCertNotAfter: num(r['new_expires_at']),
    canReattest: bool(r['can_reattest']),
    agentVersion: str(r['agent_version']),
    banned: serial === '',
  };
}

function publicNode(n: AttestedNode & { pk?: number }): AttestedNode {
  const { pk: _pk, ...rest } = n;
  return rest;
}

type NodeData = Omit<AttestedNode, 'banned' | 'selectors'>;

function checkNodeData(n: NodeData): NodeData {
  const s = (v: unknown, f: string): string => checkString(v, `node.${f}`, LIMITS.shortStringBytes);
  const t = (v: unknown, f: string): number => checkInt(v, `node.${f}`, 0, Number.MAX_SAFE_INTEGER);
  return {
    spiffeId: checkSpiffeId(n.spiffeId, 'node.spiffeId'),
    attestationDataType: s(n.attestationDataType, 'attestationDataType'),
    certSerialNumber: s(n.certSerialNumber, 'certSerialNumber'),
    certNotAfter: t(n.certNotAfter, 'certNotAfter'),
    newCertSerialNumber: s(n.newCertSerialNumber, 'newCertSerialNumber'),
    newCertNotAfter: t(n.newCertNotAfter, 'newCertNotAfter'),
    canReattest: checkBool(n.canReattest, 'node.canReattest'),
    agentVersion: s(n.agentVersion, 'agentVersion'),
  };
}

async function writeSelectors(tx: Sql, spiffeId: string, selectors: readonly Selector[]): Promise<void> {
  await tx.exec('DELETE FROM node_selectors WHERE spiffe_id = ?', [spiffeId]);
  await insertMany(tx, 'node_selectors', ['spiffe_id', 'sel_hash', 'type', 'value'], selectors.map((s) => [spiffeId, selectorHash(s), s.type, s.value]));
}

export async function createNode(ctx: Ctx, input: NewNode): Promise<AttestedNode> {
  if (typeof input !== 'object' || input === null) throw invalidArgument('node: is required');
  const n = checkNodeData(input as NodeData);
  const selectors = input.selectors === undefined ? undefined : checkSelectors(input.selectors, 'node.selectors', { required: false });
  const now = ctx.now();
  try {
    await ctx.db.transaction(async (tx) => {
      await tx.exec(
        'INSERT INTO attested_nodes (spiffe_id, attestation_type, serial_number, expires_at, new_serial_number, new_expires_at, can_reattest, agent_version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [n.spiffeId, n.attestationDataType, n.certSerialNumber, n.certNotAfter, n.newCertSerialNumber, n.newCertNotAfter, flag(n.canReattest), n.agentVersion, now, now],
      );
      if (selectors) await writeSelectors(tx, n.spiffeId, selectors);
      await appendEvents(tx, NODE_EVENTS, [n.spiffeId], now);
    });
  } catch (err) {
    if (err instanceof SqlError && err.kind === 'unique') throw alreadyExists(`attested node ${n.spiffeId} already exists`);
    throw err;
  }
  const out: AttestedNode = { ...n, banned: n.certSerialNumber === '' };
  if (selectors) out.selectors = selectors;
  return out;
}

async function selectorsOf(sql: Sql, ids: readonly string[]): Promise<Map<string, Selector[]>> {
  const out = new Map<string, Selector[]>(ids.map((id) => [id, []]));
  const rows = await inChunks([...new Set(ids)], 500, (chunk) =>
    sql.query(`SELECT spiffe_id, type, value FROM node_selectors WHERE spiffe_id IN ${placeholders(chunk.length)}`, chunk),
  );
  for (const r of rows) out.get(str(r['spiffe_id']))?.push({ type: str(r['type']), value: str(r['value']) });
  for (const list of out.values()) list.sort(compareSelectors);
  return out;
}

export async function fetchNode(sql: Sql, spiffeId: string, fetchSelectors: boolean): Promise<AttestedNode | null> {
  checkSpiffeId(spiffeId, 'spiffeId');
  const [row] = await sql.query(`SELECT ${NODE_COLUMNS} FROM attested_nodes n WHERE n.spiffe_id = ?`, [spiffeId]);
  if (!row) return null;
  const node = publicNode(rowToNode(row));
  if (fetchSelectors) node.selectors = (await selectorsOf(sql, [spiffeId])).get(spiffeId) ?? [];
  return node;
}

export async function fetchNodes(sql: Sql, spiffeIds: readonly string[]): Promise<AttestedNode[]> {
  spiffeIds.forEach((id, i) => checkSpiffeId(id, `spiffeIds[${i}]`));
  const rows = await inChunks([...new Set(spiffeIds)], 500, (chunk) =>
    sql.query(`SELECT ${NODE_COLUMNS} FROM attested_nodes n WHERE n.spiffe_id IN ${placeholders(chunk.length)}`, chunk),
  );
  const nodes = new Map(rows.map((r) => [str(r['spiffe_id']), publicNode(rowToNode(r))]));
  const sels = await selectorsOf(sql, [...nodes.keys()]);
  for (const [id, n] of nodes) n.selectors = sels.get(id) ?? [];
  return spiffeIds.flatMap((id) => nodes.get(id) ?? []);
}

function nodeFilter(req: NodeFilters): { where: string[]; params: Param[] } {
  const f = { where: [] as string[], params: [] as Param[] };
  if (req.byAttestationType !== undefined) {
    f.where.push('n.attestation_type = ?');
    f.params.push(checkString(req.byAttestationType, 'byAttestationType', LIMITS.shortStringBytes));
  }
  if (req.byBanned !== undefined) f.where.push(checkBool(req.byBanned, 'byBanned') ? "n.serial_number = ''" : "n.serial_number <> ''");
  if (req.byExpiresBefore !== undefined) {
    f.where.push('n.expires_at < ?');
    f.params.push(checkInt(req.byExpiresBefore, 'byExpiresBefore', 0, Number.MAX_SAFE_INTEGER));
  }
  if (req.byCanReattest !== undefined) {
    f.where.push('n.can_reattest = ?');
    f.params.push(flag(checkBool(req.byCanReattest, 'byCanReattest')));
  }
  if (req.bySelectorMatch !== undefined) selectorFilter(f, 'n.spiffe_id', 'node_selectors', 'spiffe_id', req.bySelectorMatch, 'bySelectorMatch');
  return f;
}

export async function listNodes(sql: Sql, req: ListNodesRequest): Promise<ListNodesResponse> {
  const f = nodeFilter(req);
  const { limit, pageSize } = keysetPage(f, 'n.pk', req.pagination);
  const where = f.where.length ? ` WHERE ${f.where.join(' AND ')}` : '';
  const rows = (await sql.query(`SELECT ${NODE_COLUMNS} FROM attested_nodes n${where} ORDER BY n.pk${limit}`, f.params)).map(rowToNode);
  const next = nextPageToken(rows, req.pagination, pageSize);
  const nodes = rows.map(publicNode);
  if (req.fetchSelectors) {
    const sels = await selectorsOf(sql, nodes.map((n) => n.spiffeId));
    for (const n of nodes) n.selectors = sels.get(n.spiffeId) ?? [];
  }
  return { nodes, nextPageToken: next };
}

export async function countNodes(sql: Sql, filters: NodeFilters): Promise<number> {
  const f = nodeFilter(filters);
  const where = f.where.length ? ` WHERE ${f.where.join(' AND ')}` : '';
  const [row] = await sql.query(`SELECT COUNT(*) AS n FROM attested_nodes n${where}`, f.params);
  return num(row?.['n']);
}

const NODE_MASK_COLUMNS: Array<[keyof NodeMask, string]> = [
  ['attestationDataType', 'attestation_type'], ['certSerialNumber', 'serial_number'], ['certNotAfter', 'expires_at'],
  ['newCertSerialNumber', 'new_serial_number'], ['newCertNotAfter', 'new_expires_at'], ['canReattest', 'can_reattest'], ['agentVersion', 'agent_version'],
];

export async function updateNode(ctx: Ctx, update: Partial<AttestedNode> & { spiffeId: string }, mask: NodeMask | undefined): Promise<AttestedNode> {
  if (typeof update !== 'object' || update === null) throw invalidArgument('node: is required');
  const spiffeId = checkSpiffeId(update.spiffeId, 'node.spiffeId');
  const now = ctx.now();
  return ctx.db.transaction(async (tx) => {
    const [row] = await tx.query(`SELECT ${NODE_COLUMNS} FROM attested_nodes n WHERE n.spiffe_id = ?${ctx.db.forUpdate}`, [spiffeId]);
    if (!row) throw notFound(`no attested node ${spiffeId}`);
    const current = publicNode(rowToNode(row));
    const merged: Record<string, unknown> = { ...current };
    for (const [key] of NODE_MASK_COLUMNS) if (!mask || mask[key]) merged[key] = update[key];
    const next = checkNodeData(merged as NodeData);
    const sets = NODE_MASK_COLUMNS.map(([, col]) => `${col} = ?`).join(', ');
    await tx.exec(`UPDATE attested_nodes SET ${sets}, updated_at = ? WHERE spiffe_id = ?`, [
      next.attestationDataType, next.certSerialNumber, next.certNotAfter, next.newCertSerialNumber, next.newCertNotAfter,
      flag(next.canReattest), next.agentVersion, now, spiffeId,
    ]);
    await appendEvents(tx, NODE_EVENTS, [spiffeId], now);
    return { ...next, banned: next.certSerialNumber === '' };
  });
}

export async function deleteNode(ctx: Ctx, spiffeId: string): Promise<AttestedNode> {
  checkSpiffeId(spiffeId, 'spiffeId');
  const now = ctx.now();
  return ctx.db.transaction(async (tx) => {
    const [row] = await tx.query(`SELECT ${NODE_COLUMNS} FROM attested_nodes n WHERE n.spiffe_id = ?${ctx.db.forUpdate}`, [spiffeId]);
    if (!row) throw notFound(`no attested node ${spiffeId}`);
    await tx.exec('DELETE FROM node_selectors WHERE spiffe_id = ?', [spiffeId]);
    await tx.exec('DELETE FROM attested_nodes WHERE spiffe_id = ?', [spiffeId]);
    await appendEvents(tx, NODE_EVENTS, [spiffeId], now);
    return publicNode(rowToNode(row));
  });
}

export async function setNodeSelectors(ctx: Ctx, spiffeId: string, selectors: Selector[]): Promise<void> {
  checkSpiffeId(spiffeId, 'spiffeId');
  const list = checkSelectors(selectors, 'selectors', { required: false });
  const now = ctx.now();
  await ctx.db.transaction(async (tx) => {
    // The event goes first: its counter row lock serialises concurrent
    // replacements of one node's selectors (the node row may not exist).
    await appendEvents(tx, NODE_EVENTS, [spiffeId], now);
    await writeSelectors(tx, spiffeId, list);
  });
}

export async function getNodeSelectors(sql: Sql, spiffeId: string): Promise<Selector[]> {
  checkSpiffeId(spiffeId, 'spiffeId');
  return (await selectorsOf(sql, [spiffeId])).get(spiffeId) ?? [];
}

export async function pruneNodes(ctx: Ctx, expiredBefore: number, opts: PruneNodesOptions): Promise<number> {
  checkInt(expiredBefore, 'expiredBefore', 0, Number.MAX_SAFE_INTEGER);
  const batch = checkInt(opts.batchSize ?? 1000, 'batchSize', 1, 100_000);
  const now = ctx.now();
  const pruned = await ctx.db.transaction(async (tx) => {
    const reattest = opts.includeNonReattestable ? '' : ' AND n.can_reattest = 1';
    const rows = await tx.query(
      `SELECT n.spiffe_id FROM attested_nodes n WHERE n.expires_at < ? AND n.serial_number <> ''${reattest} ORDER BY n.pk LIMIT ${batch}${ctx.db.forUpdate}`,
      [expiredBefore],
    );
    const ids = rows.map((r) => str(r['spiffe_id']));
    await inChunks(ids, 500, async (chunk) => {
      await tx.exec(`DELETE FROM node_selectors WHERE spiffe_id IN ${placeholders(chunk.length)}`, chunk);
      await tx.exec(`DELETE FROM attested_nodes WHERE spiffe_id IN ${placeholders(chunk.length)}`, chunk);
      return [];
    });
    await appendEvents(tx, NODE_EVENTS, ids, now);
    return ids;
  });
  if (pruned.length) ctx.log.info('pruned expired agents', { count: pruned.length });
  return pruned.length;
}
