// The lean server's own HTTP/2 (h2server.ts): real grpc-js, node:http2 and
// PluginRpc clients for flow control, concurrency and limits, raw sockets for
// protocol violations, and TLS with a client certificate seen by the handler.
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRpc, buildCertificate, keyObjectSigner, pemEncode } from '@spire-ts/common';
import { createClient, type ServiceClientOf, type healthV1, type serverKeyManagerV1, type goplugin } from '@spire-ts/proto';
import { serviceCodecs } from '@spire-ts/proto/codec';
import { Status, addService } from '@spire-ts/plugin-sdk';
import { LeanGrpcServer, type ServerCall, type ServerMethod } from '../src/transport/server.js';
import { encodeLiteral } from '../src/transport/hpack.js';
import { frame } from '../src/transport/framing.js';

const HEALTH = 'grpc.health.v1.Health';
const KM = 'spire.plugin.server.keymanager.v1.KeyManager';
const BROKER = 'plugin.GRPCBroker';

type SignReq = serverKeyManagerV1.SignDataRequest__Output;
type SignRes = serverKeyManagerV1.SignDataResponse;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const dirs: string[] = [];
function socketPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lean-h2-'));
  dirs.push(dir);
  return join(dir, 's.sock');
}

const clients: grpc.Client[] = [];
const CLIENT_OPTS: grpc.ClientOptions = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };
function client<N extends Parameters<typeof createClient>[0]>(name: N, target: string, opts: grpc.ClientOptions = {}): ServiceClientOf<N> {
  const c = createClient(name, target, grpc.credentials.createInsecure(), { ...CLIENT_OPTS, ...opts });
  clients.push(c as unknown as grpc.Client);
  return c;
}
function rawClient(target: string): grpc.Client {
  const c = new grpc.Client(target, grpc.credentials.createInsecure(), CLIENT_OPTS);
  clients.push(c);
  return c;
}

function unary<T>(start: (cb: (err: grpc.ServiceError | null, value?: T) => void) => unknown): Promise<{ error: grpc.ServiceError | null; value: T | undefined }> {
  return new Promise((resolve) => {
    start((error, value) => resolve({ error, value }));
  });
}

/** A client-streaming method built by hand: SignData with a stream of requests. */
const COLLECT: ServerMethod & grpc.MethodDefinition<unknown, unknown> = {
  ...serviceCodecs(KM).SignData!,
  path: '/test.Collector/Collect',
  requestStream: true,
  responseStream: false,
  originalName: 'Collect',
};
/** A server-streaming method built by hand: `data.length` bytes back in `key_id` messages. */
const SPRAY: ServerMethod & grpc.MethodDefinition<unknown, unknown> = {
  ...serviceCodecs(KM).SignData!,
  path: '/test.Collector/Spray',
  requestStream: false,
  responseStream: true,
  originalName: 'Spray',
};

/** Deterministic bytes, so corruption anywhere shows. */
function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

interface Seen {
  cancelled: Promise<void>;
  call: ServerCall;
}
const seen = new Map<string, Seen>();
async function seenCall(tag: string): Promise<Seen> {
  for (let i = 0; i < 500; i++) {
    const s = seen.get(tag);
    if (s) return s;
    await sleep(10);
  }
  throw new Error(`handler never saw ${tag}`);
}
function observe(call: ServerCall): void {
  const tag = String(call.metadata.get('x-tag')[0] ?? '');
  if (tag) seen.set(tag, { call, cancelled: new Promise((r) => call.on('cancelled', () => r())) });
}

