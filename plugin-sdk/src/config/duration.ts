/**
 * Go `time.Duration` strings ("1h30m", "300ms", "24h") to and from
 * milliseconds.
 *
 * @module
 */

const UNITS: ReadonlyMap<string, number> = new Map([
  ['ns', 1],
  ['us', 1e3],
  ['\u00b5s', 1e3], // µs (micro sign)
  ['\u03bcs', 1e3], // μs (Greek mu)
  ['ms', 1e6],
  ['s', 1e9],
  ['m', 60e9],
  ['h', 3600e9],
]);

/** Go's Duration is an int64 count of nanoseconds. */
const MAX_NS = 2 ** 63 - 1;

/**
 * Parses a Go duration string (`time.ParseDuration` syntax: an optional sign
 * and a sequence of decimal numbers with units `ns`, `us`/`µs`, `ms`, `s`,
 * `m`, `h`, such as `"1h30m"`, `"1.5s"`, `"-300ms"`; `"0"` needs no unit) and
 * returns milliseconds (fractional for sub-millisecond values). Throws a
 * `RangeError` with a precise message otherwise.
 *
 * @example
 * ```ts
 * parseDuration('1h30m'); // 5_400_000
 * parseDuration('300ms'); // 300
 * parseDuration('24');    // throws RangeError: missing unit in duration "24"
 * ```
 */
export function parseDuration(text: string): number {
  const quoted = JSON.stringify(text);
  let s = text;
  let neg = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    neg = s.startsWith('-');
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw new RangeError(`invalid duration ${quoted}`);
  let ns = 0;
  while (s !== '') {
    const num = /^(\d*)(?:\.(\d*))?/.exec(s)![0];
    const [intPart, fracPart] = num.split('.') as [string, string | undefined];
    if (intPart === '' && (fracPart === undefined || fracPart === '')) throw new RangeError(`invalid duration ${quoted}`);
    s = s.slice(num.length);
    const unitLen = /^[^\d.]*/.exec(s)![0].length;
    if (unitLen === 0) throw new RangeError(`missing unit in duration ${quoted} (for example "${text}s")`);
    const unit = s.slice(0, unitLen);
    s = s.slice(unitLen);
    const scale = UNITS.get(unit);
    if (scale === undefined) {
      throw new RangeError(`unknown unit ${JSON.stringify(unit)} in duration ${quoted} (valid units: ns, us, ms, s, m, h)`);
    }
    ns += Number(`${intPart || '0'}.${fracPart ?? ''}0`) * scale;
    if (ns > MAX_NS) throw new RangeError(`invalid duration ${quoted} (out of range)`);
  }
  const ms = Math.round(ns) / 1e6;
  return neg ? -ms : ms;
}

/**
 * Formats milliseconds like Go's `Duration.String`: `"1h30m0s"`, `"1.5s"`,
 * `"300ms"`, `"0s"` (nanosecond precision).
 *
 * @example
 * ```ts
 * formatDuration(5_400_000); // '1h30m0s'
 * formatDuration(300);       // '300ms'
 * ```
 */
export function formatDuration(ms: number): string {
  let ns = BigInt(Math.round(ms * 1e6));
  if (ns === 0n) return '0s';
  const sign = ns < 0n ? '-' : '';
  if (ns < 0n) ns = -ns;
  const frac = (v: bigint, digits: number): string => {
    const unit = 10n ** BigInt(digits);
    const f = (v % unit).toString().padStart(digits, '0').replace(/0+$/, '');
    return `${v / unit}${f ? `.${f}` : ''}`;
  };
  if (ns < 1_000n) return `${sign}${ns}ns`;
  if (ns < 1_000_000n) return `${sign}${frac(ns, 3)}\u00b5s`;
  if (ns < 1_000_000_000n) return `${sign}${frac(ns, 6)}ms`;
  const secs = ns / 1_000_000_000n;
  const out = `${frac(ns % 60_000_000_000n, 9)}s`;
  const mins = secs / 60n;
  if (mins === 0n) return sign + out;
  const hours = mins / 60n;
  return `${sign}${hours > 0n ? `${hours}h` : ''}${mins % 60n}m${out}`;
}
