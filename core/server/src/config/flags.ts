/**
 * Stage 2 of the configuration pipeline: the command-line flags of
 * `spire-server run` (and `validate`, which takes the same ones), parsed with
 * Go's `flag` package rules as SPIRE uses them: `-name value`,
 * `-name=value`, `--name`, booleans as `-name` or `-name=false`, parsing
 * stops at the first non-flag argument or `--`, and the last occurrence wins.
 *
 * @module
 */

import { checkLogFormat, checkLogLevel, checkTrustDomain } from './values.js';

/** The default `-config`. */
export const DEFAULT_CONFIG_PATH = 'conf/server/server.conf';

/**
 * The flags given on the command line (only those given).
 *
 * @example
 * ```ts
 * const flags: FlagValues = { config: 'server.conf', trustDomain: 'example.org', serverPort: 9081 };
 * ```
 */
export interface FlagValues {
  config?: string;
  expandEnv?: boolean;
  bindAddress?: string;
  serverPort?: number;
  socketPath?: string;
  trustDomain?: string;
  dataDir?: string;
  logFile?: string;
  logFormat?: string;
  logLevel?: string;
  logSourceLocation?: boolean;
}

/** One flag: its name, kind and help text. */
export interface FlagSpec {
  readonly name: keyof FlagValues;
  readonly kind: 'string' | 'int' | 'bool';
  readonly usage: string;
  /** Shown as `(default ...)` in the help. */
  readonly default?: string;
  readonly check?: (value: string) => string | undefined;
}

/** The flags of `spire-server run` and `spire-server validate`, sorted by name as Go prints them. */
export const SERVER_FLAGS: readonly FlagSpec[] = [
  { name: 'bindAddress', kind: 'string', usage: 'IP address or DNS name the SPIRE server listens on' },
  { name: 'config', kind: 'string', usage: 'Path to a SPIRE server config file', default: DEFAULT_CONFIG_PATH },
  { name: 'dataDir', kind: 'string', usage: 'Directory for the server to keep its runtime data in' },
  { name: 'expandEnv', kind: 'bool', usage: 'Expand $VARIABLES and ${VARIABLES} in the config file from the environment' },
  { name: 'logFile', kind: 'string', usage: 'File to write logs to' },
  { name: 'logFormat', kind: 'string', usage: "'text' or 'json'", check: checkLogFormat },
  { name: 'logLevel', kind: 'string', usage: "'debug', 'info', 'warn', or 'error'", check: checkLogLevel },
  { name: 'logSourceLocation', kind: 'bool', usage: 'Include the source file, line and function in log lines' },
  { name: 'serverPort', kind: 'int', usage: 'Port number the SPIRE server listens on' },
  { name: 'socketPath', kind: 'string', usage: 'Path of the Unix socket the SPIRE server API (for the local CLI) is served on' },
  { name: 'trustDomain', kind: 'string', usage: 'The trust domain this server belongs to (at most 255 characters)', check: checkTrustDomain },
];

/**
 * The outcome of {@link parseFlags}: the flags; a request for help (`-h`,
 * `-help`); or an error message in Go's wording (`flag provided but not
 * defined: -foo`).
 *
 * @example
 * ```ts
 * const r: FlagsResult = parseFlags(['-config', 'server.conf']);
 * if (r.kind === 'ok') r.flags.config; // 'server.conf'
 * ```
 */
export type FlagsResult =
  | { readonly kind: 'ok'; readonly flags: FlagValues }
  | { readonly kind: 'help' }
  | { readonly kind: 'error'; readonly message: string };

const BOOLS: ReadonlyMap<string, boolean> = new Map([
  ...['1', 't', 'T', 'TRUE', 'true', 'True'].map((k): [string, boolean] => [k, true]),
  ...['0', 'f', 'F', 'FALSE', 'false', 'False'].map((k): [string, boolean] => [k, false]),
]);

