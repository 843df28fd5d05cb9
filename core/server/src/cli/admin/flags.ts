/**
 * Flags of the admin commands (`entry create`, `agent list`, ...), parsed
 * with Go's `flag` rules as SPIRE's commands declare them: strings, ints,
 * booleans, repeatable strings (`-selector a -selector b`), Go durations
 * (`-ttl 1h`) and SPIRE's three-state filter booleans (`-banned true`).
 *
 * @module
 */

import { didYouMean, parseGoInt } from '@spire-ts/common';

/** How a flag takes its value. */
export type AdminFlagKind = 'string' | 'int' | 'bool' | 'strings' | 'duration' | 'tristate';

/**
 * One flag of an admin command.
 *
 * @example
 * ```ts
 * const f: AdminFlag = { name: 'selector', kind: 'strings', usage: 'A colon-delimited type:value selector. Can be used more than once' };
 * ```
 */
export interface AdminFlag {
  readonly name: string;
  readonly kind: AdminFlagKind;
  readonly usage: string;
  /** Shown in the help, and the value when the flag is not given. */
  readonly default?: string | number;
}

/** Parsed values: strings, numbers (ints; durations in milliseconds), booleans, string lists; tristates as `true`/`false`/`undefined`. */
export type AdminFlagValue = string | number | boolean | readonly string[] | undefined;

/**
 * The flags given, by name, with defaults filled in, and which were given.
 *
 * @example
 * ```ts
 * const v = parsed.values.get('spiffeID');
 * ```
 */
export interface AdminFlagSet {
  readonly values: ReadonlyMap<string, AdminFlagValue>;
  readonly given: ReadonlySet<string>;
  str(name: string): string;
  int(name: string): number;
  bool(name: string): boolean;
  list(name: string): readonly string[];
  tristate(name: string): boolean | undefined;
}

export type AdminFlagsResult = { readonly kind: 'ok'; readonly flags: AdminFlagSet } | { readonly kind: 'help' } | { readonly kind: 'error'; readonly message: string };

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
 * parseGoDuration('1h30m'); // 5400000
 * ```
 */
export function parseGoDuration(text: string): number | undefined {
  const m = /^([+-]?)(.*)$/.exec(text)!;
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

class FlagSet implements AdminFlagSet {
  constructor(
    readonly values: ReadonlyMap<string, AdminFlagValue>,
    readonly given: ReadonlySet<string>,
  ) {}
  str(name: string): string {
    const v = this.values.get(name);
    return typeof v === 'string' ? v : '';
  }
  int(name: string): number {
    const v = this.values.get(name);
    return typeof v === 'number' ? v : 0;
  }
  bool(name: string): boolean {
    return this.values.get(name) === true;
  }
  list(name: string): readonly string[] {
    const v = this.values.get(name);
    return Array.isArray(v) ? (v as readonly string[]) : [];
  }
  tristate(name: string): boolean | undefined {
    const v = this.values.get(name);
    return typeof v === 'boolean' ? v : undefined;
  }
}

function defaultOf(f: AdminFlag): AdminFlagValue {
  switch (f.kind) {
    case 'bool':
      return false;
    case 'strings':
      return [];
    case 'tristate':
      return undefined;
    case 'int':
      return typeof f.default === 'number' ? f.default : 0;
    case 'duration':
      return typeof f.default === 'number' ? f.default : 0;
    default:
      return typeof f.default === 'string' ? f.default : '';
  }
}

/**
 * Parses an admin command's arguments with Go's flag rules. Unlike Go, a
 * positional argument is refused rather than ignored.
 *
 * @example
 * ```ts
 * parseAdminFlags(['-selector', 'unix:uid:0', '-selector', 'unix:gid:0'], specs); // list('selector') = ['unix:uid:0', 'unix:gid:0']
 * ```
 */
export function parseAdminFlags(args: readonly string[], specs: readonly AdminFlag[]): AdminFlagsResult {
  const values = new Map<string, AdminFlagValue>(specs.map((f) => [f.name, defaultOf(f)]));
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
    const name = eq < 0 ? body : body.slice(0, eq);
    const inline = eq < 0 ? undefined : body.slice(eq + 1);
    const spec = specs.find((f) => f.name === name);
    if (!spec) {
      if (name === 'h' || name === 'help') return { kind: 'help' };
      const hint = didYouMean(name, specs.map((f) => f.name));
      return { kind: 'error', message: `flag provided but not defined: -${name}${hint ? ` (did you mean -${hint}?)` : ''}` };
    }
    given.add(name);
    if (spec.kind === 'bool') {
      if (inline === undefined) {
        values.set(name, true);
        continue;
      }
      const b = BOOLS.get(inline);
      if (b === undefined) return { kind: 'error', message: `invalid boolean value ${JSON.stringify(inline)} for -${name}: expected true or false` };
      values.set(name, b);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= args.length) return { kind: 'error', message: `flag needs an argument: -${name}` };
      value = args[++i]!;
    }
    const bad = (why: string): AdminFlagsResult => ({ kind: 'error', message: `invalid value ${JSON.stringify(value)} for flag -${name}: ${why}` });
    switch (spec.kind) {
      case 'int': {
        const n = parseGoInt(value);
        if (n === undefined) return bad('expected an integer (e.g. 600)');
        values.set(name, n);
        break;
      }
      case 'duration': {
        const ms = parseGoDuration(value);
        if (ms === undefined) return bad('expected a duration with a unit (e.g. 90s, 15m, 1h)');
        values.set(name, ms);
        break;
      }
      case 'strings':
        values.set(name, [...(values.get(name) as readonly string[]), value]);
        break;
      case 'tristate':
        // As SPIRE: "true" or "false" filter, anything else means "all".
        values.set(name, value === 'true' ? true : value === 'false' ? false : undefined);
        break;
      default:
        values.set(name, value);
    }
  }
  return { kind: 'ok', flags: new FlagSet(values, given) };
}

function unexpected(arg: string): AdminFlagsResult {
  return { kind: 'error', message: `unexpected argument ${JSON.stringify(arg)}: only flags are accepted` };
}

const TYPE_WORD: Readonly<Record<AdminFlagKind, string>> = {
  string: ' string',
  int: ' int',
  bool: '',
  strings: ' value',
  duration: ' duration',
  tristate: ' value',
};

/**
 * The help of an admin command, in Go's `flag.PrintDefaults` layout.
 *
 * @example
 * ```ts
 * adminFlagsUsage('entry show', specs); // 'Usage of entry show:\n  -entryID string\n    \tThe Entry ID of the records to show\n...'
 * ```
 */
export function adminFlagsUsage(command: string, specs: readonly AdminFlag[]): string {
  const lines = [`Usage of ${command}:`];
  for (const f of [...specs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    lines.push(`  -${f.name}${TYPE_WORD[f.kind]}`);
    const def = f.default === undefined || f.default === '' || f.default === 0 ? '' : typeof f.default === 'string' ? ` (default ${JSON.stringify(f.default)})` : ` (default ${f.default})`;
    lines.push(`    \t${f.usage}${def}`);
  }
  return lines.join('\n') + '\n';
}
