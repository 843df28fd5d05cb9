/** Join tokens: single use, with an expiry. */
import { alreadyExists, notFound } from './errors.js';
import { SqlError } from './dialect/types.js';
import type { Sql } from './dialect/types.js';
import { num, str } from './rows.js';
import type { Ctx } from './context.js';
import type { JoinToken } from './types.js';
import { checkInt, checkString, LIMITS } from './validation.js';

function checkToken(token: unknown): string {
  return checkString(token, 'token', LIMITS.joinTokenBytes, { required: true });
}

export async function createJoinToken(ctx: Ctx, t: JoinToken): Promise<JoinToken> {
  const token = checkToken(t?.token);
  const expiresAt = checkInt(t.expiresAt, 'expiresAt', 0, Number.MAX_SAFE_INTEGER);
  try {
    await ctx.db.exec('INSERT INTO join_tokens (token, expires_at, created_at) VALUES (?, ?, ?)', [token, expiresAt, ctx.now()]);
  } catch (err) {
    if (err instanceof SqlError && err.kind === 'unique') throw alreadyExists('join token already exists');
    throw err;
  }
  return { token, expiresAt };
}

export async function fetchJoinToken(sql: Sql, token: string, forUpdate = ''): Promise<JoinToken | null> {
  const [row] = await sql.query(`SELECT token, expires_at FROM join_tokens WHERE token = ?${forUpdate}`, [checkToken(token)]);
  return row ? { token: str(row['token']), expiresAt: num(row['expires_at']) } : null;
}

export async function deleteJoinToken(ctx: Ctx, token: string): Promise<void> {
  const n = await ctx.db.exec('DELETE FROM join_tokens WHERE token = ?', [checkToken(token)]);
  if (n === 0) throw notFound('no such join token');
}

/** Fetch and delete in one transaction: with concurrent callers exactly one gets the token. */
export function consumeJoinToken(ctx: Ctx, token: string): Promise<JoinToken | null> {
  const value = checkToken(token);
  return ctx.db.transaction(async (tx) => {
    const found = await fetchJoinToken(tx, value, ctx.db.forUpdate);
    if (!found) return null;
    const n = await tx.exec('DELETE FROM join_tokens WHERE token = ?', [value]);
    return n === 1 ? found : null;
  });
}

export function pruneJoinTokens(ctx: Ctx, expiresBefore: number): Promise<number> {
  return ctx.db.exec('DELETE FROM join_tokens WHERE expires_at < ?', [checkInt(expiresBefore, 'expiresBefore', 0, Number.MAX_SAFE_INTEGER)]);
}