/** Registers the test services: KM SignData (echo reversed), Collect, Spray, a hanging Check, Broker echo. */
function populate(server: LeanGrpcServer): void {
  addService(server, KM, {
    SignData(req) {
      return { signature: Buffer.from(req.data).reverse(), key_fingerprint: `${req.key_id}:${req.data.length}` };
    },
  });
  server.addService({ Collect: COLLECT, Spray: SPRAY }, {
    Collect(call: grpc.ServerReadableStream<SignReq, SignRes>, cb: grpc.sendUnaryData<SignRes>) {
      const parts: Buffer[] = [];
      call.on('data', (req: SignReq) => parts.push(req.data));
      call.on('end', () => cb(null, { signature: Buffer.concat(parts), key_fingerprint: String(parts.length) }));
    },
    Spray(call: grpc.ServerWritableStream<SignReq, SignRes>) {
      observe(call as unknown as ServerCall);
      const total = call.request.data.length;
      const count = Number(call.request.key_id);
      let i = 0;
      // Writes with backpressure: the next message waits for the previous one's callback.
      const next = (): void => {
        if (call.cancelled) return;
        if (i === count) {
          call.end();
          return;
        }
        const n = i++;
        call.write({ signature: pattern(total, n), key_fingerprint: String(n) }, next);
      };
      next();
    },
  });
  server.addService(serviceCodecs(HEALTH), {
    Check(call: grpc.ServerUnaryCall<healthV1.HealthCheckRequest__Output, healthV1.HealthCheckResponse>, cb: grpc.sendUnaryData<healthV1.HealthCheckResponse>) {
      observe(call as unknown as ServerCall);
      if (call.request.service === 'hang') return;
      if (call.request.service === 'peer') {
        const socket = (call as unknown as ServerCall).connection;
        const cert = socket instanceof tls.TLSSocket ? socket.getPeerCertificate() : undefined;
        cb(null, { status: cert?.subject?.CN === 'the-client' ? 'SERVING' : 'NOT_SERVING' });
        return;
      }
      setTimeout(() => cb(null, { status: 'SERVING' }), Number(call.request.service) || 0);
    },
  });
  addService(server, BROKER, {
    StartStream(call: grpc.ServerDuplexStream<goplugin.ConnInfo__Output, goplugin.ConnInfo>) {
      observe(call as unknown as ServerCall);
      call.on('data', (info: goplugin.ConnInfo__Output) => call.write({ service_id: info.service_id + 1, network: 'echo', address: info.address }));
      call.on('end', () => call.end());
    },
  });
}

let server: LeanGrpcServer;
let sockPath: string;
let target: string;
/** Small windows (64 KiB, grpc-js's and grpc-go's default too): flow control does real work. */
let small: LeanGrpcServer;
let smallPath: string;

