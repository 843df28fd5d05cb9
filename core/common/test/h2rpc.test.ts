import { spawn, type ChildProcess } from 'node:child_process';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeanGrpcServer, PluginError, Status, addService, isServiceError, type ServiceImpl } from '@spire-ts/plugin-sdk';
import { serviceCodecs } from '@spire-ts/proto/codec';
import { PluginRpc } from '../src/plugin/h2rpc.js';
import { H2Connection } from '../src/plugin/h2conn.js';

const KM = 'spire.plugin.server.keymanager.v1.KeyManager';
const HEALTH = 'grpc.health.v1.Health';
const FIXTURE = fileURLToPath(new URL('./fixtures/h2-server.mjs', import.meta.url));

/** A status message that needs percent-encoding on the wire. */
const NASTY = 'clé "k1" introuvable: 100% sûr\nligne 2 ☃ %41';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const dirs: string[] = [];
function socketPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'h2rpc-'));
  dirs.push(dir);
  return join(dir, 's.sock');
}

async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  if (!isServiceError(caught)) throw new Error(`expected a ServiceError, got ${String(caught)}`);
  return caught as grpc.ServiceError;
}

interface Seen {
  deadline: number;
  cancelled: Promise<void>;
}

interface ObservableCall {
  metadata: grpc.Metadata;
  getDeadline(): Date | number;
  on(event: 'cancelled', fn: () => void): unknown;
}

/** The KeyManager both servers run; `seen` records calls by their x-tag metadata. */
function keyManager(seen: Map<string, Seen>): ServiceImpl<typeof KM> {
  const observe = (call: ObservableCall): void => {
    const tag = String(call.metadata.get('x-tag')[0] ?? '');
    if (tag) seen.set(tag, { deadline: Number(call.getDeadline()), cancelled: new Promise<void>((r) => call.on('cancelled', () => r())) });
  };
  return {
    async SignData(req, call) {
      observe(call);
      switch (req.key_id) {
        case 'fail':
          throw new PluginError(Status.FAILED_PRECONDITION, NASTY);
        case 'fail-md': {
          const md = new grpc.Metadata();
          md.set('x-why', 'because');
          md.set('x-why-bin', Buffer.from([0, 255]));
          throw new PluginError(Status.NOT_FOUND, 'gone', { metadata: md });
        }
        case 'fail-after-headers': {
          const md = new grpc.Metadata();
          md.set('x-early', 'yes');
          call.sendMetadata(md);
          throw new PluginError(Status.ABORTED, NASTY);
        }
        case 'hang':
          return new Promise(() => undefined);
        case 'md':
          return {
            signature: (call.metadata.get('x-data-bin')[0] as Buffer | undefined) ?? Buffer.alloc(0),
            key_fingerprint: call.metadata.get('x-test').map(String).join('|'),
          };
        case 'big':
          return { signature: Buffer.from(req.data).reverse(), key_fingerprint: String(req.data.length) };
        default:
          // Answers out of order under concurrency.
          await sleep(Math.floor(Math.random() * 15));
          return { signature: Buffer.from(req.data).reverse(), key_fingerprint: req.key_id };
      }
    },
    GetPublicKey() {
      return { public_key: { id: 'k1', type: 'EC_P256', pkix_data: Buffer.from('pkix'), fingerprint: 'fp' } };
    },
  };
}

interface Running {
  path: string;
  seen: Map<string, Seen>;
  close(): Promise<void>;
}

async function startLean(): Promise<Running> {
  const seen = new Map<string, Seen>();
  const server = new LeanGrpcServer();
  addService(server, KM, keyManager(seen));
  const path = socketPath();
  await server.listen(path);
  return { path, seen, close: () => server.close(100) };
}

async function startGrpcJs(): Promise<Running> {
  const seen = new Map<string, Seen>();
  const server = new grpc.Server({ 'grpc.max_receive_message_length': -1 });
  addService(server, KM, keyManager(seen));
  const path = socketPath();
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${path}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
  return {
    path,
    seen,
    close: async () => {
      server.forceShutdown();
    },
  };
}

