// The CLI kit both sides' commands share: Go flag parsing of every kind,
// grpc-go error wording, socket selection, the command frame; and the
// stop stack and stream reader the running sides share.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import {
  StopStack,
  cliFlagsUsage,
  goDurationString,
  memoryLogger,
  messageReader,
  parseCliFlags,
  rpcErrorText,
  runCliFrame,
  selectSocketPath,
  unixSocketTarget,
  type CliFlag,
  type CliIO,
  type SocketRules,
} from '../src/index.js';

const SPECS: readonly CliFlag[] = [
  { name: 'audience', kind: 'commaList', usage: 'audiences' },
  { name: 'output', kind: 'string', usage: 'format' },
  { name: 'format', kind: 'string', usage: 'format', aliasOf: 'output' },
  { name: 'port', kind: 'port', usage: 'a port' },
  { name: 'timeout', kind: 'duration', typeName: 'value', usage: 'wait', default: 5000 },
  { name: 'banned', kind: 'tristate', usage: 'filter' },
];

describe('parseCliFlags', () => {
  it('adds comma lists, maps aliases, keeps defaults and records what was given', () => {
    const r = parseCliFlags(['-audience', 'a,b', '--audience=c', '-format', 'json', '-banned', 'false'], SPECS);
    expect(r.kind).toBe('ok');
    if (r.kind !== 'ok') return;
    expect(r.flags.list('audience')).toEqual(['a', 'b', 'c']);
    expect(r.flags.str('output')).toBe('json');
    expect(r.flags.ms('timeout')).toBe(5000);
    expect(r.flags.tristate('banned')).toBe(false);
    expect([...r.flags.given].sort()).toEqual(['audience', 'banned', 'output']);
  });

  it('refuses bad values in Go-like words', () => {
    expect(parseCliFlags(['-port', '70000'], SPECS)).toEqual({ kind: 'error', message: 'invalid value "70000" for flag -port: expected a port number (0-65535)' });
    expect(parseCliFlags(['-timeout', '5'], SPECS)).toMatchObject({ kind: 'error', message: expect.stringContaining('expected a duration with a unit') });
    expect(parseCliFlags(['-audienc', 'x'], SPECS)).toEqual({ kind: 'error', message: 'flag provided but not defined: -audienc (did you mean -audience?)' });
    expect(parseCliFlags(['x.conf'], SPECS)).toEqual({ kind: 'error', message: 'unexpected argument "x.conf": only flags are accepted' });
    expect(parseCliFlags(['x.conf'], [{ name: 'config', kind: 'string', usage: '' }])).toMatchObject({ message: expect.stringContaining('(did you mean -config x.conf?)') });
    expect(parseCliFlags(['-h'], SPECS)).toEqual({ kind: 'help' });
  });

  it('prints the help sorted, with type words and Go defaults', () => {
    const usage = cliFlagsUsage('fetch jwt', SPECS);
    expect(usage.split('\n')[0]).toBe('Usage of fetch jwt:');
    expect(usage).toContain('  -timeout value\n    \twait (default 5s)\n');
    expect(usage.indexOf('-audience')).toBeLessThan(usage.indexOf('-timeout'));
    expect(goDurationString(90_000)).toBe('1m30s');
  });
});

describe('rpcErrorText', () => {
  const grpcErr = (code: number, details: string): Error => Object.assign(new Error(details), { code, details, metadata: undefined });
  it("words failures as grpc-go's status errors", () => {
    expect(rpcErrorText(grpcErr(5, 'entry not found'))).toBe('rpc error: code = NotFound desc = entry not found');
    expect(rpcErrorText(grpcErr(4, 'Deadline exceeded'))).toBe('rpc error: code = DeadlineExceeded desc = context deadline exceeded');
    expect(rpcErrorText(grpcErr(14, 'No connection established. Last error: Error: connect ENOENT /x.sock. Resolution note: '), ' (hint)')).toBe(
      'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix /x.sock: connect: no such file or directory" (hint)',
    );
    expect(rpcErrorText(new Error('plain'))).toBe('plain');
  });
  it('adds the hint only when the connection failed, not to an Unavailable the peer answered', () => {
    expect(rpcErrorText(grpcErr(14, 'the agent is shutting down'), ' (hint)')).toBe('rpc error: code = Unavailable desc = the agent is shutting down');
    expect(rpcErrorText(grpcErr(14, 'could not fetch JWT-SVID: connect ECONNREFUSED 10.0.0.1:8081'), ' (hint)')).toBe(
      'rpc error: code = Unavailable desc = could not fetch JWT-SVID: connect ECONNREFUSED 10.0.0.1:8081',
    );
    expect(rpcErrorText(grpcErr(14, 'No connection established. Last error: null. Resolution note: '), ' (hint)')).toMatch(/ \(hint\)$/);
    expect(rpcErrorText(grpcErr(14, 'No connection established. Last error: Error: connect ECONNREFUSED /x.sock. Resolution note: '), ' (hint)')).toBe(
      'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix /x.sock: connect: connection refused" (hint)',
    );
  });
});

