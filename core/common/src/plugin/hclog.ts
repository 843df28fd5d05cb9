import type { LogLevel } from '../log/logger.js';

export interface PluginLogLine {
  level: LogLevel;
  msg: string;
  fields: Record<string, unknown>;
}

const LEVELS: Record<string, LogLevel> = { trace: 'trace', debug: 'debug', info: 'info', warn: 'warn', warning: 'warn', error: 'error' };

/** Per-stream parser state: after a panic, every line is an error. */
export interface StderrState {
  panicking: boolean;
}

/**
 * Interprets one stderr line of a plugin the way go-plugin's host does: an
 * hclog JSON object keeps its level, message and fields; a `[LEVEL]` prefix
 * picks the level; `panic: ` / `fatal error: ` switch to error for the rest
 * of the stream; anything else is debug.
 */
export function parsePluginStderr(line: string, state: StderrState): PluginLogLine {
  const text = line.replace(/\r$/, '');
  if (!state.panicking && text.startsWith('{')) {
    try {
      const obj = JSON.parse(text) as unknown;
      if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
        const rec = obj as Record<string, unknown>;
        const level = LEVELS[String(rec['@level'] ?? '').toLowerCase()] ?? 'info';
        const fields: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(rec)) {
          if (k === '@level' || k === '@message' || k === '@timestamp') continue;
          fields[k] = v;
        }
        return { level, msg: String(rec['@message'] ?? ''), fields };
      }
    } catch {
      // not JSON: fall through
    }
  }
  if (state.panicking) return { level: 'error', msg: text, fields: {} };
  if (text.startsWith('panic: ') || text.startsWith('fatal error: ')) {
    state.panicking = true;
    return { level: 'error', msg: text, fields: {} };
  }
  const m = /^\[(TRACE|DEBUG|INFO|WARN|ERROR)\]\s?(.*)$/.exec(text);
  if (m) return { level: LEVELS[m[1]!.toLowerCase()]!, msg: m[2]!, fields: {} };
  return { level: 'debug', msg: text, fields: {} };
}
