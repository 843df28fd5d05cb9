/** Bundle persistence. Read-modify-write operations lock the bundle row. */
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from './errors.js';
import { SqlError } from './dialect/types.js';
import type { Sql } from './dialect/types.js';
import {
  decodeBundleData, encodeBundleData, mergeBundles, normalizeBundle, pruneBundleAuthorities, revokeJwt, revokeX509, taintJwt, taintX509,
} from './bundle-logic.js';
import { deleteEntryRows } from './entries.js';
import { appendEvents, ENTRY_EVENTS } from './events.js';
import { num, str } from './rows.js';
import type { Ctx } from './context.js';
import type { Bundle, BundleDeleteMode, BundleMask, JwtAuthority, ListBundlesResponse, NewBundle, Pagination } from './types.js';
import { checkInt, checkPageSize, checkString, LIMITS, normalizeTrustDomain, parsePageToken } from './validation.js';

const COLUMNS = 'pk, trust_domain, data, refresh_hint, sequence_number';

function rowToBundle(r: Record<string, unknown>): Bundle {
  return decodeBundleData(str(r['trust_domain']), str(r['data']), num(r['refresh_hint']), num(r['sequence_number']));
}

export async function readBundle(sql: Sql, trustDomain: string, forUpdate = ''): Promise<Bundle | null> {
  const [row] = await sql.query(`SELECT ${COLUMNS} FROM bundles WHERE trust_domain = ?${forUpdate}`, [trustDomain]);
  return row ? rowToBundle(row) : null;
}

async function insertBundle(tx: Sql, b: Bundle, now: number, onConflict?: () => never): Promise<void> {
  try {
    await tx.exec('INSERT INTO bundles (trust_domain, data, refresh_hint, sequence_number, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)', [
      b.trustDomain, encodeBundleData(b), b.refreshHint, b.sequenceNumber, now, now,
    ]);
  } catch (err) {
    if (err instanceof SqlError && err.kind === 'unique') {
      onConflict?.();
      throw alreadyExists(`bundle for ${b.trustDomain} already exists`);
    }
    throw err;
  }
}

async function writeBundle(tx: Sql, b: Bundle, now: number): Promise<void> {
  await tx.exec('UPDATE bundles SET data = ?, refresh_hint = ?, sequence_number = ?, updated_at = ? WHERE trust_domain = ?', [
    encodeBundleData(b), b.refreshHint, b.sequenceNumber, now, b.trustDomain,
  ]);
}

export function createBundle(ctx: Ctx, input: NewBundle): Promise<Bundle> {
  const b = normalizeBundle(input);
  const now = ctx.now();
  return ctx.db.transaction(async (tx) => {
    await insertBundle(tx, b, now);
    return b;
  });
}

/** Creates or replaces, inside the caller's transaction; `onConflict` is called if another writer inserted it meanwhile. */
export async function setBundleIn(tx: Sql, b: Bundle, forUpdate: string, now: number, onConflict?: () => never): Promise<Bundle> {
  const existing = await readBundle(tx, b.trustDomain, forUpdate);
  if (existing) await writeBundle(tx, b, now);
  else await insertBundle(tx, b, now, onConflict);
  return b;
}

/** Thrown by {@link insertBundle} when another writer inserted the same trust domain first. */
class InsertRace extends Error {}

/**
 * Runs a create-or-modify transaction again when it lost an insert race: a
 * locking read of a row that does not exist yet locks nothing, so two
 * servers publishing the first bundle of a trust domain at once can both
 * try to insert it. The retry finds the row and takes the update path.
 */
async function retryInsertRace<T>(attempt: (onConflict: () => never) => Promise<T>): Promise<T> {
  const raced = (): never => {
    throw new InsertRace();
  };
  for (let i = 0; ; i++) {
    try {
      return await attempt(raced);
    } catch (err) {
      if (!(err instanceof InsertRace)) throw err;
      if (i >= 2) throw alreadyExists('bundle was created concurrently and could not be updated; retry');
    }
  }
}

export function setBundle(ctx: Ctx, input: NewBundle): Promise<Bundle> {
  const b = normalizeBundle(input);
  const now = ctx.now();
  return retryInsertRace((raced) => ctx.db.transaction((tx) => setBundleIn(tx, b, ctx.db.forUpdate, now, raced)));
}

export function updateBundle(ctx: Ctx, input: NewBundle, mask: BundleMask | undefined): Promise<Bundle> {
  const b = normalizeBundle(input);
  const now = ctx.now();
  return ctx.db.transaction(async (tx) => {
    const current = await readBundle(tx, b.trustDomain, ctx.db.forUpdate);
    if (!current) throw notFound(`no bundle for ${b.trustDomain}`);
    const next: Bundle = {
      trustDomain: current.trustDomain,
      x509Authorities: !mask || mask.x509Authorities ? b.x509Authorities : current.x509Authorities,
      jwtAuthorities: !mask || mask.jwtAuthorities ? b.jwtAuthorities : current.jwtAuthorities,
      refreshHint: !mask || mask.refreshHint ? b.refreshHint : current.refreshHint,
      sequenceNumber: !mask || mask.sequenceNumber ? b.sequenceNumber : current.sequenceNumber,
    };
    await writeBundle(tx, next, now);
    return next;
  });
}

export function appendBundle(ctx: Ctx, input: NewBundle): Promise<Bundle> {
  const b = normalizeBundle(input);
  const now = ctx.now();
  return retryInsertRace((raced) =>
    ctx.db.transaction(async (tx) => {
      const current = await readBundle(tx, b.trustDomain, ctx.db.forUpdate);
      if (!current) {
        await insertBundle(tx, b, now, raced);
        return b;
      }
      const { bundle, changed } = mergeBundles(current, b);
      if (changed) await writeBundle(tx, bundle, now);
      return bundle;
    }),
  );
}

