/**
 * Stage 1 of a side's configuration pipeline, shared by spire-agent and
 * spire-server: configuration text to a typed file, generic over the schema.
 *
 * @module
 */

import { ConfigError, buildConfig, expandEnv, parseConfig } from '@spire-ts/plugin-sdk';
import type { ConfigIssue, EnvSource, Presence, Schema } from '@spire-ts/plugin-sdk';
import { PositionIndex } from './positions.js';

/**
 * Options of {@link parseSideFile}.
 *
 * @example
 * ```ts
 * const opts: ParseFileOptions = { filename: 'agent.conf', expandEnv: true, env: { TD: 'example.org' } };
 * ```
 */
export interface ParseFileOptions {
  readonly filename: string;
  readonly expandEnv?: boolean;
  readonly env?: EnvSource;
  readonly format?: 'auto' | 'hcl' | 'json';
}

/**
 * The outcome of {@link parseSideFile}.
 *
 * @example
 * ```ts
 * const r: SideFileResult<{ a?: string }> = { ok: false, errors: [], notes: [] };
 * ```
 */
export type SideFileResult<T> =
  | { readonly ok: true; readonly file: T; readonly index: PositionIndex; readonly notes: readonly ConfigIssue[] }
  | { readonly ok: false; readonly errors: readonly ConfigIssue[]; readonly notes: readonly ConfigIssue[] };

/**
 * SPIRE's `-expandEnv`: Go's os.Expand where `$$` means a literal `$`.
 *
 * @example
 * ```ts
 * expandConfigEnv('td = "$TD"', { TD: 'example.org' });
 * ```
 */
export function expandConfigEnv(text: string, env: EnvSource = process.env): string {
  const lookup = typeof env === 'function' ? env : (name: string): string | undefined => (Object.hasOwn(env, name) ? env[name] : undefined);
  return expandEnv(text, (name) => (name === '$' ? '$' : lookup(name)));
}

/**
 * Parses and checks a configuration file (HCL or JSON) against `schema`,
 * warning that `telemetry` is not implemented yet.
 *
 * @example
 * ```ts
 * const r = parseSideFile(agentFileSchema, text, { filename: 'agent.conf' });
 * ```
 */
export function parseSideFile<T>(schema: Schema<T, Presence>, text: string, opts: ParseFileOptions): SideFileResult<T> {
  const source = opts.expandEnv ? expandConfigEnv(text, opts.env) : text;
  let root;
  try {
    root = parseConfig(source, { filename: opts.filename, format: opts.format ?? 'auto' });
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, errors: err.issues, notes: [] };
    throw err;
  }
  const r = buildConfig(schema, root);
  const index = PositionIndex.of(root);
  const notes = [...r.notes];
  const telemetry = index.key(['telemetry']);
  if (telemetry) {
    notes.push({
      code: 'invalid',
      severity: 'warning',
      path: 'telemetry',
      pos: telemetry,
      message: 'telemetry is accepted but not implemented yet: no metrics are collected or exported',
    });
  }
  if (!r.ok) return { ok: false, errors: r.errors, notes };
  return { ok: true, file: r.value, index, notes };
}