beforeAll(async () => {
  server = new LeanGrpcServer({ http2: { maxConcurrentStreams: 1000 } });
  populate(server);
  sockPath = socketPath();
  await server.listen(sockPath);
  target = `unix:${sockPath}`;
  small = new LeanGrpcServer({ http2: { windowSize: 65535, maxConcurrentStreams: 3 } });
  populate(small);
  smallPath = socketPath();
  await small.listen(smallPath);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.close(100);
  await small?.close(100);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('h2server with grpc-js clients', () => {
  it('unary, both ways larger than 1 MiB through 64 KiB windows', async () => {
    const data = pattern(3 * 1024 * 1024 + 7, 1);
    const r = await unary<serverKeyManagerV1.SignDataResponse__Output>((cb) => client(KM, `unix:${smallPath}`).SignData({ key_id: 'big', data }, cb));
    expect(r.error).toBeNull();
    expect(r.value?.key_fingerprint).toBe(`big:${data.length}`);
    expect(r.value?.signature.equals(Buffer.from(data).reverse())).toBe(true);
  });

  it('server streaming: several messages over 1 MiB each, through 64 KiB client windows, in order', async () => {
    const c = rawClient(`unix:${smallPath}`);
    const size = 1024 * 1024 + 3;
    const got: serverKeyManagerV1.SignDataResponse__Output[] = [];
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const call = c.makeServerStreamRequest(SPRAY.path, SPRAY.requestSerialize, SPRAY.responseDeserialize as (b: Buffer) => serverKeyManagerV1.SignDataResponse__Output, { key_id: '4', data: Buffer.alloc(size) });
      call.on('data', (m: serverKeyManagerV1.SignDataResponse__Output) => got.push(m));
      call.on('error', () => undefined);
      call.on('status', resolve);
    });
    expect(status.code).toBe(Status.OK);
    expect(got.map((m) => m.key_fingerprint)).toEqual(['0', '1', '2', '3']);
    got.forEach((m, i) => expect(m.signature.equals(pattern(size, i)), `message ${i}`).toBe(true));
  });

  it('client streaming: 2 MiB in many messages through 64 KiB windows', async () => {
    const c = rawClient(`unix:${smallPath}`);
    const chunks = Array.from({ length: 64 }, (_, i) => pattern(32 * 1024 + i, i));
    const r = await unary<serverKeyManagerV1.SignDataResponse__Output>((cb) => {
      const call = c.makeClientStreamRequest(COLLECT.path, COLLECT.requestSerialize, COLLECT.responseDeserialize as (b: Buffer) => serverKeyManagerV1.SignDataResponse__Output, cb);
      for (const data of chunks) call.write({ key_id: 'k', data });
      call.end();
    });
    expect(r.error).toBeNull();
    expect(r.value?.key_fingerprint).toBe('64');
    expect(r.value?.signature.equals(Buffer.concat(chunks))).toBe(true);
  });

  it('bidi: echoes in order', async () => {
    const call = client(BROKER, target).StartStream();
    const got: number[] = [];
    const done = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('data', (m: goplugin.ConnInfo__Output) => got.push(m.service_id));
    for (let i = 0; i < 100; i++) call.write({ service_id: i, address: 'x'.repeat(i) });
    call.end();
    expect((await done).code).toBe(Status.OK);
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('client cancellation in the middle of a large server stream reaches the handler', async () => {
    const c = rawClient(`unix:${smallPath}`);
    const md = new grpc.Metadata();
    md.set('x-tag', 'spray-cancel');
    const call = c.makeServerStreamRequest(SPRAY.path, SPRAY.requestSerialize, SPRAY.responseDeserialize, { key_id: '1000', data: Buffer.alloc(256 * 1024) }, md);
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => undefined);
    await new Promise<void>((resolve) => call.once('data', () => resolve()));
    const s = await seenCall('spray-cancel');
    expect(s.call.cancelled).toBe(false);
    call.cancel();
    await s.cancelled;
    expect(s.call.cancelled).toBe(true);
    expect((await status).code).toBe(Status.CANCELLED);
  });

  it('deadline exceeded: the client gets DEADLINE_EXCEEDED and the handler is cancelled', async () => {
    const md = new grpc.Metadata();
    md.set('x-tag', 'h2-deadline');
    const r = await unary((cb) => client(HEALTH, target).Check({ service: 'hang' }, md, { deadline: Date.now() + 200 }, cb));
    expect(r.error?.code).toBe(Status.DEADLINE_EXCEEDED);
    await (await seenCall('h2-deadline')).cancelled;
  });

  it('metadata and binary metadata reach the handler', async () => {
    const md = new grpc.Metadata();
    md.set('x-tag', 'h2-md');
    md.set('x-blob-bin', Buffer.from([0, 255, 10, 13, 44]));
    md.set('x-text', 'hello, world');
    const r = await unary((cb) => client(HEALTH, target).Check({ service: '0' }, md, cb));
    expect(r.error).toBeNull();
    const { call } = await seenCall('h2-md');
    expect(call.metadata.get('x-blob-bin')).toEqual([Buffer.from([0, 255, 10, 13, 44])]);
    expect(call.metadata.get('x-text')).toEqual(['hello, world']);
    expect(call.metadata.get('content-type')).toEqual([]);
    expect(call.getPath()).toBe('/grpc.health.v1.Health/Check');
    expect(call.getPeer()).toBe('unix:');
  });

  it('unknown method: UNIMPLEMENTED; oversized message: RESOURCE_EXHAUSTED', async () => {
    const codec = serviceCodecs(HEALTH).Check!;
    const u = await unary((cb) => rawClient(target).makeUnaryRequest('/grpc.health.v1.Health/Nope', codec.requestSerialize, codec.responseDeserialize, { service: '' }, cb));
    expect(u.error?.code).toBe(Status.UNIMPLEMENTED);
    const limited = new LeanGrpcServer({ maxMessageBytes: 4096 });
    populate(limited);
    const path = socketPath();
    await limited.listen(path);
    try {
      const r = await unary((cb) => client(KM, `unix:${path}`).SignData({ key_id: 'k', data: Buffer.alloc(100_000) }, cb));
      expect(r.error?.code).toBe(Status.RESOURCE_EXHAUSTED);
    } finally {
      await limited.close(100);
    }
  });

  it('many concurrent calls on one connection', async () => {
    const km = client(KM, target);
    const results = await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        unary<serverKeyManagerV1.SignDataResponse__Output>((cb) => km.SignData({ key_id: `k${i}`, data: pattern(i * 10, i) }, cb)),
      ),
    );
    results.forEach((r, i) => {
      expect(r.error).toBeNull();
      expect(r.value?.key_fingerprint).toBe(`k${i}:${i * 10}`);
      expect(r.value?.signature.equals(pattern(i * 10, i).reverse())).toBe(true);
    });
    expect(server.connectionCount).toBeGreaterThanOrEqual(1);
  });

  it('serveConnection with a socket that already closed: nothing is tracked and closeSessions does not wait', async () => {
    const srv = new LeanGrpcServer();
    const [a] = await new Promise<[net.Socket, net.Server]>((resolve) => {
      const path = socketPath();
      const listener = net.createServer((sock) => resolve([sock, listener]));
      listener.listen(path, () => net.connect(path));
    }).then(async ([sock, listener]) => {
      sock.destroy();
      await new Promise((r) => sock.once('close', r));
      listener.close();
      return [sock];
    });
    srv.serveConnection(a);
    expect(srv.connectionCount).toBe(0);
    await srv.closeSessions(10_000);
  });

  it('PluginRpc (the host\'s lean client) against the lean server', async () => {
    const rpc = new PluginRpc(sockPath);
    try {
      const res = await rpc.unary(KM, 'SignData', { key_id: 'k1', data: Buffer.from('abc') });
      expect(res.signature.toString()).toBe('cba');
      expect(res.key_fingerprint).toBe('k1:3');
      const all = await Promise.all(Array.from({ length: 50 }, (_, i) => rpc.unary(KM, 'SignData', { key_id: `p${i}`, data: pattern(70_000, i) })));
      all.forEach((r, i) => expect(r.signature.equals(pattern(70_000, i).reverse())).toBe(true));
      const err = await rpc.unary(KM, 'GetPublicKey', { key_id: 'x' }).catch((e: grpc.ServiceError) => e);
      expect((err as grpc.ServiceError).code).toBe(Status.UNIMPLEMENTED);
    } finally {
      rpc.close();
    }
  });
});