export async function listBundles(sql: Sql, pagination: Pagination | undefined): Promise<ListBundlesResponse> {
  let where = '';
  let limit = '';
  const params: number[] = [];
  if (pagination) {
    const after = parsePageToken(pagination.token);
    where = ' WHERE pk > ?';
    params.push(after);
    limit = ` LIMIT ${checkPageSize(pagination.pageSize)}`;
  }
  const rows = await sql.query(`SELECT ${COLUMNS} FROM bundles${where} ORDER BY pk${limit}`, params);
  const last = rows[rows.length - 1];
  const full = pagination && last && rows.length === checkPageSize(pagination.pageSize);
  return { bundles: rows.map(rowToBundle), nextPageToken: full ? String(num(last['pk'])) : '' };
}

export async function countBundles(sql: Sql): Promise<number> {
  const [row] = await sql.query('SELECT COUNT(*) AS n FROM bundles');
  return num(row?.['n']);
}

const MODES: readonly BundleDeleteMode[] = ['restrict', 'delete', 'dissociate'];

export async function deleteBundle(ctx: Ctx, trustDomain: string, mode: BundleDeleteMode = 'restrict'): Promise<void> {
  const td = normalizeTrustDomain(trustDomain, 'trustDomain');
  if (!MODES.includes(mode)) throw invalidArgument(`mode: must be one of ${MODES.join(', ')}`);
  const now = ctx.now();
  await ctx.db.transaction(async (tx) => {
    if (!(await readBundle(tx, td, ctx.db.forUpdate))) throw notFound(`no bundle for ${td}`);
    const rows = await tx.query(
      'SELECT e.pk, e.id, e.federates_with FROM registered_entries e WHERE e.pk IN (SELECT f.entry_pk FROM entry_federates f WHERE f.trust_domain = ?) ORDER BY e.pk',
      [td],
    );
    if (rows.length > 0) {
      if (mode === 'restrict') throw failedPrecondition(`cannot delete bundle ${td}: ${rows.length} registration entries federate with it`);
      if (mode === 'delete') await deleteEntryRows(tx, rows.map((r) => num(r['pk'])));
      else {
        await tx.exec('DELETE FROM entry_federates WHERE trust_domain = ?', [td]);
        for (const r of rows) {
          const remaining = (JSON.parse(str(r['federates_with'])) as string[]).filter((t) => t !== td);
          await tx.exec('UPDATE registered_entries SET federates_with = ?, revision_number = revision_number + 1, updated_at = ? WHERE pk = ?', [
            JSON.stringify(remaining), now, num(r['pk']),
          ]);
        }
      }
      await appendEvents(tx, ENTRY_EVENTS, rows.map((r) => str(r['id'])), now);
    }
    await tx.exec('DELETE FROM bundles WHERE trust_domain = ?', [td]);
  });
}

/** Read-modify-write of one bundle; `change` returns the new bundle or null for "unchanged". */
async function modify<T>(ctx: Ctx, trustDomain: string, change: (b: Bundle) => { bundle: Bundle | null; result: T }): Promise<T> {
  const td = normalizeTrustDomain(trustDomain, 'trustDomain');
  const now = ctx.now();
  return ctx.db.transaction(async (tx) => {
    const current = await readBundle(tx, td, ctx.db.forUpdate);
    if (!current) throw notFound(`no bundle for ${td}`);
    const { bundle, result } = change(current);
    if (bundle) await writeBundle(tx, bundle, now);
    return result;
  });
}

export function pruneBundle(ctx: Ctx, trustDomain: string, expiresBefore: number): Promise<boolean> {
  const td = normalizeTrustDomain(trustDomain, 'trustDomain');
  checkInt(expiresBefore, 'expiresBefore', 0, Number.MAX_SAFE_INTEGER);
  const now = ctx.now();
  return ctx.db.transaction(async (tx) => {
    const current = await readBundle(tx, td, ctx.db.forUpdate);
    if (!current) return false; // as SPIRE: nothing to prune
    const { bundle, changed } = pruneBundleAuthorities(current, expiresBefore);
    if (changed) await writeBundle(tx, bundle, now);
    return changed;
  });
}

function keyArg(v: string, field: string): string {
  return checkString(v, field, LIMITS.shortStringBytes, { required: true });
}

export async function taintX509Authority(ctx: Ctx, td: string, ski: string): Promise<void> {
  const id = keyArg(ski, 'subjectKeyId');
  await modify(ctx, td, (b) => ({ bundle: taintX509(b, id), result: undefined }));
}

export async function revokeX509Authority(ctx: Ctx, td: string, ski: string): Promise<void> {
  const id = keyArg(ski, 'subjectKeyId');
  await modify(ctx, td, (b) => ({ bundle: revokeX509(b, id), result: undefined }));
}

export function taintJwtAuthority(ctx: Ctx, td: string, keyId: string): Promise<JwtAuthority> {
  const id = keyArg(keyId, 'keyId');
  return modify(ctx, td, (b) => {
    const r = taintJwt(b, id);
    return { bundle: r.bundle, result: r.key };
  });
}

export function revokeJwtAuthority(ctx: Ctx, td: string, keyId: string): Promise<JwtAuthority> {
  const id = keyArg(keyId, 'keyId');
  return modify(ctx, td, (b) => {
    const r = revokeJwt(b, id);
    return { bundle: r.bundle, result: r.key };
  });
}
