/**
 * The whole configuration pipeline — read the file, parseFile, mergeConfig
 * with the flags, validateConfig, plugin declarations, toRuntimeConfig — with
 * the outside world (files, environment, working directory) passed in.
 *
 * @module
 */

import { loadSideConfig } from '@spire-ts/common';
import type { LoadIO, SideLoadResult } from '@spire-ts/common';
import { parseFile } from './file.js';
import { DEFAULT_CONFIG_PATH } from './flags.js';
import type { FlagValues } from './flags.js';
import { mergeConfig } from './merge.js';
import { toRuntimeConfig } from './runtime.js';
import type { RuntimeConfig } from './runtime.js';
import { validateConfig } from './validate.js';

export { byPosition } from '@spire-ts/common';
export type { LoadIO } from '@spire-ts/common';

/**
 * The outcome of {@link loadConfig}: the runtime configuration, or every
 * error; warnings in both cases. Issues are sorted by position.
 *
 * @example
 * ```ts
 * const r: LoadResult = loadConfig({ config: 'server.conf' }, io);
 * ```
 */
export type LoadResult = SideLoadResult<RuntimeConfig>;

/**
 * Loads the server configuration named by the flags (`-config`, default
 * `conf/server/server.conf`), applying `-expandEnv` and the flags that
 * override file values.
 *
 * @example
 * ```ts
 * const r = loadConfig({ config: 'server.conf', trustDomain: 'example.org' }, { readFile, cwd: process.cwd() });
 * if (!r.ok) process.stderr.write(describeIssues(r.errors) + '\n');
 * ```
 */
export function loadConfig(flags: FlagValues, io: LoadIO): LoadResult {
  return loadSideConfig({ side: 'server', defaultPath: DEFAULT_CONFIG_PATH, parseFile, mergeConfig, validateConfig, toRuntimeConfig }, flags, io);
}
