/**
 * Stage 1 of the configuration pipeline: configuration text to a typed
 * {@link FileConfig}, with every structural problem found at once.
 *
 * @module
 */

import { ConfigError, buildConfig, expandEnv, parseConfig } from '@spire-ts/plugin-sdk';
import type { ConfigIssue, EnvSource } from '@spire-ts/plugin-sdk';
import { PositionIndex } from '@spire-ts/common';
import { agentFileSchema } from './schema.js';
import type { FileConfig } from './schema.js';

/**
 * Options of {@link parseFile}.
 *
 * - `filename`: recorded in every position,
 * - `expandEnv`: replace `$VAR` / `${VAR}` first, as SPIRE's `-expandEnv`
 *   does (`$$` stays a single `$`; unset variables become empty),
 * - `env`: where variables are looked up (default `process.env`),
 * - `format`: `'auto'` (default: JSON when the text starts with `{`), `'hcl'` or `'json'`.
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
 * The outcome of {@link parseFile}: the typed file and where each key was
 * written, or every error; `notes` holds warnings in both cases.
 *
 * @example
 * ```ts
 * const r: FileResult = parseFile(text, { filename: 'agent.conf' });
 * if (!r.ok) process.stderr.write(describeIssues(r.errors) + '\n');
 * ```
 */
export type FileResult =
  | { readonly ok: true; readonly file: FileConfig; readonly index: PositionIndex; readonly notes: readonly ConfigIssue[] }
  | { readonly ok: false; readonly errors: readonly ConfigIssue[]; readonly notes: readonly ConfigIssue[] };

/** SPIRE's `-expandEnv`: Go's os.Expand where `$$` means a literal `$`. */
export function expandConfigEnv(text: string, env: EnvSource = process.env): string {
  const lookup = typeof env === 'function' ? env : (name: string): string | undefined => (Object.hasOwn(env, name) ? env[name] : undefined);
  return expandEnv(text, (name) => (name === '$' ? '$' : lookup(name)));
}

/**
 * Parses and checks a spire-agent configuration file (HCL, or the same
 * structure in JSON). Unknown keys (with a suggestion), wrong types, bad
 * values and duplicates are all reported as `file:line:col` issues.
 *
 * @example
 * ```ts
 * const r = parseFile('agent {\n  trust_domain = "example.org"\n}\n', { filename: 'agent.conf' });
 * if (r.ok) r.file.agent?.trust_domain; // 'example.org'
 * ```
 */
export function parseFile(text: string, opts: ParseFileOptions): FileResult {
  const source = opts.expandEnv ? expandConfigEnv(text, opts.env) : text;
  let root;
  try {
    root = parseConfig(source, { filename: opts.filename, format: opts.format ?? 'auto' });
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, errors: err.issues, notes: [] };
    throw err;
  }
  const r = buildConfig(agentFileSchema, root);
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
