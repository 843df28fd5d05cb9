/**
 * Writing registration entries. Each call is one transaction: the entry rows,
 * their selector and federation rows, and the change events commit together
 * or not at all.
 */
import { aborted, alreadyExists, failedPrecondition, invalidArgument, notFound } from './errors.js';
import { placeholders, SqlError } from './dialect/types.js';
import type { Param, Sql } from './dialect/types.js';
import { applyEntryUpdate, normalizeNewEntry } from './entry-validate.js';
import type { EntryData } from './entry-validate.js';
import { ENTRY_COLUMNS, fetchEntryRow, rowToEntry } from './entry-query.js';
import { appendEvents, ENTRY_EVENTS } from './events.js';
import { flag, inChunks, insertMany, num, selectorHash, similarityKey, str } from './rows.js';
import type { Ctx } from './context.js';
import type { EntryMask, NewEntry, RegistrationEntry } from './types.js';
import { checkEntryId, checkInt } from './validation.js';

const ENTRY_INSERT_COLUMNS = [
  'id', 'spiffe_id', 'parent_id', 'similarity_key', 'x509_svid_ttl', 'jwt_svid_ttl', 'admin', 'downstream', 'store_svid',
  'expires_at', 'hint', 'revision_number', 'created_at', 'updated_at', 'selectors', 'dns_names', 'federates_with', 'attributes',
] as const;

function duplicate(existingId: string): Error {
  return alreadyExists(`an entry with the same parent ID, SPIFFE ID and selectors already exists (id ${existingId})`, { existingEntryId: existingId });
}

function mapUnique(err: unknown): unknown {
  if (err instanceof SqlError && err.kind === 'unique') {
    return alreadyExists('an entry with the same id, or the same parent ID, SPIFFE ID and selectors, already exists');
  }
  return err;
}

/** Federated trust domains must have a bundle (as SPIRE requires). */
async function requireBundles(tx: Sql, trustDomains: readonly string[]): Promise<void> {
  const wanted = [...new Set(trustDomains)];
  if (wanted.length === 0) return;
  const found = new Set(
    (await inChunks(wanted, 500, (chunk) => tx.query(`SELECT trust_domain FROM bundles WHERE trust_domain IN ${placeholders(chunk.length)}`, chunk))).map((r) =>
      str(r['trust_domain']),
    ),
  );
  const missing = wanted.filter((td) => !found.has(td));
  if (missing.length) throw failedPrecondition(`no bundle for federated trust domain ${missing.join(', ')}`);
}

async function writeChildren(tx: Sql, pk: number, e: EntryData, which: { selectors: boolean; federates: boolean }): Promise<void> {
  if (which.selectors) await insertMany(tx, 'entry_selectors', ['entry_pk', 'sel_hash', 'type', 'value'], e.selectors.map((s) => [pk, selectorHash(s), s.type, s.value]));
  if (which.federates) await insertMany(tx, 'entry_federates', ['entry_pk', 'trust_domain'], e.federatesWith.map((td) => [pk, td]));
}

export async function createEntries(ctx: Ctx, inputs: readonly NewEntry[]): Promise<RegistrationEntry[]> {
  if (!Array.isArray(inputs)) throw invalidArgument('entries: must be a list');
  if (inputs.length === 0) return [];
  const data = inputs.map((e, i) => normalizeNewEntry(e, inputs.length === 1 ? 'entry' : `entries[${i}]`));
  const keys = data.map((e) => similarityKey(e.parentId, e.spiffeId, e.selectors));
  const ids = new Set<string>();
  const sims = new Map<string, string>();
  data.forEach((e, i) => {
    if (ids.has(e.id)) throw alreadyExists(`entries[${i}]: duplicate entry id ${e.id} in the request`);
    ids.add(e.id);
    const k = (keys[i] as Buffer).toString('hex');
    const other = sims.get(k);
    if (other !== undefined) throw duplicate(other);
    sims.set(k, e.id);
  });
  const now = ctx.now();
  try {
    return await ctx.db.transaction(async (tx) => {
      await requireBundles(tx, data.flatMap((e) => e.federatesWith));
      const clash = await inChunks(keys, 500, (chunk) =>
        tx.query(`SELECT id FROM registered_entries WHERE similarity_key IN ${placeholders(chunk.length)}`, chunk),
      );
      if (clash[0]) throw duplicate(str(clash[0]['id']));
      const taken = await inChunks([...ids], 500, (chunk) => tx.query(`SELECT id FROM registered_entries WHERE id IN ${placeholders(chunk.length)}`, chunk));
      if (taken[0]) throw alreadyExists(`an entry with id ${str(taken[0]['id'])} already exists`, { existingEntryId: str(taken[0]['id']) });

      await insertMany(tx, 'registered_entries', ENTRY_INSERT_COLUMNS, data.map((e, i) => entryParams(e, keys[i] as Buffer, 0, now, now)));
      const pks = new Map(
        (await inChunks([...ids], 500, (chunk) => tx.query(`SELECT pk, id FROM registered_entries WHERE id IN ${placeholders(chunk.length)}`, chunk))).map(
          (r) => [str(r['id']), num(r['pk'])],
        ),
      );
      const pkOf = (e: EntryData): number => pks.get(e.id) as number;
      await insertMany(tx, 'entry_selectors', ['entry_pk', 'sel_hash', 'type', 'value'], data.flatMap((e) => e.selectors.map((s) => [pkOf(e), selectorHash(s), s.type, s.value])));
      await insertMany(tx, 'entry_federates', ['entry_pk', 'trust_domain'], data.flatMap((e) => e.federatesWith.map((td) => [pkOf(e), td])));
      await appendEvents(tx, ENTRY_EVENTS, data.map((e) => e.id), now);
      return data.map((e) => ({ ...e, revisionNumber: 0, createdAt: now }));
    });
  } catch (err) {
    throw mapUnique(err);
  }
}

