/**
 * Stage 3 of a side's configuration pipeline, shared by spire-agent and
 * spire-server: flags over file over defaults, as SPIRE merges them (an
 * empty string, zero or `false` counts as "not set").
 *
 * @module
 */

import { isSet } from './findings.js';

/**
 * Where a merged value came from.
 *
 * @example
 * ```ts
 * const o: ConfigOrigin = { kind: 'flag', flag: '-trustDomain' };
 * ```
 */
export type ConfigOrigin = { readonly kind: 'flag'; readonly flag: string } | { readonly kind: 'file' } | { readonly kind: 'default' };

/**
 * One block merged by {@link mergeBlock}: its values and where each came from.
 *
 * @example
 * ```ts
 * const b: MergedBlock = { values: { data_dir: '.' }, origins: { data_dir: { kind: 'default' } } };
 * ```
 */
export interface MergedBlock {
  readonly values: Record<string, unknown>;
  readonly origins: Record<string, ConfigOrigin>;
}

/**
 * Merges the flags (named by `flagKeys`) over a file block over the defaults.
 * `flagValue` may convert a flag's raw value first. Pure.
 *
 * @example
 * ```ts
 * const b = mergeBlock({ bind_port: 9000 }, { serverPort: 9999 }, { serverPort: 'bind_port' }, { bind_port: 8081 });
 * b.values.bind_port; // 9999
 * ```
 */
export function mergeBlock<Flags extends object>(
  fileBlock: object | undefined,
  flags: Flags,
  flagKeys: { readonly [K in keyof Flags]?: string },
  defaults: object,
  flagValue: (flag: string, raw: unknown) => unknown = (_flag, raw) => raw,
): MergedBlock {
  const values: Record<string, unknown> = {};
  const origins: Record<string, ConfigOrigin> = {};
  for (const [key, value] of Object.entries(fileBlock ?? {})) {
    if (value === undefined) continue;
    values[key] = value;
    if (isSet(value)) origins[key] = { kind: 'file' };
  }
  for (const [flag, key] of Object.entries(flagKeys)) {
    if (typeof key !== 'string') continue;
    const value = flagValue(flag, flags[flag as keyof Flags]);
    if (isSet(value)) {
      values[key] = value;
      origins[key] = { kind: 'flag', flag: `-${flag}` };
    }
  }
  for (const [key, value] of Object.entries(defaults)) {
    if (!isSet(values[key])) {
      values[key] = value;
      origins[key] = { kind: 'default' };
    }
  }
  return { values, origins };
}

/**
 * What both sides' merged configurations hold besides their own block: the
 * other blocks as the file had them, and where each block value came from.
 *
 * @example
 * ```ts
 * interface MergedConfig extends MergedSideConfig<FileConfig, keyof AgentFileConfig> { readonly agent: MergedAgent }
 * ```
 */
export interface MergedSideConfig<File extends { readonly plugins?: unknown; readonly telemetry?: unknown; readonly health_checks?: unknown }, Key extends string> {
  readonly configPath: string;
  readonly plugins: File['plugins'];
  readonly telemetry: File['telemetry'];
  readonly healthChecks: File['health_checks'];
  /** Where each block value came from (absent keys: not set anywhere). */
  readonly origins: Readonly<Partial<Record<Key, ConfigOrigin>>>;
}
