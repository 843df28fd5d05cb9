/**
 * Command-line flags parsed with Go's `flag` package rules, as SPIRE's
 * commands declare them: `-name value`, `-name=value`, `--name`, booleans
 * as `-name` or `-name=false`, parsing stops at `--`. Values are strings,
 * ints, port numbers, booleans, repeatable strings (`-selector a -selector
 * b`), comma lists (`-audience a,b`), Go durations (`-ttl 1h`) and SPIRE's
 * three-state filter booleans (`-banned true`). Unlike Go, a positional
 * argument is refused (SPIRE would silently ignore it), and an unknown flag
 * gets a did-you-mean hint. The help follows `flag.PrintDefaults`.
 *
 * One parser for `spire-server run`/`validate` (config/flags.ts), the
 * server's admin commands and the agent's `api` commands.
 *
 * @module
 */

/** How a flag takes its value. */
export type CliFlagKind = 'string' | 'int' | 'port' | 'bool' | 'strings' | 'commaList' | 'duration' | 'tristate';

/**
 * One flag of a command.
 *
 * @example
 * ```ts
 * const f: CliFlag = { name: 'selector', kind: 'strings', usage: 'A colon-delimited type:value selector. Can be used more than once' };
 * ```
 */
export interface CliFlag {
  readonly name: string;
  readonly kind: CliFlagKind;
  readonly usage: string;
  /** Shown in the help, and the value when the flag is not given (durations in milliseconds). */
  readonly default?: string | number;
  /** Another name for the same value (`-format` for `-output`). */
  readonly aliasOf?: string;
  /** The type word in the help when it is not the kind's (`value` for a SPIRE custom duration flag). */
  readonly typeName?: string;
  /** Checks a non-empty string value; returns the problem, if any. */
  readonly check?: (value: string) => string | undefined;
}

/** Parsed values: strings, numbers (ints; durations in milliseconds), booleans, string lists; tristates as `true`/`false`/`undefined`. */
export type CliFlagValue = string | number | boolean | readonly string[] | undefined;

/**
 * The flags given, by name, with defaults filled in, and which were given.
 *
 * @example
 * ```ts
 * flags.str('socketPath'); flags.ms('timeout'); flags.list('audience');
 * ```
 */
export interface CliFlagSet {
  readonly values: ReadonlyMap<string, CliFlagValue>;
  readonly given: ReadonlySet<string>;
  str(name: string): string;
  int(name: string): number;
  /** A duration flag, in milliseconds. */
  ms(name: string): number;
  bool(name: string): boolean;
  list(name: string): readonly string[];
  tristate(name: string): boolean | undefined;
}

/** The outcome of {@link parseCliFlags}: the flags; a request for help (`-h`, `-help`); or an error in Go's wording. */
export type CliFlagsResult = { readonly kind: 'ok'; readonly flags: CliFlagSet } | { readonly kind: 'help' } | { readonly kind: 'error'; readonly message: string };

const BOOLS: ReadonlyMap<string, boolean> = new Map([
  ...['1', 't', 'T', 'TRUE', 'true', 'True'].map((k): [string, boolean] => [k, true]),
  ...['0', 'f', 'F', 'FALSE', 'false', 'False'].map((k): [string, boolean] => [k, false]),
]);

/**
 * Go's strconv.ParseInt(s, 0, 64) for safe integers (decimal, 0x hex,
 * 0o / leading-0 octal, 0b binary), or `undefined`.
 *
 * @example
 * ```ts
 * parseGoInt('0x1f91'); // 8081
 * ```
 */
export function parseGoInt(text: string): number | undefined {
  const m = /^([+-]?)(?:0[xX]([0-9a-fA-F]+)|0[oO]?([0-7]+)|0[bB]([01]+)|(0|[1-9][0-9]*))$/.exec(text);
  if (!m) return undefined;
  const n = m[2] ? parseInt(m[2], 16) : m[3] ? parseInt(m[3], 8) : m[4] ? parseInt(m[4], 2) : Number(m[5]);
  return Number.isSafeInteger(n) ? (m[1] === '-' ? -n : n) : undefined;
}

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

/**
 * The candidate closest to `name` (case-insensitive edit distance below
 * 3), or `undefined`.
 *
 * @example
 * ```ts
 * didYouMean('confg', ['config', 'dataDir']); // 'config'
 * ```
 */
export function didYouMean(name: string, candidates: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDist = 3;
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best;
}

