/**
 * The configuration pipeline shared by spire-agent and spire-server — read
 * the file, parse it, merge the flags, validate, plugin declarations,
 * runtime configuration — with each stage given by the side.
 *
 * @module
 */

import { resolve } from 'node:path';
import { ConfigError } from '@spire-ts/plugin-sdk';
import type { ConfigIssue, EnvSource, PluginSide } from '@spire-ts/plugin-sdk';
import { pluginDeclarations } from '../plugin/declarations.js';
import type { PluginsConfig } from '../plugin/declarations.js';
import type { PluginDeclaration } from '../plugin/catalog.js';
import type { ParseFileOptions, SideFileResult } from './file.js';
import type { PositionIndex } from './positions.js';

/**
 * What a side's loader may touch.
 *
 * @example
 * ```ts
 * const io: LoadIO = { readFile: (p) => readFileSync(p, 'utf8'), env: process.env, cwd: process.cwd() };
 * ```
 */
export interface LoadIO {
  /** Reads a file as UTF-8 (the config file, `plugin_data_file`s); throws Node's errors. */
  readonly readFile: (path: string) => string;
  readonly env?: EnvSource;
  readonly cwd: string;
  readonly platform?: NodeJS.Platform;
}

/**
 * The outcome of loading: the runtime configuration, or every error;
 * warnings in both cases. Issues are sorted by position.
 *
 * @example
 * ```ts
 * const r: SideLoadResult<{ trustDomain: string }> = { ok: false, errors: [], warnings: [] };
 * ```
 */
export type SideLoadResult<C> =
  | { readonly ok: true; readonly config: C; readonly warnings: readonly ConfigIssue[] }
  | { readonly ok: false; readonly errors: readonly ConfigIssue[]; readonly warnings: readonly ConfigIssue[] };

/**
 * Orders issues by where they are in the file; issues without a position last.
 *
 * @example
 * ```ts
 * issues.sort(byPosition);
 * ```
 */
export function byPosition(a: ConfigIssue, b: ConfigIssue): number {
  const oa = a.pos && a.pos.line > 0 ? a.pos.offset : Infinity;
  const ob = b.pos && b.pos.line > 0 ? b.pos.offset : Infinity;
  return oa === ob ? 0 : oa < ob ? -1 : 1;
}

/**
 * The stages of one side's configuration pipeline.
 *
 * @example
 * ```ts
 * const stages: SideLoadStages<FlagValues, FileConfig, MergedConfig, RuntimeConfig> = { side: 'agent', defaultPath, parseFile, mergeConfig, validateConfig, toRuntimeConfig };
 * ```
 */
export interface SideLoadStages<Flags, File, Merged extends { readonly plugins?: PluginsConfig | undefined }, Config> {
  readonly side: PluginSide;
  readonly defaultPath: string;
  readonly parseFile: (text: string, opts: ParseFileOptions) => SideFileResult<File>;
  readonly mergeConfig: (file: File, flags: Flags, path: string) => Merged;
  readonly validateConfig: (
    merged: Merged,
    index: PositionIndex,
    opts: { platform?: NodeJS.Platform },
  ) => { readonly errors: readonly ConfigIssue[]; readonly warnings: readonly ConfigIssue[] };
  readonly toRuntimeConfig: (merged: Merged, plugins: PluginDeclaration[], opts: { cwd: string }) => Config;
}

function fileIssue(message: string): ConfigIssue {
  return { code: 'invalid', severity: 'error', path: '', message };
}

/**
 * Loads the configuration named by the flags (`-config`, else the side's
 * default path), applying `-expandEnv` and the flags that override file values.
 *
 * @example
 * ```ts
 * const r = loadSideConfig(stages, { config: 'agent.conf' }, { readFile, cwd: process.cwd() });
 * ```
 */
export function loadSideConfig<Flags extends { readonly config?: string | undefined; readonly expandEnv?: boolean | undefined }, File, Merged extends { readonly plugins?: PluginsConfig | undefined }, Config>(
  stages: SideLoadStages<Flags, File, Merged, Config>,
  flags: Flags,
  io: LoadIO,
): SideLoadResult<Config> {
  const path = flags.config || stages.defaultPath;
  let text: string;
  try {
    text = io.readFile(resolve(io.cwd, path));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const message =
      e.code === 'ENOENT'
        ? `could not find config file ${resolve(io.cwd, path)}: please use the -config flag`
        : `unable to read configuration at ${JSON.stringify(path)}: ${e.message}`;
    return { ok: false, errors: [fileIssue(message)], warnings: [] };
  }

  const parsed = stages.parseFile(text, { filename: path, expandEnv: flags.expandEnv ?? false, ...(io.env ? { env: io.env } : {}) });
  if (!parsed.ok) return { ok: false, errors: parsed.errors, warnings: parsed.notes };

  const merged = stages.mergeConfig(parsed.file, flags, path);
  const checked = stages.validateConfig(merged, parsed.index, io.platform ? { platform: io.platform } : {});
  const warnings = [...parsed.notes, ...checked.warnings].sort(byPosition);

  // A declaration's own problem (an unknown plugin type) comes before a rule
  // reported at the same place (the plugin count it breaks): the sort is stable.
  const errors: ConfigIssue[] = [];
  let plugins: PluginDeclaration[] = [];
  try {
    plugins = pluginDeclarations(merged.plugins ?? [], { side: stages.side, baseDir: io.cwd, readFile: io.readFile });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    errors.push(...err.issues);
  }
  errors.push(...checked.errors);
  if (errors.length) return { ok: false, errors: errors.sort(byPosition), warnings };
  return { ok: true, config: stages.toRuntimeConfig(merged, plugins, { cwd: io.cwd }), warnings };
}
