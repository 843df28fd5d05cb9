/**
 * Flags of `spire-agent api ...` and `healthcheck`, parsed with Go's `flag`
 * rules as SPIRE declares them: strings, booleans, Go durations
 * (`-timeout 5s`) and comma lists (`-audience a,b`; repeating the flag
 * adds to the list, where SPIRE keeps only the last).
 *
 * The same rules as the spire-server admin commands'
 * (core/server/src/cli/admin/flags.ts); this is the subset the agent needs,
 * kept here until that parser moves to core/common.
 *
 * @module
 */

import { didYouMean } from '@spire-ts/common';

/** How a flag takes its value. */
export type ApiFlagKind = 'string' | 'bool' | 'duration' | 'commaList';

/**
 * One flag of an agent command.
 *
 * @example
 * ```ts
 * const f: ApiFlag = { name: 'audience', kind: 'commaList', usage: 'comma separated list of audience values' };
 * ```
 */
export interface ApiFlag {
  readonly name: string;
  readonly kind: ApiFlagKind;
  readonly usage: string;
  /** Strings as given; durations in milliseconds. Shown in the help. */
  readonly default?: string | number;
  /** Another name for the same value (`-format` for `-output`). */
  readonly aliasOf?: string;
}

/**
 * The parsed flags, with defaults filled in.
 *
 * @example
 * ```ts
 * flags.str('socketPath'); flags.ms('timeout'); flags.list('audience');
 * ```
 */
export interface ApiFlagSet {
  readonly given: ReadonlySet<string>;
  str(name: string): string;
  bool(name: string): boolean;
  /** A duration flag, in milliseconds. */
  ms(name: string): number;
  list(name: string): readonly string[];
}

export type ApiFlagsResult = { readonly kind: 'ok'; readonly flags: ApiFlagSet } | { readonly kind: 'help' } | { readonly kind: 'error'; readonly message: string };

type Value = string | number | boolean | readonly string[];

const BOOLS: ReadonlyMap<string, boolean> = new Map([
  ...['1', 't', 'T', 'TRUE', 'true', 'True'].map((k): [string, boolean] => [k, true]),
  ...['0', 'f', 'F', 'FALSE', 'false', 'False'].map((k): [string, boolean] => [k, false]),
]);

const UNITS: ReadonlyMap<string, number> = new Map([
  ['ns', 1e-6],
  ['us', 1e-3],
  ['µs', 1e-3],
  ['μs', 1e-3],
  ['ms', 1],
  ['s', 1000],
  ['m', 60_000],
  ['h', 3_600_000],
]);

/**
 * Go's time.ParseDuration, in milliseconds, or `undefined`.
 *
 * @example
 * ```ts
 * parseGoDuration('1m30s'); // 90000
 * ```
 */
export function parseGoDuration(text: string): number | undefined {
  const m = /^([+-]?)(.*)$/s.exec(text)!;
  const body = m[2]!;
  if (body === '0') return 0;
  if (body === '') return undefined;
  let total = 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let pos = 0;
  while (pos < body.length) {
    re.lastIndex = pos;
    const part = re.exec(body);
    if (!part) return undefined;
    total += Number(part[1]) * UNITS.get(part[2]!)!;
    pos = re.lastIndex;
  }
  return m[1] === '-' ? -total : total;
}

function trimZeros(fixed: string): string {
  return fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
}

/**
 * Go's time.Duration.String() of a duration in milliseconds (nanosecond precision).
 *
 * @example
 * ```ts
 * goDurationString(1.5); // '1.5ms'
 * goDurationString(90_000); // '1m30s'
 * ```
 */
export function goDurationString(ms: number): string {
  const neg = ms < 0;
  const ns = Math.round(Math.abs(ms) * 1e6);
  const sign = neg ? '-' : '';
  if (ns === 0) return '0s';
  if (ns < 1000) return `${sign}${ns}ns`;
  if (ns < 1e6) return `${sign}${trimZeros((ns / 1e3).toFixed(3))}µs`;
  if (ns < 1e9) return `${sign}${trimZeros((ns / 1e6).toFixed(6))}ms`;
  const h = Math.floor(ns / 3.6e12);
  const m = Math.floor((ns % 3.6e12) / 6e10);
  const s = trimZeros(((ns % 6e10) / 1e9).toFixed(9));
  return `${sign}${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s`;
}

