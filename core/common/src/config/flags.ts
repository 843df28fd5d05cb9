/**
 * Command-line flags parsed with Go's `flag` package rules, as SPIRE's
 * `spire-server` and `spire-agent` commands use them: `-name value`,
 * `-name=value`, `--name`, booleans as `-name` or `-name=false`, parsing
 * stops at `--`, and the last occurrence wins. Unlike Go, a positional
 * argument is refused (SPIRE would silently ignore it), and an unknown flag
 * gets a did-you-mean hint. The help text follows `flag.PrintDefaults`.
 * The parser is the one the CLI commands use (cli/flags.ts).
 *
 * @module
 */

import { cliFlagsUsage, parseCliFlags } from '../cli/flags.js';
import type { CliFlag, CliFlagValue } from '../cli/flags.js';

/**
 * One flag: its name, kind and help text.
 *
 * @example
 * ```ts
 * const spec: GoFlagSpec = { name: 'config', kind: 'string', usage: 'Path to a SPIRE config file', default: 'agent.conf' };
 * ```
 */
export interface GoFlagSpec<N extends string = string> {
  readonly name: N;
  /** `int` flags take port numbers (0-65535). */
  readonly kind: 'string' | 'int' | 'bool';
  readonly usage: string;
  /** Shown as `(default ...)` in the help. */
  readonly default?: string;
  /** Checks a non-empty string value; returns the problem, if any. */
  readonly check?: (value: string) => string | undefined;
}

/**
 * The outcome of {@link parseGoFlags}: the flags given; a request for help
 * (`-h`, `-help`); or an error message in Go's wording.
 *
 * @example
 * ```ts
 * const r: GoFlagsResult<{ config?: string }> = parseGoFlags(['-config', 'a.conf'], specs);
 * ```
 */
export type GoFlagsResult<V> =
  | { readonly kind: 'ok'; readonly flags: V }
  | { readonly kind: 'help' }
  | { readonly kind: 'error'; readonly message: string };

/** The shared flag of a run/validate flag (`int` flags take port numbers). */
function cliFlagOf(spec: GoFlagSpec): CliFlag {
  return { ...spec, kind: spec.kind === 'int' ? 'port' : spec.kind };
}

/**
 * Parses command arguments against `specs` with {@link parseCliFlags}.
 * Values are checked where they enter (`int` flags must be port numbers;
 * string flags run their `check`); only the flags given are set.
 *
 * @example
 * ```ts
 * parseGoFlags(['-config=a.conf', '-expandEnv'], specs); // { kind: 'ok', flags: { config: 'a.conf', expandEnv: true } }
 * parseGoFlags(['-confg', 'x'], specs);                  // { kind: 'error', message: 'flag provided but not defined: -confg (did you mean -config?)' }
 * ```
 */
export function parseGoFlags<V extends object>(args: readonly string[], specs: readonly GoFlagSpec<Extract<keyof V, string>>[]): GoFlagsResult<V> {
  const parsed = parseCliFlags(args, specs.map(cliFlagOf));
  if (parsed.kind !== 'ok') return parsed;
  const set: Record<string, CliFlagValue> = {};
  for (const name of parsed.flags.given) set[name] = parsed.flags.values.get(name);
  return { kind: 'ok', flags: set as V };
}

/**
 * The help text of a command, in the layout of Go's `flag.PrintDefaults`.
 *
 * @example
 * ```ts
 * goFlagsUsage('run', specs); // 'Usage of run:\n  -config string\n    \tPath to a SPIRE config file (default "...")\n'
 * ```
 */
export function goFlagsUsage(command: string, specs: readonly GoFlagSpec[]): string {
  return cliFlagsUsage(command, specs.map(cliFlagOf));
}
