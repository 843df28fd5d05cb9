/**
 * Plugin logging: hclog-style JSON lines on stderr, which the host re-emits
 * under the plugin's type and name at the line's level. Stdout is reserved for
 * the go-plugin handshake and must never carry logs.
 */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export type LogFields = Record<string, unknown>;

/**
 * A structured logger.
 *
 * @example
 * ```ts
 * log.info('key generated', { key_id: 'x509-CA-A' });
 * ```
 */
export interface Logger {
  trace(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  with(fields: LogFields): Logger;
}

const ORDER: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

/**
 * hclog's timestamp layout: RFC 3339 with exactly six fractional digits
 * (`2006-01-02T15:04:05.000000Z07:00`). The host's parser (Go's, in SPIRE)
 * rejects three digits, so `toISOString()` is not enough.
 */
export function hclogTimestamp(epochMicros: number): string {
  const ms = Math.floor(epochMicros / 1000);
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const micros = String(Math.floor(epochMicros) % 1_000_000).padStart(6, '0');
  return `${iso.slice(0, 19)}.${micros}Z`;
}

function nowMicros(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

function serialise(value: unknown): unknown {
  if (value instanceof Error) return value.message;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value;
}

/**
 * Creates the logger a plugin writes to stderr with.
 *
 * @example
 * ```ts
 * const log = createLogger({ module: 'keymanager-memory' });
 * log.warn('slow operation', { elapsed_ms: 120 });
 * ```
 */
export function createLogger(opts: {
  module?: string;
  level?: LogLevel;
  write?: (line: string) => void;
  fields?: LogFields;
} = {}): Logger {
  const write = opts.write ?? ((line: string) => void process.stderr.write(line));
  const min = ORDER[opts.level ?? 'trace'];
  const base: LogFields = { ...(opts.module ? { '@module': opts.module } : {}), ...opts.fields };
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (ORDER[level] < min) return;
    const line: Record<string, unknown> = {
      '@level': level,
      '@message': msg,
      '@timestamp': hclogTimestamp(nowMicros()),
      ...base,
    };
    if (fields) for (const [k, v] of Object.entries(fields)) line[k] = serialise(v);
    write(JSON.stringify(line) + '\n');
  };
  return {
    trace: (m, f) => emit('trace', m, f),
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    with: (fields) => createLogger({ ...opts, fields: { ...opts.fields, ...fields } }),
  };
}
