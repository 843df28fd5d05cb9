/** Shared pieces of connection-string and config parsing. */

/** A connection string or config value that cannot be used; the message never includes a password. */
export class ConnectionStringError extends Error {
  override name = 'ConnectionStringError';
}

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a Go duration string (`300ms`, `1.5h`, `2h45m`, `0`) into
 * milliseconds, as Go's time.ParseDuration does.
 */
export function parseGoDuration(text: string): number {
  const s = text.trim();
  if (s === '0' || s === '+0' || s === '-0') return 0;
  const m = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(s);
  if (!m) throw new ConnectionStringError(`invalid duration ${JSON.stringify(text)}`);
  let total = 0;
  for (const part of s.replace(/^[+-]/, '').matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number(part[1]) * (UNITS[part[2] as string] as number);
  }
  return m[1] === '-' ? -total : total;
}