/** Go's strconv.ParseInt(s, 0, 64) for the values a port can take (decimal, 0x hex, 0o / leading-0 octal, 0b binary). */
function parseGoInt(text: string): number | undefined {
  const m = /^([+-]?)(?:0[xX]([0-9a-fA-F]+)|0[oO]?([0-7]+)|0[bB]([01]+)|(0|[1-9][0-9]*))$/.exec(text);
  if (!m) return undefined;
  const n = m[2] ? parseInt(m[2], 16) : m[3] ? parseInt(m[3], 8) : m[4] ? parseInt(m[4], 2) : Number(m[5]);
  return Number.isSafeInteger(n) ? (m[1] === '-' ? -n : n) : undefined;
}

/**
 * Parses `run` / `validate` arguments. Values are checked where they enter:
 * `-serverPort` must be a port number, `-trustDomain`, `-logLevel` and
 * `-logFormat` must be valid. A positional argument is refused (SPIRE would
 * silently ignore it and read the default config file).
 *
 * @example
 * ```ts
 * parseFlags(['-config=server.conf', '-expandEnv']); // { kind: 'ok', flags: { config: 'server.conf', expandEnv: true } }
 * parseFlags(['-confg', 'x']);                        // { kind: 'error', message: 'flag provided but not defined: -confg (did you mean -config?)' }
 * ```
 */
export function parseFlags(args: readonly string[]): FlagsResult {
  const flags: FlagValues = {};
  const set = flags as Record<string, string | number | boolean>;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      i++;
      if (i < args.length) return unexpected(args[i]!);
      break;
    }
    if (arg.length < 2 || arg[0] !== '-') return unexpected(arg);
    const body = arg[1] === '-' ? arg.slice(2) : arg.slice(1);
    if (body === '' || body[0] === '-' || body[0] === '=') return { kind: 'error', message: `bad flag syntax: ${arg}` };
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const inline = eq < 0 ? undefined : body.slice(eq + 1);
    const spec = SERVER_FLAGS.find((f) => f.name === name);
    if (!spec) {
      if (name === 'h' || name === 'help') return { kind: 'help' };
      return { kind: 'error', message: `flag provided but not defined: -${name}${suggest(name)}` };
    }
    if (spec.kind === 'bool') {
      if (inline === undefined) {
        set[spec.name] = true;
        continue;
      }
      const b = BOOLS.get(inline);
      if (b === undefined) return { kind: 'error', message: `invalid boolean value ${JSON.stringify(inline)} for -${name}: expected true or false` };
      set[spec.name] = b;
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= args.length) return { kind: 'error', message: `flag needs an argument: -${name}` };
      value = args[++i]!;
    }
    if (spec.kind === 'int') {
      const n = parseGoInt(value);
      if (n === undefined || n < 0 || n > 65535) {
        return { kind: 'error', message: `invalid value ${JSON.stringify(value)} for flag -${name}: expected a port number (0-65535)` };
      }
      set[spec.name] = n;
      continue;
    }
    const problem = value === '' ? undefined : spec.check?.(value);
    if (problem) return { kind: 'error', message: `invalid value ${JSON.stringify(value)} for flag -${name}: ${problem}` };
    set[spec.name] = value;
  }
  return { kind: 'ok', flags };
}

function unexpected(arg: string): FlagsResult {
  const hint = /\.(conf|hcl|json)$/.test(arg) ? ` (did you mean -config ${arg}?)` : '';
  return { kind: 'error', message: `unexpected argument ${JSON.stringify(arg)}: only flags are accepted${hint}` };
}

function suggest(name: string): string {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDist = 3;
  for (const f of SERVER_FLAGS) {
    const d = distance(lower, f.name.toLowerCase());
    if (d < bestDist) {
      best = f.name;
      bestDist = d;
    }
  }
  return best ? ` (did you mean -${best}?)` : '';
}

function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The help text of a command taking the server flags, in the layout of Go's
 * `flag.PrintDefaults`.
 *
 * @example
 * ```ts
 * flagsUsage('run'); // 'Usage of run:\n  -bindAddress string\n    \tIP address or DNS name ...'
 * ```
 */
export function flagsUsage(command: string): string {
  const lines = [`Usage of ${command}:`];
  for (const f of SERVER_FLAGS) {
    lines.push(`  -${f.name}${f.kind === 'bool' ? '' : ` ${f.kind}`}`);
    lines.push(`    \t${f.usage}${f.default !== undefined ? ` (default ${JSON.stringify(f.default)})` : ''}`);
  }
  return lines.join('\n') + '\n';
}
