import { describe, expect, it } from 'vitest';
import { createLogger, hclogTimestamp } from '@spire-ts/plugin-sdk';

/** Go's `2006-01-02T15:04:05.000000Z07:00`, the layout go-plugin parses @timestamp with. */
const GO_LAYOUT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;

describe('hclogTimestamp', () => {
  it.each([
    [0, '1970-01-01T00:00:00.000000Z'],
    [1, '1970-01-01T00:00:00.000001Z'],
    [999_999, '1970-01-01T00:00:00.999999Z'],
    [1_000_000, '1970-01-01T00:00:01.000000Z'],
    [1_700_000_000_123_456, '2023-11-14T22:13:20.123456Z'],
    [1_700_000_000_000_999.75, '2023-11-14T22:13:20.000999Z'],
    [Date.UTC(2026, 0, 2, 15, 4, 5, 123) * 1000 + 456, '2026-01-02T15:04:05.123456Z'],
  ])('%d µs → %s', (micros, want) => {
    expect(hclogTimestamp(micros)).toBe(want);
  });

  it('always has exactly six fractional digits and matches Go’s layout', () => {
    const now = (performance.timeOrigin + performance.now()) * 1000;
    for (let i = 0; i < 2000; i++) {
      const ts = hclogTimestamp(now + i * 997.13);
      expect(ts).toMatch(GO_LAYOUT);
      expect(ts.split('.')[1]).toHaveLength(7); // six digits + Z
    }
  });

  it('agrees with Date to the millisecond', () => {
    const micros = 1_750_000_123_456_789;
    expect(hclogTimestamp(micros).slice(0, 23)).toBe(new Date(Math.floor(micros / 1000)).toISOString().slice(0, 23));
  });
});

describe('createLogger', () => {
  function capture(opts: Parameters<typeof createLogger>[0] = {}): { lines: Array<Record<string, unknown>>; log: ReturnType<typeof createLogger> } {
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger({
      ...opts,
      write: (l) => {
        expect(l.endsWith('\n')).toBe(true);
        expect(l.slice(0, -1)).not.toContain('\n');
        lines.push(JSON.parse(l) as Record<string, unknown>);
      },
    });
    return { lines, log };
  }

  it('writes one hclog JSON object per line with @level, @message, @timestamp, @module and fields', () => {
    const { lines, log } = capture({ module: 'km' });
    log.info('key generated', { key_id: 'k1', n: 2, multi: 'a\nb' });
    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(line).toMatchObject({ '@level': 'info', '@message': 'key generated', '@module': 'km', key_id: 'k1', n: 2, multi: 'a\nb' });
    expect(line!['@timestamp']).toMatch(GO_LAYOUT);
  });

  it('serialises errors, bigints and bytes', () => {
    const { lines, log } = capture();
    log.error('failed', { error: new Error('boom'), big: 12345678901234567890n, raw: new Uint8Array([1, 2, 3]) });
    expect(lines[0]).toMatchObject({ '@level': 'error', error: 'boom', big: '12345678901234567890', raw: 'AQID' });
  });

  it('filters below the level and with() adds fields', () => {
    const { lines, log } = capture({ level: 'warn' });
    log.trace('t');
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.with({ sub: 'x' }).error('e', { k: 1 });
    expect(lines.map((l) => [l['@level'], l['@message']])).toEqual([['warn', 'w'], ['error', 'e']]);
    expect(lines[1]).toMatchObject({ sub: 'x', k: 1 });
    expect(lines[0]).not.toHaveProperty('sub');
  });
});
