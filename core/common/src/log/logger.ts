import type { Logger, LogFields, LogLevel } from '@spire-ts/plugin-sdk';

export type { Logger, LogFields, LogLevel };

export type LogFormat = 'text' | 'json';

const ORDER: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

export function isLogLevel(v: string): v is LogLevel {
  return Object.hasOwn(ORDER, v);
}

function quote(v: unknown): string {
  const s = v instanceof Error ? v.message : typeof v === 'string' ? v : JSON.stringify(v);
  return /^[A-Za-z0-9_./:@+-]+$/.test(s) ? s : JSON.stringify(s);
}

/**
 * The core's logger: SPIRE-style lines (logrus text `time=... level=info
 * msg="..." key=value`, or JSON with `time`, `level`, `msg`), with a level
 * filter and child loggers that add fields.
 */
export function createCoreLogger(opts: {
  level?: LogLevel;
  format?: LogFormat;
  write?: (line: string) => void;
  fields?: LogFields;
  now?: () => Date;
} = {}): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((l: string) => void process.stderr.write(l));
  const now = opts.now ?? (() => new Date());
  const base = opts.fields ?? {};
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (ORDER[level] < min) return;
    const all: LogFields = { ...base, ...fields };
    const time = now().toISOString();
    if (opts.format === 'json') {
      const o: Record<string, unknown> = { time, level, msg };
      for (const [k, v] of Object.entries(all)) o[k] = v instanceof Error ? v.message : v;
      write(JSON.stringify(o) + '\n');
      return;
    }
    const kv = Object.keys(all)
      .sort()
      .map((k) => `${k}=${quote(all[k])}`)
      .join(' ');
    write(`time=${JSON.stringify(time)} level=${level} msg=${JSON.stringify(msg)}${kv ? ' ' + kv : ''}\n`);
  };
  return {
    trace: (m, f) => emit('trace', m, f),
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    with: (fields) => createCoreLogger({ ...opts, fields: { ...base, ...fields } }),
  };
}

/** A logger that drops everything (tests, quiet tools). */
export const nullLogger: Logger = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  with: () => nullLogger,
};

/** Remembers lines in memory; tests assert on them. */
export function memoryLogger(): Logger & { lines: Array<{ level: LogLevel; msg: string; fields: LogFields }> } {
  const lines: Array<{ level: LogLevel; msg: string; fields: LogFields }> = [];
  const make = (base: LogFields): Logger => {
    const emit = (level: LogLevel) => (msg: string, fields?: LogFields) => void lines.push({ level, msg, fields: { ...base, ...fields } });
    return { trace: emit('trace'), debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error'), with: (f) => make({ ...base, ...f }) };
  };
  return Object.assign(make({}), { lines });
}
