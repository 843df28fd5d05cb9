/**
 * Change events for entries and nodes. Ids come from a counter row that each
 * writing transaction increments as its last statement: the row lock is held
 * until commit, so ids are allocated in commit order, without gaps. A reader
 * that has seen event N has therefore seen every event below N, which lets a
 * server cache follow the log with "events after N".
 */
import type { Sql } from './dialect/types.js';
import { checkInt } from './validation.js';
import { insertMany, num, str } from './rows.js';
import { SEQUENCES } from './schema.js';
import type { EntryEvent, ListEventsRequest, NodeEvent } from './types.js';

interface EventKind {
  sequence: string;
  table: string;
  keyColumn: string;
}

export const ENTRY_EVENTS: EventKind = { sequence: SEQUENCES.entryEvents, table: 'entry_events', keyColumn: 'entry_id' };
export const NODE_EVENTS: EventKind = { sequence: SEQUENCES.nodeEvents, table: 'node_events', keyColumn: 'spiffe_id' };

/** Appends one event per key, in order. Call it last in the transaction. */
export async function appendEvents(tx: Sql, kind: EventKind, keys: readonly string[], now: number): Promise<void> {
  if (keys.length === 0) return;
  await tx.exec('UPDATE ds_sequences SET value = value + ? WHERE name = ?', [keys.length, kind.sequence]);
  const [row] = await tx.query<{ value: unknown }>('SELECT value FROM ds_sequences WHERE name = ?', [kind.sequence]);
  const first = num(row?.value) - keys.length + 1;
  await insertMany(tx, kind.table, ['id', kind.keyColumn, 'created_at'], keys.map((k, i) => [first + i, k, now]));
}

async function list(sql: Sql, kind: EventKind, req: ListEventsRequest): Promise<Array<{ id: number; key: string; createdAt: number }>> {
  const where: string[] = [];
  const params: number[] = [];
  if (req.afterId !== undefined) {
    where.push('id > ?');
    params.push(checkInt(req.afterId, 'afterId', 0, Number.MAX_SAFE_INTEGER));
  }
  if (req.beforeId !== undefined) {
    where.push('id < ?');
    params.push(checkInt(req.beforeId, 'beforeId', 0, Number.MAX_SAFE_INTEGER));
  }
  const limit = req.limit === undefined ? '' : ` LIMIT ${checkInt(req.limit, 'limit', 1, 1_000_000)}`;
  const rows = await sql.query(
    `SELECT id, ${kind.keyColumn} AS k, created_at FROM ${kind.table}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id${limit}`,
    params,
  );
  return rows.map((r) => ({ id: num(r['id']), key: str(r['k']), createdAt: num(r['created_at']) }));
}

export async function listEntryEvents(sql: Sql, req: ListEventsRequest): Promise<EntryEvent[]> {
  return (await list(sql, ENTRY_EVENTS, req)).map((e) => ({ eventId: e.id, entryId: e.key, createdAt: e.createdAt }));
}

export async function listNodeEvents(sql: Sql, req: ListEventsRequest): Promise<NodeEvent[]> {
  return (await list(sql, NODE_EVENTS, req)).map((e) => ({ eventId: e.id, spiffeId: e.key, createdAt: e.createdAt }));
}

export async function fetchEntryEvent(sql: Sql, id: number): Promise<EntryEvent | null> {
  const [e] = await list(sql, ENTRY_EVENTS, { afterId: id - 1, beforeId: id + 1 });
  return e ? { eventId: e.id, entryId: e.key, createdAt: e.createdAt } : null;
}

export async function fetchNodeEvent(sql: Sql, id: number): Promise<NodeEvent | null> {
  const [e] = await list(sql, NODE_EVENTS, { afterId: id - 1, beforeId: id + 1 });
  return e ? { eventId: e.id, spiffeId: e.key, createdAt: e.createdAt } : null;
}

/** Deletes events created before `olderThan` (Unix seconds). */
export function pruneEvents(sql: Sql, kind: EventKind, olderThan: number): Promise<number> {
  return sql.exec(`DELETE FROM ${kind.table} WHERE created_at < ?`, [checkInt(olderThan, 'olderThan', 0, Number.MAX_SAFE_INTEGER)]);
}