describe('selectSocketPath', () => {
  const rules: SocketRules = { templateEnv: 'TPL', socketEnv: 'SOCK', defaultPath: '/default.sock', missingTemplate: (v) => `define ${v}` };
  it('takes the flag, then the instance template, then the variable, then the fallback, then the default', () => {
    expect(selectSocketPath({ socketPath: '/f.sock', instance: '' }, { SOCK: '/e.sock' }, rules)).toBe('/f.sock');
    expect(selectSocketPath({ socketPath: '', instance: 'a' }, { TPL: '/run/%i.sock', SOCK: '/e.sock' }, rules)).toBe('/run/a.sock');
    expect(selectSocketPath({ socketPath: '', instance: '' }, { SOCK: '/e.sock' }, rules)).toBe('/e.sock');
    expect(selectSocketPath({ socketPath: '', instance: '' }, {}, { ...rules, fallback: () => '/fb.sock' })).toBe('/fb.sock');
    expect(selectSocketPath({ socketPath: '', instance: '' }, () => undefined, rules)).toBe('/default.sock');
    expect(() => selectSocketPath({ socketPath: '', instance: 'a' }, {}, rules)).toThrow('define TPL');
    expect(() => selectSocketPath({ socketPath: '', instance: 'a' }, { TPL: '/run.sock' }, rules)).toThrow('failed to find %i in TPL');
  });
});

describe('unixSocketTarget', () => {
  it('keeps a relative path relative (not an authority) and an absolute one absolute', () => {
    expect(unixSocketTarget('server/api.sock')).toBe('unix:server/api.sock');
    expect(unixSocketTarget('/tmp/spire-server/private/api.sock')).toBe('unix:/tmp/spire-server/private/api.sock');
    expect(unixSocketTarget('//tmp/x/../api.sock')).toBe('unix:/tmp/api.sock');
  });
});

describe('runCliFrame', () => {
  const io = (): CliIO & { out: string; err: string } => {
    const o = { out: '', err: '', cwd: '/', readFile: () => '', stdout: (t: string) => void (o.out += t), stderr: (t: string) => void (o.err += t) };
    return o;
  };
  const frame = { name: 'thing show', specs: SPECS, errorPrefix: 'Error: ', socketPath: () => '/s.sock' };
  it('runs with the output format and socket, and prints a failure with the prefix', async () => {
    const ok = io();
    expect(await runCliFrame({ ...frame, run: (_f, output, sock) => Promise.resolve(ok.stdout(`${output} ${sock}\n`)).then(() => 0) }, ['-output', 'JSON'], ok)).toBe(0);
    expect(ok.out).toBe('json /s.sock\n');
    const bad = io();
    expect(await runCliFrame({ ...frame, run: () => Promise.reject(new Error('boom')) }, [], bad)).toBe(1);
    expect(bad.err).toBe('Error: boom\n');
    const fmt = io();
    expect(await runCliFrame({ ...frame, run: () => Promise.resolve(0) }, ['-output', 'yaml'], fmt)).toBe(1);
    expect(fmt.err).toMatch(/^invalid value "yaml" for flag -output: bad formatter flag/);
  });
});

describe('StopStack', () => {
  it('stops newest first, logs a failing stop and goes on, and forgets what it stopped', async () => {
    const log = memoryLogger();
    const order: string[] = [];
    const stops = new StopStack();
    stops.push(() => void order.push('a'));
    stops.push(() => Promise.reject(new Error('b failed')));
    stops.push(() => void order.push('c'));
    await stops.stopAll(log);
    expect(order).toEqual(['c', 'a']);
    expect(log.lines).toEqual([{ level: 'warn', msg: 'Error while stopping', fields: { error: 'b failed' } }]);
    await stops.stopAll(log);
    expect(order).toEqual(['c', 'a']);
  });
});

describe('messageReader', () => {
  it('reads in order, then undefined at the end; a read after close is refused', async () => {
    const stream = new EventEmitter();
    const reader = messageReader<number>(stream);
    stream.emit('data', 1);
    stream.emit('data', 2);
    expect(await reader.next()).toBe(1);
    const pending = reader.next();
    expect(await pending).toBe(2);
    stream.emit('end');
    expect(await reader.next()).toBeUndefined();
    reader.close();
    await expect(reader.next()).rejects.toThrow('read after close');
    expect(() => stream.emit('error', new Error('late'))).not.toThrow();
  });

  it('rejects with the stream error, or when the call is cancelled', async () => {
    const failing = new EventEmitter();
    const r1 = messageReader<number>(failing);
    const p = r1.next();
    failing.emit('error', new Error('broken'));
    await expect(p).rejects.toThrow('broken');
    const cancelled = new EventEmitter();
    const r2 = messageReader<number>(cancelled);
    cancelled.emit('cancelled');
    await expect(r2.next()).rejects.toThrow('the call was cancelled');
  });
});