async function waitFor<T>(get: () => T | undefined, what: string, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function tagged(tag: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('x-tag', tag);
  return md;
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe.each([
  ['LeanGrpcServer', startLean],
  ['grpc-js Server', startGrpcJs],
] as const)('PluginRpc against %s', (_kind, start) => {
  let srv: Running;
  let rpc: PluginRpc;

  beforeAll(async () => {
    srv = await start();
    rpc = new PluginRpc(srv.path);
  });
  afterAll(async () => {
    rpc?.close();
    await srv?.close();
  });

  it('returns the decoded response', async () => {
    const res = await rpc.unary(KM, 'SignData', { key_id: 'k1', data: Buffer.from('abc') });
    expect(res.key_fingerprint).toBe('k1');
    expect(res.signature.toString()).toBe('cba');
    const pk = await rpc.unary(KM, 'GetPublicKey', { key_id: 'k1' });
    expect(pk.public_key).toMatchObject({ id: 'k1', type: 'EC_P256', fingerprint: 'fp' });
    expect(pk.public_key?.pkix_data.toString()).toBe('pkix');
  });

  it('reports an error status with its UTF-8 message intact (trailers-only response)', async () => {
    const err = await failure(rpc.unary(KM, 'SignData', { key_id: 'fail' }));
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.details).toBe(NASTY);
    expect(err.message).toContain('FAILED_PRECONDITION');
  });

  it('keeps the trailing metadata of a trailers-only error', async () => {
    const err = await failure(rpc.unary(KM, 'SignData', { key_id: 'fail-md' }));
    expect(err.code).toBe(Status.NOT_FOUND);
    expect(err.details).toBe('gone');
    expect(err.metadata.get('x-why')).toEqual(['because']);
    expect(err.metadata.get('x-why-bin')).toEqual([Buffer.from([0, 255])]);
  });

  it('reads the status from trailers when an error follows response headers', async () => {
    const err = await failure(rpc.unary(KM, 'SignData', { key_id: 'fail-after-headers' }));
    expect(err.code).toBe(Status.ABORTED);
    expect(err.details).toBe(NASTY);
  });

  it('reports UNIMPLEMENTED for a method the plugin does not implement', async () => {
    const err = await failure(rpc.unary(KM, 'GetPublicKeys', {}));
    expect(err.code).toBe(Status.UNIMPLEMENTED);
    const health = await failure(rpc.unary(HEALTH, 'Check', { service: '' }));
    expect(health.code).toBe(Status.UNIMPLEMENTED);
  });

  it('sends metadata given in the options', async () => {
    const md = new grpc.Metadata();
    md.set('x-test', 'hello');
    md.set('x-data-bin', Buffer.from([0, 1, 2, 250]));
    const res = await rpc.unary(KM, 'SignData', { key_id: 'md' }, { metadata: md });
    expect(res.key_fingerprint).toBe('hello');
    expect([...res.signature]).toEqual([0, 1, 2, 250]);
  });

  it('fails with DEADLINE_EXCEEDED past deadlineMs and the server sees the cancellation', async () => {
    const t0 = Date.now();
    const err = await failure(rpc.unary(KM, 'SignData', { key_id: 'hang' }, { deadlineMs: 200, metadata: tagged('deadline') }));
    expect(err.code).toBe(Status.DEADLINE_EXCEEDED);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(Date.now() - t0).toBeLessThan(2000);
    const seen = await waitFor(() => srv.seen.get('deadline'), 'the call on the server');
    expect(seen.deadline).toBeGreaterThan(t0 + 100);
    expect(seen.deadline).toBeLessThanOrEqual(t0 + 400);
    await seen.cancelled;
  });

  it('sends a long deadline as a valid grpc-timeout (at most 8 digits)', async () => {
    const t0 = Date.now();
    const twoDays = 2 * 24 * 3600 * 1000;
    await rpc.unary(KM, 'SignData', { key_id: 'long', data: Buffer.from('x') }, { deadlineMs: twoDays, metadata: tagged('long') });
    const seen = srv.seen.get('long')!;
    expect(seen.deadline).toBeGreaterThanOrEqual(t0 + twoDays - 1000);
    expect(seen.deadline).toBeLessThanOrEqual(Date.now() + twoDays + 60_000);
  });

  it('moves an 8 MiB message each way', async () => {
    const data = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32BE(i, i);
    const res = await rpc.unary(KM, 'SignData', { key_id: 'big', data });
    expect(res.key_fingerprint).toBe(String(data.length));
    expect(res.signature.equals(Buffer.from(data).reverse())).toBe(true);
  });

  it('refuses a response larger than maxMessageBytes with RESOURCE_EXHAUSTED', async () => {
    const small = new PluginRpc(srv.path, { maxMessageBytes: 1024 });
    try {
      const ok = await small.unary(KM, 'SignData', { key_id: 'big', data: Buffer.alloc(500) });
      expect(ok.signature.length).toBe(500);
      const err = await failure(small.unary(KM, 'SignData', { key_id: 'big', data: Buffer.alloc(4096) }));
      expect(err.code).toBe(Status.RESOURCE_EXHAUSTED);
    } finally {
      small.close();
    }
  });

  it('matches 200 concurrent calls to their responses', async () => {
    const n = 200;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => rpc.unary(KM, 'SignData', { key_id: `c-${i}`, data: Buffer.from(`payload-${i}`) })),
    );
    results.forEach((res, i) => {
      expect(res.key_fingerprint).toBe(`c-${i}`);
      expect(res.signature.toString()).toBe([...`payload-${i}`].reverse().join(''));
    });
  });

  it('rejects a streaming method with a TypeError', async () => {
    await expect(rpc.unary(HEALTH, 'Watch' as never, { service: '' } as never)).rejects.toBeInstanceOf(TypeError);
    await expect(rpc.unary('plugin.GRPCBroker', 'StartStream' as never, {} as never)).rejects.toThrow(/not a unary method/);
    await expect(rpc.unary(KM, 'NoSuchMethod' as never, {} as never)).rejects.toBeInstanceOf(TypeError);
  });

  it('fails calls after close() with UNAVAILABLE, and calls in flight too', async () => {
    const own = new PluginRpc(srv.path);
    expect((await own.unary(KM, 'SignData', { key_id: 'x', data: Buffer.from('1') })).key_fingerprint).toBe('x');
    const pending = failure(own.unary(KM, 'SignData', { key_id: 'hang' }, { metadata: tagged('closed-mid-call') }));
    await waitFor(() => srv.seen.get('closed-mid-call'), 'the call on the server');
    own.close();
    expect((await pending).code).toBe(Status.UNAVAILABLE);
    const err = await failure(own.unary(KM, 'SignData', { key_id: 'x' }));
    expect(err.code).toBe(Status.UNAVAILABLE);
    await srv.seen.get('closed-mid-call')!.cancelled;
  });
});