/** Levenshtein distance. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

class FlagSet implements CliFlagSet {
  constructor(
    readonly values: ReadonlyMap<string, CliFlagValue>,
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
  ms(name: string): number {
    return this.int(name);
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

function defaultOf(f: CliFlag): CliFlagValue {
  switch (f.kind) {
    case 'bool':
      return false;
    case 'strings':
    case 'commaList':
      return [];
    case 'tristate':
      return undefined;
    case 'int':
    case 'port':
    case 'duration':
      return typeof f.default === 'number' ? f.default : 0;
    default:
      return typeof f.default === 'string' ? f.default : '';
  }
}

/** The value of a non-boolean flag, or why it is refused. */
function valueOf(spec: CliFlag, value: string, previous: CliFlagValue): { ok: CliFlagValue } | { why: string } {
  switch (spec.kind) {
    case 'int': {
      const n = parseGoInt(value);
      return n === undefined ? { why: 'expected an integer (e.g. 600)' } : { ok: n };
    }
    case 'port': {
      const n = parseGoInt(value);
      return n === undefined || n < 0 || n > 65535 ? { why: 'expected a port number (0-65535)' } : { ok: n };
    }
    case 'duration': {
      const ms = parseGoDuration(value);
      return ms === undefined ? { why: 'expected a duration with a unit (e.g. 500ms, 90s, 15m, 1h)' } : { ok: ms };
    }
    case 'strings':
      return { ok: [...(previous as readonly string[]), value] };
    case 'commaList':
      return { ok: [...(previous as readonly string[]), ...value.split(',')] };
    case 'tristate':
      // As SPIRE: "true" or "false" filter, anything else means "all".
      return { ok: value === 'true' ? true : value === 'false' ? false : undefined };
    default: {
      const problem = value === '' ? undefined : spec.check?.(value);
      return problem ? { why: problem } : { ok: value };
    }
  }
}

/**
 * Parses a command's arguments against `specs`, checking values where
 * they enter. Repeating a flag replaces its value, except `strings` and
 * `commaList` flags, which add to the list.
 *
 * @example
 * ```ts
 * parseCliFlags(['-selector', 'unix:uid:0', '-selector', 'unix:gid:0'], specs); // list('selector') = ['unix:uid:0', 'unix:gid:0']
 * parseCliFlags(['-confg', 'x'], specs); // { kind: 'error', message: 'flag provided but not defined: -confg (did you mean -config?)' }
 * ```
 */
export function parseCliFlags(args: readonly string[], specs: readonly CliFlag[]): CliFlagsResult {
  const values = new Map<string, CliFlagValue>(specs.filter((f) => !f.aliasOf).map((f) => [f.name, defaultOf(f)]));
  const given = new Set<string>();
  const unexpected = (arg: string): CliFlagsResult => {
    const hint = specs.some((f) => f.name === 'config') && /\.(conf|hcl|json)$/.test(arg) ? ` (did you mean -config ${arg}?)` : '';
    return { kind: 'error', message: `unexpected argument ${JSON.stringify(arg)}: only flags are accepted${hint}` };
  };
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
      const b = inline === undefined ? true : BOOLS.get(inline);
      if (b === undefined) return { kind: 'error', message: `invalid boolean value ${JSON.stringify(inline)} for -${flagName}: expected true or false` };
      values.set(name, b);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= args.length) return { kind: 'error', message: `flag needs an argument: -${flagName}` };
      value = args[++i]!;
    }
    const v = valueOf(spec, value, values.get(name));
    if ('why' in v) return { kind: 'error', message: `invalid value ${JSON.stringify(value)} for flag -${flagName}: ${v.why}` };
    values.set(name, v.ok);
  }
  return { kind: 'ok', flags: new FlagSet(values, given) };
}

const TYPE_WORD: Readonly<Record<CliFlagKind, string>> = {
  string: 'string',
  int: 'int',
  port: 'int',
  bool: '',
  strings: 'value',
  commaList: 'value',
  duration: 'duration',
  tristate: 'value',
};

function defaultText(f: CliFlag): string {
  if (f.default === undefined || f.default === '' || f.default === 0) return '';
  if (f.kind === 'duration' && typeof f.default === 'number') return ` (default ${goDurationString(f.default)})`;
  return typeof f.default === 'string' ? ` (default ${JSON.stringify(f.default)})` : ` (default ${f.default})`;
}

/**
 * A command's help in Go's `flag.PrintDefaults` layout (flags sorted by name).
 *
 * @example
 * ```ts
 * cliFlagsUsage('entry show', specs); // 'Usage of entry show:\n  -entryID string\n    \tThe Entry ID of the records to show\n...'
 * ```
 */
export function cliFlagsUsage(command: string, specs: readonly CliFlag[]): string {
  const lines = [`Usage of ${command}:`];
  for (const f of [...specs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const word = f.typeName ?? TYPE_WORD[f.kind];
    lines.push(`  -${f.name}${word ? ` ${word}` : ''}`);
    lines.push(`    \t${f.usage}${defaultText(f)}`);
  }
  return lines.join('\n') + '\n';
}
