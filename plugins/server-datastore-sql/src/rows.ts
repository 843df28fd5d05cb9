/** Row decoding, hashing and bulk-insert helpers shared by the repositories. */
import { createHash } from 'node:crypto';
import type { Param, Sql } from './dialect/types.js';
import type { Selector } from './types.js';

export function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v ?? 0);
}

export function bool(v: unknown): boolean {
  return Number(v) !== 0;
}

export function str(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return String(v);
}

export function bytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  return new Uint8Array(0);
}

export function jsonOf<T>(v: unknown): T {
  return JSON.parse(str(v)) as T;
}

export function flag(b: boolean): number {
  return b ? 1 : 0;
}

/** 16-byte key of a selector, used by the selector indexes. */
export function selectorHash(s: Selector): Buffer {
  return createHash('sha256').update(`${s.type}:${s.value}`).digest().subarray(0, 16);
}

/** Identity of an entry for the uniqueness rule: parent ID, SPIFFE ID and the (sorted) selector set. */
export function similarityKey(parentId: string, spiffeId: string, sortedSelectors: readonly Selector[]): Buffer {
  const h = createHash('sha256').update(parentId).update('\0').update(spiffeId);
  for (const s of sortedSelectors) h.update('\0').update(s.type).update(':').update(s.value);
  return h.digest();
}

/** Unique selector hashes of a filter. */
export function selectorHashes(list: readonly Selector[]): Buffer[] {
  const seen = new Map<string, Buffer>();
  for (const s of list) {
    const h = selectorHash(s);
    seen.set(h.toString('hex'), h);
  }
  return [...seen.values()];
}

const MAX_PARAMS = 8000;

/** Multi-row INSERT, split so no statement exceeds MAX_PARAMS parameters. */
export async function insertMany(tx: Sql, table: string, columns: readonly string[], rows: readonly (readonly Param[])[]): Promise<void> {
  if (rows.length === 0) return;
  const perStatement = Math.max(1, Math.floor(MAX_PARAMS / columns.length));
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  for (let i = 0; i < rows.length; i += perStatement) {
    const chunk = rows.slice(i, i + perStatement);
    const sql = `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${chunk.map(() => tuple).join(', ')}`;
    await tx.exec(sql, chunk.flat());
  }
}

/** Runs `fn` over `items` in chunks (for IN lists), concatenating results. */
export async function inChunks<T, R>(items: readonly T[], size: number, fn: (chunk: T[]) => Promise<R[]>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await fn(items.slice(i, i + size))));
  return out;
}