describe('h2server with node:http2 clients', () => {
  function request(headers: http2.OutgoingHttpHeaders): Promise<http2.IncomingHttpHeaders> {
    return new Promise((resolve, reject) => {
      const session = http2.connect('http://localhost', { createConnection: () => net.connect(sockPath) });
      session.on('error', reject);
      const req = session.request({ ':method': 'POST', ':path': '/grpc.health.v1.Health/Check', 'content-type': 'application/grpc', ...headers });
      req.on('response', (h) => {
        resolve(h);
        session.close();
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('non-POST → 405, wrong content-type → 415', async () => {
    const get = await request({ ':method': 'GET' });
    expect(get[':status']).toBe(405);
    expect(get.allow).toBe('POST');
    expect((await request({ 'content-type': 'application/json' }))[':status']).toBe(415);
  });
});

// --- Raw HTTP/2 ---------------------------------------------------------------

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
interface Frame {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
}
function h2frame(type: number, flags: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(id, 5);
  return Buffer.concat([h, payload]);
}
function requestBlock(path = '/grpc.health.v1.Health/Check'): Buffer {
  return Buffer.concat(
    [
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', path],
      [':authority', 'x'],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
    ].map(([n, v]) => Buffer.from(encodeLiteral(n!, v!))),
  );
}

/** A raw HTTP/2 client: frames as they come, and the close. */
class Raw {
  readonly frames: Frame[] = [];
  readonly closed: Promise<void>;
  private buf = Buffer.alloc(0);
  private readonly waiters: Array<() => void> = [];

  constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 9) {
        const len = this.buf.readUIntBE(0, 3);
        if (this.buf.length < 9 + len) break;
        this.frames.push({ type: this.buf[3]!, flags: this.buf[4]!, id: this.buf.readUInt32BE(5) & 0x7fffffff, payload: this.buf.subarray(9, 9 + len) });
        this.buf = this.buf.subarray(9 + len);
      }
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((r) => socket.on('close', () => r()));
  }

  static async open(path: string, preface = true): Promise<Raw> {
    const socket = net.connect(path);
    await new Promise((r) => socket.once('connect', r));
    const raw = new Raw(socket);
    if (preface) {
      raw.send(Buffer.concat([PREFACE, h2frame(0x4, 0, 0)]));
      const settings = await raw.next((f) => f.type === 0x4 && f.flags === 0);
      expect(settings.id).toBe(0);
      raw.send(h2frame(0x4, 0x1, 0));
    }
    return raw;
  }

  send(b: Buffer): void {
    this.socket.write(b);
  }

  async next(pred: (f: Frame) => boolean, ms = 3000): Promise<Frame> {
    const end = Date.now() + ms;
    for (;;) {
      const f = this.frames.find(pred);
      if (f) return f;
      if (Date.now() > end) throw new Error(`no such frame; got ${JSON.stringify(this.frames.map((x) => [x.type, x.flags, x.id]))}`);
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), sleep(50)]);
    }
  }

  async goaway(): Promise<{ lastStreamId: number; code: number; debug: string }> {
    const f = await this.next((x) => x.type === 0x7);
    await this.closed;
    return { lastStreamId: f.payload.readUInt32BE(0), code: f.payload.readUInt32BE(4), debug: f.payload.subarray(8).toString() };
  }
}