describe('PluginRpc: deadlines beyond what a timer can wait', () => {
  it('runs a call with a deadline over 24.8 days away (LeanGrpcServer)', async () => {
    // Not against grpc-js's server: it computes such timeouts with `| 0` and fails them at once.
    const srv = await startLean();
    const rpc = new PluginRpc(srv.path);
    try {
      const t0 = Date.now();
      const thirtyDays = 30 * 24 * 3600 * 1000;
      const res = await rpc.unary(KM, 'SignData', { key_id: 'far', data: Buffer.from('ab') }, { deadlineMs: thirtyDays, metadata: tagged('far') });
      expect(res.key_fingerprint).toBe('far');
      expect(srv.seen.get('far')!.deadline).toBeGreaterThanOrEqual(t0 + thirtyDays - 1000);
    } finally {
      rpc.close();
      await srv.close();
    }
  });
});

describe('PluginRpc: unreachable and dying servers', () => {
  it('fails with UNAVAILABLE when the socket does not exist', async () => {
    const rpc = new PluginRpc(join(socketPath(), 'missing.sock'));
    try {
      const err = await failure(rpc.unary(KM, 'SignData', { key_id: 'x' }));
      expect(err.code).toBe(Status.UNAVAILABLE);
      // And again (a fresh connection attempt, not a stale session).
      expect((await failure(rpc.unary(KM, 'SignData', { key_id: 'x' }))).code).toBe(Status.UNAVAILABLE);
    } finally {
      rpc.close();
    }
  });

  function startFixture(path: string, kind: 'lean' | 'grpc-js'): { child: ChildProcess; lines: string[]; line(pred: (l: string) => boolean): Promise<string> } {
    const child = spawn(process.execPath, [FIXTURE, path, kind], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: string[] = [];
    let partial = '';
    child.stdout!.on('data', (d: Buffer) => {
      partial += d.toString();
      const parts = partial.split('\n');
      partial = parts.pop()!;
      lines.push(...parts);
    });
    const line = (pred: (l: string) => boolean): Promise<string> => waitFor(() => lines.find(pred), `a fixture line (${lines.join(' / ')})`, 8000);
    return { child, lines, line };
  }

  function exited(child: ChildProcess): Promise<void> {
    return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
  }

  it.each(['lean', 'grpc-js'] as const)('fails a pending call with UNAVAILABLE when the %s server process is killed, then reconnects to a new one', async (kind) => {
    const path = socketPath();
    const first = startFixture(path, kind);
    const rpc = new PluginRpc(path);
    try {
      await first.line((l) => l === 'ready');
      const pending = failure(rpc.unary(KM, 'SignData', { key_id: 'doomed' }));
      await first.line((l) => l === 'call doomed');
      first.child.kill('SIGKILL');
      const err = await pending;
      expect(err.code).toBe(Status.UNAVAILABLE);
      await exited(first.child);

      // A later call while nothing listens fails too.
      expect((await failure(rpc.unary(KM, 'GetPublicKeys', {}))).code).toBe(Status.UNAVAILABLE);

      const second = startFixture(path, kind);
      try {
        await second.line((l) => l === 'ready');
        const res = await rpc.unary(KM, 'GetPublicKeys', {});
        expect(res.public_keys.map((k) => k.id)).toEqual([`from-${second.child.pid}`]);
      } finally {
        second.child.kill('SIGKILL');
        await exited(second.child);
      }
    } finally {
      rpc.close();
      first.child.kill('SIGKILL');
    }
  });
});

describe('H2Connection on a dead connection', () => {
  it('fails a stream started after the connection died at once', async () => {
    const path = socketPath();
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(path, r));
    const socket = net.connect(path);
    let gone = false;
    const conn = new H2Connection(socket, () => (gone = true));
    await new Promise((r) => socket.once('close', r));
    expect(gone).toBe(true);
    expect(conn.dead).toBe(true);
    const failures: string[] = [];
    conn.start({
      id: 0, headerBlock: Buffer.alloc(0), request: Buffer.alloc(0), pending: Buffer.alloc(0), sendWindow: 0, received: 0, refusals: 0,
      localEnded: false, remoteEnded: false, onHeaders: () => undefined, onData: () => undefined, onFailure: (m) => failures.push(m),
    });
    expect(failures).toEqual(['plugin connection failed: the connection is closed']);
    server.close();
  });
});

