/**
 * Parsing entry point and the schema-driven config builder.
 *
 * @module
 */

import { ConfigError } from './issues.js';
import type { ConfigIssue } from './issues.js';
import { parseJSONConfig } from './json.js';
import type { ConfigNode, ObjectNode } from './nodes.js';
import { parseHCL } from './parser.js';
import { INVALID } from './schema.js';
import type { DecodeContext, Presence, Schema } from './schema.js';

/**
 * Options of {@link parseConfig}.
 *
 * - `filename`: recorded in every position (default `''`),
 * - `format`: `'hcl'`, `'json'`, or `'auto'` (the default): JSON when the
 *   first non-blank character is `{` (an HCL file cannot start with `{`).
 *
 * @example
 * ```ts
 * const opts: ParseOptions = { filename: 'server.conf', format: 'auto' };
 * ```
 */
export interface ParseOptions {
  readonly filename?: string;
  readonly format?: 'hcl' | 'json' | 'auto';
}

/**
 * Parses HCL (v1, as SPIRE uses it) or JSON configuration text into an
 * object node tree with positions. Throws a {@link ConfigError} holding one
 * `syntax` issue (`server.conf:3:17: expected "=" or "{" after key ...`).
 *
 * @example
 * ```ts
 * const root = parseConfig('server { bind_port = "8081" }', { filename: 'server.conf' });
 * toPlain(root); // { server: { bind_port: '8081' } }
 * parseConfig('{"server": {"bind_port": 8081}}'); // JSON, detected automatically
 * ```
 */
export function parseConfig(text: string, opts: ParseOptions = {}): ObjectNode {
  const filename = opts.filename ?? '';
  const format = opts.format ?? 'auto';
  const json = format === 'json' || (format === 'auto' && /^\uFEFF?\s*\{/.test(text));
  return json ? parseJSONConfig(text, filename) : parseHCL(text, filename);
}

/**
 * The outcome of {@link buildConfig}: the typed value, or every error found.
 * `notes` holds warnings (deprecated keys, unknown keys with
 * `unknownKeys: 'warn'`) in both cases.
 *
 * @example
 * ```ts
 * const r: BuildResult<{ port: number }> = buildConfig(s.object({ port: s.int({ required: true }) }), 'port = 1');
 * if (r.ok) r.value.port; else describeIssues(r.errors);
 * ```
 */
export type BuildResult<T> =
  | { readonly ok: true; readonly value: T; readonly notes: readonly ConfigIssue[] }
  | { readonly ok: false; readonly errors: readonly ConfigIssue[]; readonly notes: readonly ConfigIssue[] };

/**
 * Options of {@link buildConfig}: how to parse text input (ignored for nodes).
 *
 * @example
 * ```ts
 * const opts: BuildOptions = { filename: 'agent.conf' };
 * ```
 */
export type BuildOptions = ParseOptions;

function byPosition(a: ConfigIssue, b: ConfigIssue): number {
  const la = a.pos && a.pos.line > 0 ? a.pos.offset : Infinity;
  const lb = b.pos && b.pos.line > 0 ? b.pos.offset : Infinity;
  return la === lb ? 0 : la < lb ? -1 : 1;
}

/**
 * Validates a configuration (a node, or text to parse first) against a
 * schema, collecting all issues, sorted by position. The value's type is
 * inferred from the schema.
 *
 * @example
 * ```ts
 * const schema = s.object({
 *   server: s.object({
 *     bind_port: s.int({ min: 0, max: 65535, default: 8081 }),
 *     trust_domain: s.string({ required: true }),
 *   }, { required: true }),
 * });
 * const r = buildConfig(schema, text, { filename: 'server.conf' });
 * if (!r.ok) throw new ConfigError(r.errors);
 * r.value.server.bind_port; // number
 * ```
 */
export function buildConfig<T>(schema: Schema<T, Presence>, input: ConfigNode | string, opts: BuildOptions = {}): BuildResult<T> {
  let node: ConfigNode;
  if (typeof input === 'string') {
    try {
      node = parseConfig(input, opts);
    } catch (err) {
      if (err instanceof ConfigError) return { ok: false, errors: err.issues, notes: [] };
      throw err;
    }
  } else {
    node = input;
  }
  const ctx: DecodeContext = { errors: [], notes: [] };
  const value = schema.decode(node, [], ctx, undefined);
  const notes = ctx.notes.sort(byPosition);
  if (value === INVALID || ctx.errors.length > 0) {
    return { ok: false, errors: ctx.errors.sort(byPosition), notes };
  }
  return { ok: true, value, notes };
}

/**
 * Like {@link buildConfig} but returns the value, throwing a
 * {@link ConfigError} with all issues when the configuration is invalid.
 *
 * @example
 * ```ts
 * // In a plugin's Configure:
 * const config = buildConfigOrThrow(schema, req.hclConfiguration, { filename: 'plugin_data' });
 * ```
 */
export function buildConfigOrThrow<T>(schema: Schema<T, Presence>, input: ConfigNode | string, opts: BuildOptions = {}): T {
  const r = buildConfig(schema, input, opts);
  if (!r.ok) throw new ConfigError(r.errors);
  return r.value;
}
