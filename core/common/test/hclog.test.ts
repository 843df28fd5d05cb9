import { describe, expect, it } from 'vitest';
import { parsePluginStderr, type PluginLogLine, type StderrState } from '@spire-ts/common';

function run(lines: string[]): PluginLogLine[] {
  const state: StderrState = { panicking: false };
  return lines.map((l) => parsePluginStderr(l, state));
}

describe('parsePluginStderr', () => {
  const single: Array<[string, string, PluginLogLine]> = [
    [
      'hclog JSON keeps level, message and extra fields',
      '{"@level":"warn","@message":"slow","@timestamp":"2026-01-02T15:04:05.123456Z","@module":"km","elapsed_ms":120,"nested":{"a":[1]}}',
      { level: 'warn', msg: 'slow', fields: { '@module': 'km', elapsed_ms: 120, nested: { a: [1] } } },
    ],
    ['JSON level is case-insensitive', '{"@level":"ERROR","@message":"boom"}', { level: 'error', msg: 'boom', fields: {} }],
    ['JSON "warning" is warn', '{"@level":"warning","@message":"w"}', { level: 'warn', msg: 'w', fields: {} }],
    ['JSON trace', '{"@level":"trace","@message":"t"}', { level: 'trace', msg: 't', fields: {} }],
    ['JSON without @level is info', '{"@message":"no level","k":"v"}', { level: 'info', msg: 'no level', fields: { k: 'v' } }],
    ['JSON with an unknown level is info', '{"@level":"chatty","@message":"m"}', { level: 'info', msg: 'm', fields: {} }],
    ['JSON without @message', '{"@level":"debug","k":1}', { level: 'debug', msg: '', fields: { k: 1 } }],
    ['JSON with trailing CR', '{"@level":"info","@message":"crlf"}\r', { level: 'info', msg: 'crlf', fields: {} }],
    ['invalid JSON starting with { is a plain line', '{"@level":"error","@message":', { level: 'debug', msg: '{"@level":"error","@message":', fields: {} }],
    ['a brace and prose', '{not json} at all', { level: 'debug', msg: '{not json} at all', fields: {} }],
    ['JSON array is a plain line', '[1,2,3]', { level: 'debug', msg: '[1,2,3]', fields: {} }],
    ['[TRACE] prefix', '[TRACE] tracing', { level: 'trace', msg: 'tracing', fields: {} }],
    ['[DEBUG] prefix', '[DEBUG] debugging', { level: 'debug', msg: 'debugging', fields: {} }],
    ['[INFO] prefix', '[INFO]  two spaces', { level: 'info', msg: ' two spaces', fields: {} }],
    ['[WARN] prefix', '[WARN] careful', { level: 'warn', msg: 'careful', fields: {} }],
    ['[ERROR] prefix', '[ERROR] broken', { level: 'error', msg: 'broken', fields: {} }],
    ['prefix without space', '[WARN]tight', { level: 'warn', msg: 'tight', fields: {} }],
    ['lowercase prefix is not a level', '[warn] quiet', { level: 'debug', msg: '[warn] quiet', fields: {} }],
    ['plain line is debug', 'just some output', { level: 'debug', msg: 'just some output', fields: {} }],
    ['empty line', '', { level: 'debug', msg: '', fields: {} }],
  ];
  it.each(single)('%s', (_name, line, want) => {
    expect(run([line])).toEqual([want]);
  });

  it('panic: switches to error for the rest of the stream, JSON included', () => {
    const out = run([
      '[INFO] before',
      'panic: runtime error: index out of range [3] with length 3',
      '',
      'goroutine 1 [running]:',
      '{"@level":"info","@message":"after"}',
      '[DEBUG] still error',
    ]);
    expect(out.map((l) => l.level)).toEqual(['info', 'error', 'error', 'error', 'error', 'error']);
    expect(out[4]).toEqual({ level: 'error', msg: '{"@level":"info","@message":"after"}', fields: {} });
  });

  it('fatal error: switches to error too', () => {
    expect(run(['fatal error: all goroutines are asleep - deadlock!', 'main.main()']).map((l) => l.level)).toEqual(['error', 'error']);
  });

  it('panic state is per stream', () => {
    const a: StderrState = { panicking: false };
    const b: StderrState = { panicking: false };
    parsePluginStderr('panic: boom', a);
    expect(parsePluginStderr('plain', a).level).toBe('error');
    expect(parsePluginStderr('plain', b).level).toBe('debug');
  });

  it('"panic:" not at the start of the line does not switch', () => {
    expect(run(['recovered from panic: x', 'next']).map((l) => l.level)).toEqual(['debug', 'debug']);
  });
});
