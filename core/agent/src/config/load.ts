/**
 * The whole configuration pipeline — read the file, parseFile, mergeConfig
 * with the flags, validateConfig, plugin declarations, toRuntimeConfig — with
 * the outside world (files, environment, working directory) passed in.
 *
 * @module
 */

import { resolve } from 'node:path';
import { pluginDeclarations } from '@spire-ts/common';
import type { PluginDeclaration } from '@spire-ts/common';
import { ConfigError } from '@spire-ts/plugin-sdk';
import type { ConfigIssue, EnvSource } from '@spire-ts/plugin-sdk';
import { parseFile } from './file.js';
import { DEFAULT_CONFIG_PATH } from './flags.js';
import type { FlagValues } from './flags.js';
import { mergeConfig } from './merge.js';
import { toRuntimeConfig } from './runtime.js';
import type { RuntimeConfig } from './runtime.js';
import { validateConfig } from './validate.js';

/**
 * What {@link loadConfig} may touch.
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
 * The outcome of {@link loadConfig}: the runtime configuration, or every
 * error; warnings in both cases. Issues are sorted by position.
 *
 * @example
 * ```ts
 * const r: LoadResult = loadConfig({ config: 'agent.conf' }, io);
 * ```
 */
export type LoadResult =
  | { readonly ok: true; readonly config: RuntimeConfig; readonly warnings: readonly ConfigIssue[] }
  | { readonly ok: false; readonly errors: readonly ConfigIssue[]; readonly warnings: readonly ConfigIssue[] };

/** Orders issues by where they are in the file; issues without a position last. */
export function byPosition(a: ConfigIssue, b: ConfigIssue): number {
  const oa = a.pos && a.pos.line > 0 ? a.pos.offset : Infinity;
  const ob = b.pos && b.pos.line > 0 ? b.pos.offset : Infinity;
  return oa === ob ? 0 : oa < ob ? -1 : 1;
}

function fileIssue(message: string): ConfigIssue {
  return { code: 'invalid', severity: 'error', path: '', message };
}

/**
 * Loads the agent configuration named by the flags (`-config`, default
 * `conf/agent/agent.conf`), applying `-expandEnv` and the flags that
 * override file values.
 *
 * @example
 * ```ts
 * const r = loadConfig({ config: 'agent.conf', joinToken: 'abc' }, { readFile, cwd: process.cwd() });
 * if (!r.ok) process.stderr.write(describeIssues(r.errors) + '\n');
 * ```
 */
export function loadConfig(flags: FlagValues, io: LoadIO): LoadResult {
  const path = flags.config || DEFAULT_CONFIG_PATH;
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

  const parsed = parseFile(text, { filename: path, expandEnv: flags.expandEnv ?? false, ...(io.env ? { env: io.env } : {}) });
  if (!parsed.ok) return { ok: false, errors: parsed.errors, warnings: parsed.notes };

  const merged = mergeConfig(parsed.file, flags, path);
  const checked = validateConfig(merged, parsed.index, io.platform ? { platform: io.platform } : {});
  const errors = [...checked.errors];
  const warnings = [...parsed.notes, ...checked.warnings].sort(byPosition);

  let plugins: PluginDeclaration[] = [];
  try {
    plugins = pluginDeclarations(merged.plugins ?? [], { side: 'agent', baseDir: io.cwd, readFile: io.readFile });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    errors.push(...err.issues);
  }
  if (errors.length) return { ok: false, errors: errors.sort(byPosition), warnings };
  return { ok: true, config: toRuntimeConfig(merged, plugins, { cwd: io.cwd }), warnings };
}
