/** The CA journal: opaque records keyed by id, found by active authority. */
import { invalidArgument, notFound } from './errors.js';
import type { Sql } from './dialect/types.js';
import { bytes, num, str } from './rows.js';
import type { Ctx } from './context.js';
import type { CAJournal, CAJournalInput } from './types.js';
import { checkBytes, checkInt, checkString, LIMITS } from './validation.js';

const COLUMNS = 'id, data, active_x509_authority_id, active_jwt_authority_id, expires_at';

function rowToJournal(r: Record<string, unknown>): CAJournal {
  return {
    id: num(r['id']),
    data: bytes(r['data']),
    activeX509AuthorityId: str(r['active_x509_authority_id']),
    activeJwtAuthorityId: str(r['active_jwt_authority_id']),
    expiresAt: num(r['expires_at']),
  };
}

export async function setCAJournal(ctx: Ctx, j: CAJournalInput): Promise<CAJournal> {
  if (typeof j !== 'object' || j === null) throw invalidArgument('CA journal is required');
  const out: CAJournal = {
    id: checkInt(j.id, 'id', 0, Number.MAX_SAFE_INTEGER),
    data: new Uint8Array(checkBytes(j.data, 'data', LIMITS.blobBytes)),
    activeX509AuthorityId: checkString(j.activeX509AuthorityId, 'activeX509AuthorityId', LIMITS.shortStringBytes),
    activeJwtAuthorityId: checkString(j.activeJwtAuthorityId, 'activeJwtAuthorityId', LIMITS.shortStringBytes),
    expiresAt: checkInt(j.expiresAt, 'expiresAt', 0, Number.MAX_SAFE_INTEGER),
  };
  const now = ctx.now();
  if (out.id === 0) {
    out.id = await ctx.db.insert(
      'INSERT INTO ca_journals (data, active_x509_authority_id, active_jwt_authority_id, expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
      [out.data, out.activeX509AuthorityId, out.activeJwtAuthorityId, out.expiresAt, now, now],
      'id',
    );
    return out;
  }
  const n = await ctx.db.exec(
    'UPDATE ca_journals SET data = ?, active_x509_authority_id = ?, active_jwt_authority_id = ?, expires_at = ?, updated_at = ? WHERE id = ?',
    [out.data, out.activeX509AuthorityId, out.activeJwtAuthorityId, out.expiresAt, now, out.id],
  );
  if (n === 0) throw notFound(`no CA journal with id ${out.id}`);
  return out;
}

export async function fetchCAJournal(sql: Sql, activeX509AuthorityId: string): Promise<CAJournal | null> {
  const id = checkString(activeX509AuthorityId, 'activeX509AuthorityId', LIMITS.shortStringBytes, { required: true });
  const [row] = await sql.query(`SELECT ${COLUMNS} FROM ca_journals WHERE active_x509_authority_id = ? ORDER BY id DESC LIMIT 1`, [id]);
  return row ? rowToJournal(row) : null;
}

export async function fetchLatestCAJournal(sql: Sql): Promise<CAJournal | null> {
  const [row] = await sql.query(`SELECT ${COLUMNS} FROM ca_journals ORDER BY id DESC LIMIT 1`);
  return row ? rowToJournal(row) : null;
}

export async function listCAJournals(sql: Sql): Promise<CAJournal[]> {
  return (await sql.query(`SELECT ${COLUMNS} FROM ca_journals ORDER BY id`)).map(rowToJournal);
}

export async function deleteCAJournal(ctx: Ctx, id: number): Promise<void> {
  const n = await ctx.db.exec('DELETE FROM ca_journals WHERE id = ?', [checkInt(id, 'id', 1, Number.MAX_SAFE_INTEGER)]);
  if (n === 0) throw notFound(`no CA journal with id ${id}`);
}

export async function pruneCAJournals(ctx: Ctx, allExpireBefore: number): Promise<number> {
  const rows = await ctx.db.query('SELECT id FROM ca_journals WHERE expires_at > 0 AND expires_at < ?', [
    checkInt(allExpireBefore, 'allExpireBefore', 0, Number.MAX_SAFE_INTEGER),
  ]);
  let pruned = 0;
  for (const r of rows) {
    pruned += await ctx.db.exec('DELETE FROM ca_journals WHERE id = ?', [num(r['id'])]);
    ctx.log.info('pruned stale CA journal record', { ca_journal_id: num(r['id']) });
  }
  return pruned;
}
