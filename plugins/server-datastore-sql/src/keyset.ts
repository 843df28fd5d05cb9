import type { Param } from './dialect/types.js';
import type { Pagination } from './types.js';
import { checkPageSize, parsePageToken } from './validation.js';

/**
 * Keyset pagination on an auto-increment key: the token is the last key of
 * the previous page, so pages stay stable while other servers insert or
 * delete rows.
 */
export function keysetPage(
  f: { where: string[]; params: Param[] },
  pkColumn: string,
  pagination: Pagination | undefined,
): { limit: string; pageSize: number } {
  if (!pagination) return { limit: '', pageSize: 0 };
  const pageSize = checkPageSize(pagination.pageSize);
  const after = parsePageToken(pagination.token);
  if (after > 0) {
    f.where.push(`${pkColumn} > ?`);
    f.params.push(after);
  }
  return { limit: ` LIMIT ${pageSize}`, pageSize };
}

/** The token for the page after `rows` ('' when this was the last page). */
export function nextPageToken(rows: ReadonlyArray<{ pk: number }>, pagination: Pagination | undefined, pageSize: number): string {
  const last = rows[rows.length - 1];
  return pagination && last && rows.length === pageSize ? String(last.pk) : '';
}
