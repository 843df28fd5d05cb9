/**
 * Helpers shared by the schema builders: issue reporting, key paths,
 * "did you mean" suggestions and the handling of repeated keys.
 *
 * @module
 */

import type { ConfigIssue, IssueCode } from './issues.js';
import { formatPos } from './issues.js';
import { quoteShort } from './lexer.js';
import type { ConfigNode, ObjectEntry, Pos } from './nodes.js';
import { INVALID } from './schema.js';
import type { DecodeContext, Invalid, KeyPath, Presence, Schema } from './schema.js';

/**
 * Formats a key path with dots (`plugins.KeyManager.disk.plugin_data`), list
 * indexes as `[i]`, and keys that are not plain words JSON-quoted.
 *
 * @example
 * ```ts
 * formatPath(['server', 'admin_ids', 1]); // 'server.admin_ids[1]'
 * formatPath(['a', 'b.c']);              // 'a."b.c"'
 * ```
 */
export function formatPath(path: KeyPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const text = /^[\p{L}\p{N}_-]+$/u.test(seg) ? seg : JSON.stringify(seg);
      out += out ? `.${text}` : text;
    }
  }
  return out;
}

export function report(ctx: DecodeContext, code: IssueCode, path: KeyPath, pos: Pos, message: string, severity: 'error' | 'warning' = 'error'): void {
  const issue: ConfigIssue = { code, severity, message, path: formatPath(path), pos };
  (severity === 'error' ? ctx.errors : ctx.notes).push(issue);
}

/** Reports an issue about a value: the message is prefixed with the path. */
export function valueIssue(ctx: DecodeContext, code: IssueCode, path: KeyPath, pos: Pos, message: string): Invalid {
  report(ctx, code, path, pos, path.length > 0 ? `${formatPath(path)}: ${message}` : message);
  return INVALID;
}

export function describeNode(node: ConfigNode): string {
  switch (node.kind) {
    case 'string':
      return `${node.heredoc ? 'heredoc ' : ''}string ${quoteShort(node.value)}`;
    case 'number':
      return `number ${node.raw}`;
    case 'bool':
      return `bool ${node.value}`;
    case 'list':
      return 'list';
    case 'object':
      return 'object';
  }
}

export function typeError(ctx: DecodeContext, path: KeyPath, node: ConfigNode, expected: string): Invalid {
  return valueIssue(ctx, 'type', path, node.pos, `expected ${expected}, got ${describeNode(node)}`);
}

export function inWhere(path: KeyPath): string {
  return path.length > 0 ? ` in ${formatPath(path)}` : '';
}

/** Optimal-string-alignment edit distance (a transposition counts as one edit). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest candidate within edit distance 2 (case-insensitively), if any. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDist = 3;
  for (const c of candidates) {
    const dist = editDistance(word.toLowerCase(), c.toLowerCase());
    if (dist < bestDist && dist < Math.max(word.length, c.length)) {
      best = c;
      bestDist = dist;
    }
  }
  return best;
}

export function firstSeen(pos: Pos): string {
  return formatPos({ ...pos, filename: '' });
}

/**
 * The entries of a node that should be an object: an object's entries, or the
 * concatenated entries of a list of objects (the JSON form of repeated
 * blocks).
 */
export function objectEntries(node: ConfigNode, path: KeyPath, ctx: DecodeContext): readonly ObjectEntry[] | Invalid {
  if (node.kind === 'object') return node.entries;
  if (node.kind === 'list' && node.items.length > 0 && node.items.every((i) => i.kind === 'object')) {
    return node.items.flatMap((i) => (i.kind === 'object' ? i.entries : []));
  }
  return typeError(ctx, path, node, 'object');
}

export function groupEntries(entries: readonly ObjectEntry[]): Map<string, ObjectEntry[]> {
  const groups = new Map<string, ObjectEntry[]>();
  for (const e of entries) {
    const g = groups.get(e.key);
    if (g) g.push(e);
    else groups.set(e.key, [e]);
  }
  return groups;
}

/** Decodes the value of a key that occurs once or several times. */
export function decodeGroup<T>(schema: Schema<T, Presence>, group: readonly ObjectEntry[], path: KeyPath, ctx: DecodeContext): T | Invalid {
  const first = group[0]!;
  if (schema.deprecated !== undefined) {
    report(ctx, 'deprecated', path, first.keyPos, `${formatPath(path)} is deprecated: ${schema.deprecated}`, 'warning');
  }
  if (group.length === 1) return schema.decode(first.value, path, ctx, first.keyPos);
  if (schema.decodeRepeated) return schema.decodeRepeated(group, path, ctx);
  for (const dup of group.slice(1)) {
    report(ctx, 'duplicate', path, dup.keyPos, `duplicate key ${JSON.stringify(first.key)}${inWhere(path.slice(0, -1))} (first defined at ${firstSeen(first.keyPos)})`);
  }
  schema.decode(first.value, path, ctx, first.keyPos);
  return INVALID;
}