class FlagSet implements ApiFlagSet {
  constructor(
    private readonly values: ReadonlyMap<string, Value>,
    readonly given: ReadonlySet<string>,
  ) {}
  str(name: string): string {
    const v = this.values.get(name);
    return typeof v === 'string' ? v : '';
  }
  bool(name: string): boolean {
    return this.values.get(name) === true;
  }
  ms(name: string): number {
    const v = this.values.get(name);
    return typeof v === 'number' ? v : 0;
  }
  list(name: string): readonly string[] {
    const v = this.values.get(name);
    return Array.isArray(v) ? (v as readonly string[]) : [];
  }
}

function defaultOf(f: ApiFlag): Value {
  switch (f.kind) {
    case 'bool':
      return false;
    case 'commaList':
      return [];
    case 'duration':
      return typeof f.default === 'number' ? f.default : 0;
    default:
      return typeof f.default === 'string' ? f.default : '';
  }
}

/**
 * Parses a command's arguments with Go's flag rules. Unlike Go, a
 * positional argument is refused rather than ignored.
 *
 * @example
 * ```ts
 * parseApiFlags(['-audience', 'a,b', '-timeout=2s'], specs); // list('audience') = ['a', 'b'], ms('timeout') = 2000
 * ```
 */
export function parseApiFlags(args: readonly string[], specs: readonly ApiFlag[]): ApiFlagsResult {
  const values = new Map<string, Value>(specs.filter((f) => !f.aliasOf).map((f) => [f.name, defaultOf(f)]));
  const given = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      if (i + 1 < args.length) return unexpected(args[i + 1]!);
      break;
    }
    if (arg.length < 2 || arg[0] !== '-') return unexpected(arg);
    const body = arg[1] === '-' ? arg.slice(2) : arg.slice(1);
    if (body === '' || body[0] === '-' || body[0] === '=') return { kind: 'error', message: `bad flag syntax: ${arg}` };
    const eq = body.indexOf('=');
    const flagName = eq < 0 ? body : body.slice(0, eq);
    const inline = eq < 0 ? undefined : body.slice(eq + 1);
    const spec = specs.find((f) => f.name === flagName);
    if (!spec) {
      if (flagName === 'h' || flagName === 'help') return { kind: 'help' };
      const hint = didYouMean(flagName, specs.map((f) => f.name));
      return { kind: 'error', message: `flag provided but not defined: -${flagName}${hint ? ` (did you mean -${hint}?)` : ''}` };
    }
    const name = spec.aliasOf ?? spec.name;
    given.add(name);
    if (spec.kind === 'bool') {
      if (inline === undefined) {
        values.set(name, true);
        continue;
      }
      const b = BOOLS.get(inline);
      if (b === undefined) return { kind: 'error', message: `invalid boolean value ${JSON.stringify(inline)} for -${flagName}: expected true or false` };
      values.set(name, b);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= args.length) return { kind: 'error', message: `flag needs an argument: -${flagName}` };
      value = args[++i]!;
    }
    if (spec.kind === 'duration') {
      const ms = parseGoDuration(value);
      if (ms === undefined) return { kind: 'error', message: `invalid value ${JSON.stringify(value)} for flag -${flagName}: expected a duration with a unit (e.g. 500ms, 5s, 1m)` };
      values.set(name, ms);
    } else if (spec.kind === 'commaList') {
      values.set(name, [...(values.get(name) as readonly string[]), ...value.split(',')]);
    } else {
      values.set(name, value);
    }
  }
  return { kind: 'ok', flags: new FlagSet(values, given) };
}

function unexpected(arg: string): ApiFlagsResult {
  return { kind: 'error', message: `unexpected argument ${JSON.stringify(arg)}: only flags are accepted` };
}

const TYPE_WORD: Readonly<Record<ApiFlagKind, string>> = { string: ' string', bool: '', duration: ' value', commaList: ' value' };

/**
 * A command's help in Go's `flag.PrintDefaults` layout.
 *
 * @example
 * ```ts
 * apiFlagsUsage('fetch jwt', specs); // 'Usage of fetch jwt:\n  -audience value\n    \tcomma separated list of audience values\n...'
 * ```
 */
export function apiFlagsUsage(command: string, specs: readonly ApiFlag[]): string {
  const lines = [`Usage of ${command}:`];
  for (const f of [...specs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    lines.push(`  -${f.name}${TYPE_WORD[f.kind]}`);
    let def = '';
    if (f.kind === 'duration' && typeof f.default === 'number' && f.default !== 0) def = ` (default ${goDurationString(f.default)})`;
    else if (typeof f.default === 'string' && f.default !== '') def = ` (default ${JSON.stringify(f.default)})`;
    lines.push(`    \t${f.usage}${def}`);
  }
  return lines.join('\n') + '\n';
}