function entryParams(e: EntryData, key: Buffer, revision: number, createdAt: number, updatedAt: number): Param[] {
  return [
    e.id, e.spiffeId, e.parentId, key, e.x509SvidTtl, e.jwtSvidTtl, flag(e.admin), flag(e.downstream), flag(e.storeSvid), e.expiresAt,
    e.hint, revision, createdAt, updatedAt, JSON.stringify(e.selectors), JSON.stringify(e.dnsNames), JSON.stringify(e.federatesWith),
    e.additionalAttributes ? JSON.stringify(e.additionalAttributes) : null,
  ];
}

export async function updateEntry(
  ctx: Ctx,
  update: Partial<RegistrationEntry> & { id: string },
  mask: EntryMask | undefined,
  expectedRevision: number | undefined,
): Promise<RegistrationEntry> {
  if (typeof update !== 'object' || update === null) throw invalidArgument('entry: is required');
  const id = checkEntryId(update.id);
  if (expectedRevision !== undefined) checkInt(expectedRevision, 'expectedRevision', 0, Number.MAX_SAFE_INTEGER);
  const now = ctx.now();
  try {
    return await ctx.db.transaction(async (tx) => {
      const row = await fetchEntryRow(tx, id, ctx.db.forUpdate);
      if (!row) throw notFound(`no registration entry with id ${id}`);
      const current = row.entry;
      if (expectedRevision !== undefined && current.revisionNumber !== expectedRevision) {
        throw aborted(`registration entry ${id} is at revision ${current.revisionNumber}, not ${expectedRevision}`, {
          currentRevision: current.revisionNumber,
        });
      }
      const next = applyEntryUpdate(current, update, mask, 'entry');
      const selectorsChanged = JSON.stringify(next.selectors) !== JSON.stringify(current.selectors);
      const federatesChanged = JSON.stringify(next.federatesWith) !== JSON.stringify(current.federatesWith);
      if (federatesChanged) await requireBundles(tx, next.federatesWith);
      const key = similarityKey(next.parentId, next.spiffeId, next.selectors);
      const [clash] = await tx.query('SELECT id FROM registered_entries WHERE similarity_key = ? AND pk <> ?', [key, row.pk]);
      if (clash) throw duplicate(str(clash['id']));
      const revision = current.revisionNumber + 1;
      const p = entryParams(next, key, revision, current.createdAt, now);
      await tx.exec(
        `UPDATE registered_entries SET ${ENTRY_INSERT_COLUMNS.slice(1).map((c) => `${c} = ?`).join(', ')} WHERE pk = ?`,
        [...p.slice(1), row.pk],
      );
      if (selectorsChanged) await tx.exec('DELETE FROM entry_selectors WHERE entry_pk = ?', [row.pk]);
      if (federatesChanged) await tx.exec('DELETE FROM entry_federates WHERE entry_pk = ?', [row.pk]);
      await writeChildren(tx, row.pk, next, { selectors: selectorsChanged, federates: federatesChanged });
      await appendEvents(tx, ENTRY_EVENTS, [id], now);
      return { ...next, revisionNumber: revision, createdAt: current.createdAt };
    });
  } catch (err) {
    throw mapUnique(err);
  }
}

/** Deletes entries by primary key with their child rows; the caller appends events. */
export async function deleteEntryRows(tx: Sql, pks: readonly number[]): Promise<void> {
  await inChunks(pks, 500, async (chunk) => {
    const list = placeholders(chunk.length);
    await tx.exec(`DELETE FROM entry_selectors WHERE entry_pk IN ${list}`, chunk);
    await tx.exec(`DELETE FROM entry_federates WHERE entry_pk IN ${list}`, chunk);
    await tx.exec(`DELETE FROM registered_entries WHERE pk IN ${list}`, chunk);
    return [];
  });
}

export async function deleteEntry(ctx: Ctx, id: string): Promise<RegistrationEntry> {
  checkEntryId(id);
  const now = ctx.now();
  return ctx.db.transaction(async (tx) => {
    const row = await fetchEntryRow(tx, id, ctx.db.forUpdate);
    if (!row) throw notFound(`no registration entry with id ${id}`);
    await deleteEntryRows(tx, [row.pk]);
    await appendEvents(tx, ENTRY_EVENTS, [id], now);
    return row.entry;
  });
}

const PRUNE_BATCH = 1000;

export async function pruneEntries(ctx: Ctx, expiresBefore: number): Promise<number> {
  checkInt(expiresBefore, 'expiresBefore', 0, Number.MAX_SAFE_INTEGER);
  let total = 0;
  for (;;) {
    const now = ctx.now();
    const pruned = await ctx.db.transaction(async (tx) => {
      const rows = (
        await tx.query(
          `SELECT ${ENTRY_COLUMNS} FROM registered_entries e WHERE e.expires_at > 0 AND e.expires_at < ? ORDER BY e.pk LIMIT ${PRUNE_BATCH}${ctx.db.forUpdate}`,
          [expiresBefore],
        )
      ).map(rowToEntry);
      await deleteEntryRows(tx, rows.map((r) => r.pk));
      await appendEvents(tx, ENTRY_EVENTS, rows.map((r) => r.entry.id), now);
      return rows.map((r) => r.entry);
    });
    for (const e of pruned) ctx.log.info('pruned an expired registration entry', { entry_id: e.id, spiffe_id: e.spiffeId, parent_id: e.parentId });
    total += pruned.length;
    if (pruned.length < PRUNE_BATCH) return total;
  }
}