describe('PluginRpc: HTTP/2 flow control, stream limits, PING and GOAWAY', () => {
  it('sends requests through small stream windows, queues past MAX_CONCURRENT_STREAMS, answers PINGs and reconnects after GOAWAY', async () => {
    const h2 = http2.createServer({ settings: { initialWindowSize: 1000, maxConcurrentStreams: 2, enablePush: false } });
    // node:http2 as the peer (an HTTP/2 implementation independent of ours), answering
    // SignData with the request's data length as gRPC: headers, one message, trailers.
    const signData = serviceCodecs(KM).SignData!;
    h2.on('stream', (stream: http2.ServerHttp2Stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const req = signData.requestDeserialize(Buffer.concat(chunks).subarray(5)) as { data: Buffer };
        const body = signData.responseSerialize({ signature: Buffer.alloc(0), key_fingerprint: String(req.data.length) });
        const prefix = Buffer.alloc(5);
        prefix.writeUInt32BE(body.length, 1);
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(Buffer.concat([prefix, body]));
      });
    });
    const sessions: http2.ServerHttp2Session[] = [];
    h2.on('session', (s) => sessions.push(s));
    const path = socketPath();
    await new Promise<void>((r) => h2.listen(path, () => r()));
    const rpc = new PluginRpc(path);
    try {
      const big = Buffer.alloc(200_000, 7);
      const calls = Array.from({ length: 12 }, (_, i) =>
        rpc.unary(KM, 'SignData', { key_id: 'big', data: i % 3 === 0 ? big : Buffer.from(`p${i}`) }),
      );
      await waitFor(() => sessions[0], 'a session');
      const pinged = new Promise<number>((resolve) => sessions[0]!.ping((err, ms) => resolve(err ? -1 : ms)));
      const results = await Promise.all(calls);
      results.forEach((res, i) => expect(res.key_fingerprint).toBe(String(i % 3 === 0 ? big.length : `p${i}`.length)));
      expect(await pinged).toBeGreaterThanOrEqual(0);

      sessions[0]!.goaway();
      await sleep(50);
      const again = await rpc.unary(KM, 'SignData', { key_id: 'big', data: Buffer.from('after') });
      expect(again.key_fingerprint).toBe('5');
      expect(sessions.length).toBe(2);
    } finally {
      rpc.close();
      for (const s of sessions) s.destroy();
      await new Promise<void>((r) => h2.close(() => r()));
    }
  });
});
