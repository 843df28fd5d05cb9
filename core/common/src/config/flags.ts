/**
 * Command-line flags parsed with Go's `flag` package rules, as SPIRE's
 * `spire-server` and `spire-agent` commands use them: `-name value`,
 * `-name=value`, `--name`, booleans as `-name` or `-name=false`, parsing
 * stops at `--`, and the last occurrence wins. Unlike Go, a positional
 * argument is refused (SPIRE would silently ignore it), and an unknown flag
 * gets a did-you-mean hint. The help text follows `flag.PrintDefaults`.
 *
 * @module
 */

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

/**
 * Parses command arguments against `specs`. Values are checked where they
 * enter (`int` flags must be port numbers; string flags run their `check`).
 *
 * @example
 * ```ts
 * parseGoFlags(['-config=a.conf', '-expandEnv'], specs); // { kind: 'ok', flags: { config: 'a.conf', expandEnv: true } }
 * parseGoFlags(['-confg', 'x'], specs);                  // { kind: 'error', message: 'flag provided but not defined: -confg (did you mean -config?)' }
 * ```
 */
export function parseGoFlags<V extends object>(args: readonly string[], specs: readonly GoFlagSpec<Extract<keyof V, string>>[]): GoFlagsResult<V> {
  const set: Record<string, string | number | boolean> = {};
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
    const spec = specs.find((f) => f.name === name);
    if (!spec) {
      if (name === 'h' || name === 'help') return { kind: 'help' };
      const hint = didYouMean(name, specs.map((f) => f.name));
      return { kind: 'error', message: `flag provided but not defined: -${name}${hint ? ` (did you mean -${hint}?)` : ''}` };
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
  return { kind: 'ok', flags: set as V };
}

function unexpected<V>(arg: string): GoFlagsResult<V> {
  const hint = /\.(conf|hcl|json)$/.test(arg) ? ` (did you mean -config ${arg}?)` : '';
  return { kind: 'error', message: `unexpected argument ${JSON.stringify(arg)}: only flags are accepted${hint}` };
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

/**
 * The help text of a command, in the layout of Go's `flag.PrintDefaults`.
 *
 * @example
 * ```ts
 * goFlagsUsage('run', specs); // 'Usage of run:\n  -config string\n    \tPath to a SPIRE config file (default "...")\n'
 * ```
 */
export function goFlagsUsage(command: string, specs: readonly GoFlagSpec[]): string {
  const lines = [`Usage of ${command}:`];
  for (const f of specs) {
    lines.push(`  -${f.name}${f.kind === 'bool' ? '' : ` ${f.kind}`}`);
    lines.push(`    \t${f.usage}${f.default !== undefined ? ` (default ${JSON.stringify(f.default)})` : ''}`);
  }
  return lines.join('\n') + '\n';
}