const PROTOCOL_ERROR = 1;
const FLOW_CONTROL_ERROR = 3;
const FRAME_SIZE_ERROR = 6;
const REFUSED_STREAM = 7;

/** The server is still fine: a fresh grpc-js connection gets an answer. */
async function stillServes(path: string): Promise<void> {
  const r = await unary((cb) => client(HEALTH, `unix:${path}`).Check({ service: '0' }, cb));
  expect(r.error).toBeNull();
}

describe('h2server: raw protocol violations', () => {
  it('bad preface → GOAWAY PROTOCOL_ERROR, then the next connection is served', async () => {
    const raw = await Raw.open(sockPath, false);
    raw.send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    const g = await raw.goaway();
    expect(g.code).toBe(PROTOCOL_ERROR);
    expect(g.debug).toMatch(/preface/);
    await stillServes(sockPath);
  });

  it('a first frame that is not SETTINGS → GOAWAY PROTOCOL_ERROR', async () => {
    const raw = await Raw.open(sockPath, false);
    raw.send(Buffer.concat([PREFACE, h2frame(0x6, 0, 0, Buffer.alloc(8))]));
    expect((await raw.goaway()).code).toBe(PROTOCOL_ERROR);
  });

  it('a frame larger than our max frame size → GOAWAY FRAME_SIZE_ERROR', async () => {
    const raw = await Raw.open(sockPath);
    raw.send(h2frame(0x1, 0x4, 1, requestBlock()));
    raw.send(h2frame(0x0, 0, 1, Buffer.alloc(16385)));
    expect((await raw.goaway()).code).toBe(FRAME_SIZE_ERROR);
    await stillServes(sockPath);
  });

  it('HEADERS on stream 0 or on an even stream → GOAWAY PROTOCOL_ERROR', async () => {
    for (const id of [0, 2]) {
      const raw = await Raw.open(sockPath);
      raw.send(h2frame(0x1, 0x5, id, requestBlock()));
      const g = await raw.goaway();
      expect(g.code, `stream ${id}`).toBe(PROTOCOL_ERROR);
      expect(g.debug).toMatch(/HEADERS on/);
    }
    await stillServes(sockPath);
  });

  it('a header block without END_HEADERS followed by another frame → GOAWAY PROTOCOL_ERROR', async () => {
    const raw = await Raw.open(sockPath);
    const block = requestBlock();
    raw.send(h2frame(0x1, 0, 1, block.subarray(0, 10)));
    raw.send(h2frame(0x0, 0, 1, Buffer.alloc(5)));
    const g = await raw.goaway();
    expect(g.code).toBe(PROTOCOL_ERROR);
    expect(g.debug).toMatch(/CONTINUATION/);
    await stillServes(sockPath);
  });

  it('HEADERS split over CONTINUATION frames with padding and priority is a valid request', async () => {
    const raw = await Raw.open(sockPath);
    const block = requestBlock();
    const pad = 7;
    const first = Buffer.concat([Buffer.from([pad]), Buffer.from([0, 0, 0, 0, 16]), block.subarray(0, 20), Buffer.alloc(pad)]);
    raw.send(h2frame(0x1, 0x8 | 0x20, 1, first));
    raw.send(h2frame(0x9, 0, 1, block.subarray(20, 40)));
    raw.send(h2frame(0x9, 0x4, 1, block.subarray(40)));
    raw.send(h2frame(0x0, 0x1, 1, frame(serviceCodecs(HEALTH).Check!.requestSerialize({ service: '0' }))));
    const trailers = await raw.next((f) => f.type === 0x1 && (f.flags & 0x1) !== 0 && f.id === 1);
    expect(trailers.payload.length).toBeGreaterThan(0);
    expect(raw.frames.some((f) => f.type === 0x0 && f.id === 1)).toBe(true);
    raw.socket.destroy();
  });

  it('DATA beyond the stream window → RST_STREAM FLOW_CONTROL_ERROR; the connection lives on', async () => {
    const tiny = new LeanGrpcServer({ http2: { windowSize: 16384 } });
    populate(tiny);
    const path = socketPath();
    await tiny.listen(path);
    try {
      const raw = await Raw.open(path);
      // Our SETTINGS (window 16384) must be acknowledged before the smaller window applies.
      await raw.next((f) => f.type === 0x4 && (f.flags & 1) === 1);
      raw.send(h2frame(0x6, 0, 0, Buffer.from('pingpong')));
      await raw.next((f) => f.type === 0x6 && f.flags === 1);
      raw.send(h2frame(0x1, 0x4, 1, requestBlock(COLLECT.path)));
      raw.send(Buffer.concat([h2frame(0x0, 0, 1, Buffer.alloc(16384)), h2frame(0x0, 0, 1, Buffer.alloc(100))]));
      const rst = await raw.next((f) => f.type === 0x3 && f.id === 1);
      expect(rst.payload.readUInt32BE(0)).toBe(FLOW_CONTROL_ERROR);
      raw.send(h2frame(0x6, 0, 0, Buffer.from('again!!!')));
      const pong = await raw.next((f) => f.type === 0x6 && f.flags === 1 && f.payload.toString() === 'again!!!');
      expect(pong.id).toBe(0);
      raw.socket.destroy();
      await stillServes(path);
    } finally {
      await tiny.close(100);
    }
  });

  it('a header list over MAX_HEADER_LIST_SIZE (sent over CONTINUATIONs) is answered 431; the connection lives on', async () => {
    const raw = await Raw.open(sockPath);
    const block = Buffer.concat([requestBlock(), Buffer.from(encodeLiteral('x-huge', 'a'.repeat(70_000)))]);
    const parts: Buffer[] = [];
    for (let off = 0; off < block.length; off += 16384) parts.push(block.subarray(off, off + 16384));
    parts.forEach((p, i) => raw.send(h2frame(i === 0 ? 0x1 : 0x9, (i === 0 ? 0x1 : 0) | (i === parts.length - 1 ? 0x4 : 0), 1, p)));
    const h = await raw.next((f) => f.type === 0x1 && f.id === 1);
    expect(h.flags & 0x1).toBe(1);
    // ':status: 431' as a literal with the static name index 8.
    expect(h.payload.equals(Buffer.from(encodeLiteral(':status', '431')))).toBe(true);
    raw.send(h2frame(0x1, 0x5, 3, requestBlock('/no/such')));
    const next = await raw.next((f) => f.type === 0x1 && f.id === 3);
    expect(next.flags & 0x1).toBe(1);
    raw.socket.destroy();
  });

  it('streams beyond MAX_CONCURRENT_STREAMS are refused with REFUSED_STREAM', async () => {
    const raw = await Raw.open(smallPath);
    const settings = raw.frames.find((f) => f.type === 0x4 && f.flags === 0)!;
    const values = new Map<number, number>();
    for (let i = 0; i < settings.payload.length; i += 6) values.set(settings.payload.readUInt16BE(i), settings.payload.readUInt32BE(i + 2));
    expect(values.get(0x3)).toBe(3);
    expect(values.get(0x2)).toBe(0);
    for (const id of [1, 3, 5, 7]) raw.send(h2frame(0x1, 0x4, id, requestBlock()));
    const rst = await raw.next((f) => f.type === 0x3 && f.id === 7);
    expect(rst.payload.readUInt32BE(0)).toBe(REFUSED_STREAM);
    expect(raw.frames.some((f) => f.type === 0x3 && f.id < 7)).toBe(false);
    raw.socket.destroy();
  });

  it('respects the client\'s SETTINGS_INITIAL_WINDOW_SIZE and MAX_FRAME_SIZE, and its WINDOW_UPDATEs', async () => {
    const raw = await Raw.open(sockPath, false);
    const settings = Buffer.alloc(12);
    settings.writeUInt16BE(0x4, 0);
    settings.writeUInt32BE(1000, 2); // INITIAL_WINDOW_SIZE
    settings.writeUInt16BE(0x5, 6);
    settings.writeUInt32BE(20000, 8); // MAX_FRAME_SIZE
    raw.send(Buffer.concat([PREFACE, h2frame(0x4, 0, 0, settings)]));
    await raw.next((f) => f.type === 0x4 && (f.flags & 1) === 1);
    raw.send(h2frame(0x4, 0x1, 0));
    const codec = serviceCodecs(KM).SignData!;
    const data = pattern(100_000, 9);
    raw.send(h2frame(0x1, 0x4, 1, requestBlock(codec.path)));
    const body = frame(codec.requestSerialize({ key_id: 'w', data }));
    for (let off = 0; off < body.length; off += 16384) raw.send(h2frame(0x0, off + 16384 >= body.length ? 0x1 : 0, 1, body.subarray(off, off + 16384)));
    const sent = (): number => raw.frames.filter((f) => f.type === 0x0 && f.id === 1).reduce((n, f) => n + f.payload.length, 0);
    const reaches = async (n: number): Promise<void> => {
      for (let i = 0; i < 300 && sent() < n; i++) await sleep(10);
      await sleep(50); // and no more than that
      expect(sent()).toBe(n);
    };
    await reaches(1000);
    // More window: the stream's and the connection's (the connection's 65535 limits too).
    raw.send(h2frame(0x8, 0, 1, Buffer.from([0, 0x10, 0, 0])));
    await reaches(65535);
    raw.send(h2frame(0x8, 0, 0, Buffer.from([0, 0x10, 0, 0])));
    await raw.next((f) => f.type === 0x1 && f.id === 1 && (f.flags & 1) === 1);
    const dataFrames = raw.frames.filter((f) => f.type === 0x0 && f.id === 1);
    expect(Math.max(...dataFrames.map((f) => f.payload.length))).toBe(20000);
    const response = Buffer.concat(dataFrames.map((f) => f.payload));
    const decoded = codec.responseDeserialize(response.subarray(5)) as serverKeyManagerV1.SignDataResponse__Output;
    expect(decoded.signature.equals(Buffer.from(data).reverse())).toBe(true);
    raw.socket.destroy();
  });

  it('a client that sends no preface is dropped after the settings timeout', async () => {
    const quick = new LeanGrpcServer({ http2: { settingsTimeoutMs: 150 } });
    const path = socketPath();
    await quick.listen(path);
    try {
      const raw = await Raw.open(path, false);
      const g = await raw.goaway();
      expect(g.code).toBe(4); // SETTINGS_TIMEOUT
    } finally {
      await quick.close(100);
    }
  });

  it('rapid reset: a burst of streams opened and reset at once ends the connection with ENHANCE_YOUR_CALM', async () => {
    const raw = await Raw.open(sockPath);
    const block = requestBlock('/plugin.GRPCBroker/StartStream');
    const burst: Buffer[] = [];
    for (let i = 0; i < 1100; i++) {
      const id = 1 + 2 * i;
      burst.push(h2frame(0x1, 0x4, id, block), h2frame(0x3, 0, id, Buffer.from([0, 0, 0, 8])));
    }
    raw.send(Buffer.concat(burst));
    const g = await raw.goaway();
    expect(g.code).toBe(0xb);
    await stillServes(sockPath);
  });

  it('a header block in too many CONTINUATION frames ends the connection', async () => {
    const raw = await Raw.open(sockPath);
    const frames = [h2frame(0x1, 0, 1, requestBlock())];
    for (let i = 0; i < 300; i++) frames.push(h2frame(0x9, 0, 1));
    raw.send(Buffer.concat(frames));
    expect((await raw.goaway()).code).toBe(0xb);
  });

  it('RST_STREAM from the client cancels the call', async () => {
    const raw = await Raw.open(sockPath);
    const tagged = Buffer.concat([requestBlock(), Buffer.from(encodeLiteral('x-tag', 'raw-rst'))]);
    raw.send(h2frame(0x1, 0x4, 1, tagged));
    raw.send(h2frame(0x0, 0x1, 1, frame(serviceCodecs(HEALTH).Check!.requestSerialize({ service: 'hang' }))));
    const s = await seenCall('raw-rst');
    raw.send(h2frame(0x3, 0, 1, Buffer.from([0, 0, 0, 8])));
    await s.cancelled;
    expect(s.call.cancelled).toBe(true);
    raw.socket.destroy();
  });

  it('closeSessions: GOAWAY with the last stream id, the open call finishes, then the connection ends', async () => {
    const srv = new LeanGrpcServer();
    populate(srv);
    const path = socketPath();
    await srv.listen(path);
    const raw = await Raw.open(path);
    raw.send(h2frame(0x1, 0x4, 1, requestBlock()));
    raw.send(h2frame(0x0, 0x1, 1, frame(serviceCodecs(HEALTH).Check!.requestSerialize({ service: '200' }))));
    await sleep(50);
    const closing = srv.close(2000);
    const goaway = await raw.next((f) => f.type === 0x7);
    expect(goaway.payload.readUInt32BE(0)).toBe(1);
    expect(goaway.payload.readUInt32BE(4)).toBe(0);
    // A stream opened after the GOAWAY is refused.
    raw.send(h2frame(0x1, 0x5, 3, requestBlock()));
    const refused = await raw.next((f) => f.type === 0x3 && f.id === 3);
    expect(refused.payload.readUInt32BE(0)).toBe(REFUSED_STREAM);
    const trailers = await raw.next((f) => f.type === 0x1 && f.id === 1 && (f.flags & 1) === 1);
    expect(trailers).toBeDefined();
    await raw.closed;
    await closing;
  });
});

// --- TLS ------------------------------------------------------------------------

async function selfSigned(cn: string): Promise<{ cert: string; key: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const now = Date.now();
  const der = await buildCertificate(
    { subject: { commonName: cn }, notBefore: new Date(now - 60_000), notAfter: new Date(now + 3_600_000), dnsNames: ['localhost'], keyUsage: ['digitalSignature'], extKeyUsage: ['serverAuth', 'clientAuth'] },
    { publicKeyDer: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })), signer: keyObjectSigner(privateKey) },
  );
  return { cert: pemEncode('CERTIFICATE', der), key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

describe('h2server over TLS', () => {
  it('serveConnection on a TLSSocket: the handler sees the client certificate through call.connection; no h2, no service', async () => {
    const srvId = await selfSigned('localhost');
    const cliId = await selfSigned('the-client');
    expect(new X509Certificate(cliId.cert).subject).toContain('the-client');
    const grpcServer = new LeanGrpcServer();
    populate(grpcServer);
    const tlsServer = tls.createServer({ cert: srvId.cert, key: srvId.key, requestCert: true, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    tlsServer.on('tlsClientError', () => undefined);
    tlsServer.on('secureConnection', (socket: tls.TLSSocket) => {
      if (socket.alpnProtocol !== 'h2') socket.destroy();
      else grpcServer.serveConnection(socket);
    });
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', () => r()));
    const port = (tlsServer.address() as net.AddressInfo).port;
    try {
      const creds = grpc.credentials.createSsl(Buffer.from(srvId.cert), Buffer.from(cliId.key), Buffer.from(cliId.cert));
      const health = createClient(HEALTH, `127.0.0.1:${port}`, creds, { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' });
      clients.push(health as unknown as grpc.Client);
      const md = new grpc.Metadata();
      md.set('x-tag', 'tls-peer');
      const r = await unary<healthV1.HealthCheckResponse__Output>((cb) => health.Check({ service: 'peer' }, md, cb));
      expect(r.error).toBeNull();
      expect(r.value?.status).toBe('SERVING');
      const { call } = await seenCall('tls-peer');
      expect(call.getPeer()).toMatch(/^ipv4:127\.0\.0\.1:\d+$/);

      // A client without ALPN h2 is disconnected without a byte of HTTP/2.
      const plain = tls.connect({ host: '127.0.0.1', port, ca: srvId.cert, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
      const received: Buffer[] = [];
      plain.on('data', (d: Buffer) => received.push(d));
      plain.on('error', () => undefined);
      await new Promise((r) => plain.on('close', r));
      expect(Buffer.concat(received).length).toBe(0);
    } finally {
      await grpcServer.closeSessions(100);
      await new Promise((r) => tlsServer.close(r));
    }
  });
});
