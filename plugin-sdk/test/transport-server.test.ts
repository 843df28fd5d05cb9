import * as http2 from 'node:http2';
import * as net from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ServiceClientOf, type healthV1, type serverKeyManagerV1, type goplugin } from '@spire-ts/proto';
import { serviceCodecs } from '@spire-ts/proto/codec';
import { PluginError, Status, addService } from '@spire-ts/plugin-sdk';
import { LeanGrpcServer, type ServerMethod } from '../src/transport/server.js';
import { frame } from '../src/transport/framing.js';

const HEALTH = 'grpc.health.v1.Health';
const KM = 'spire.plugin.server.keymanager.v1.KeyManager';
const BROKER = 'plugin.GRPCBroker';
const NODE_ATTESTOR = 'spire.plugin.server.nodeattestor.v1.NodeAttestor';
const UPSTREAM = 'spire.plugin.server.upstreamauthority.v1.UpstreamAuthority';

/** A status message that needs percent-encoding on the wire. */
const NASTY = 'clé "k1" introuvable: 100% sûr\nligne 2 ☃ %41';

type CheckReq = healthV1.HealthCheckRequest__Output;
type CheckRes = healthV1.HealthCheckResponse;
type SignReq = serverKeyManagerV1.SignDataRequest__Output;
type SignRes = serverKeyManagerV1.SignDataResponse;

/** What a handler saw of a call, by the `x-tag` request metadata. */
interface Seen {
  metadata: grpc.Metadata;
  deadline: Date | number;
  cancelled: Promise<string>;
  isCancelled(): boolean;
}

interface ObservableCall {
  metadata: grpc.Metadata;
  cancelled: boolean;
  getDeadline(): Date | number;
  on(event: 'cancelled', fn: (reason: string) => void): unknown;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function makeObserver(): { observe(call: ObservableCall): void; seen(tag: string): Promise<Seen> } {
  const map = new Map<string, Seen>();
  return {
    observe(call) {
      const tag = String(call.metadata.get('x-tag')[0] ?? '');
      if (!tag) return;
      const cancelled = new Promise<string>((r) => call.on('cancelled', r));
      map.set(tag, { metadata: call.metadata, deadline: call.getDeadline(), cancelled, isCancelled: () => call.cancelled });
    },
    async seen(tag) {
      const end = Date.now() + 5000;
      for (;;) {
        const s = map.get(tag);
        if (s) return s;
        if (Date.now() > end) throw new Error(`handler never saw call ${tag}`);
        await sleep(5);
      }
    },
  };
}

function tagged(tag: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('x-tag', tag);
  return md;
}

interface Outcome<T> {
  messages: T[];
  status: grpc.StatusObject;
  error: grpc.ServiceError | undefined;
}

/** Collects a client stream's messages and final status. */
function collect<T>(call: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<never, T>): Promise<Outcome<T>> {
  return new Promise((resolve) => {
    const messages: T[] = [];
    let error: grpc.ServiceError | undefined;
    let status: grpc.StatusObject | undefined;
    let ended = false;
    const maybe = (): void => {
      if (status && (ended || error)) resolve({ messages, status, error });
    };
    call.on('data', (m: T) => messages.push(m));
    call.on('error', (e: grpc.ServiceError) => {
      error = e;
      maybe();
    });
    call.on('end', () => {
      ended = true;
      maybe();
    });
    call.on('status', (s: grpc.StatusObject) => {
      status = s;
      maybe();
    });
  });
}

/** Reads a stream's messages one at a time without losing any. */
function reader<T>(call: grpc.ClientDuplexStream<never, T> | grpc.ClientReadableStream<T>): () => Promise<T> {
  const queue: T[] = [];
  const waiters: Array<(m: T) => void> = [];
  call.on('data', (m: T) => {
    const w = waiters.shift();
    if (w) w(m);
    else queue.push(m);
  });
  return () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise<T>((r) => waiters.push(r)));
}

interface UnaryResult<T> {
  error: grpc.ServiceError | null;
  value: T | undefined;
  headers: grpc.Metadata | undefined;
  status: grpc.StatusObject;
}

/** Runs a grpc-js unary call and gathers everything the client saw. */
function unaryOutcome<T>(start: (cb: (err: grpc.ServiceError | null, value?: T) => void) => grpc.ClientUnaryCall): Promise<UnaryResult<T>> {
  return new Promise((resolve) => {
    let headers: grpc.Metadata | undefined;
    let status: grpc.StatusObject | undefined;
    let result: { error: grpc.ServiceError | null; value: T | undefined } | undefined;
    const maybe = (): void => {
      if (status && result) resolve({ ...result, headers, status });
    };
    const call = start((error, value) => {
      result = { error, value };
      maybe();
    });
    call.on('metadata', (md: grpc.Metadata) => (headers = md));
    call.on('status', (s: grpc.StatusObject) => {
      status = s;
      maybe();
    });
  });
}

const dirs: string[] = [];
function socketPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lean-grpc-'));
  dirs.push(dir);
  return join(dir, 's.sock');
}

const clients: grpc.Client[] = [];
const CLIENT_OPTS: grpc.ClientOptions = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };
function client<N extends Parameters<typeof createClient>[0]>(name: N, target: string): ServiceClientOf<N> {
  const c = createClient(name, target, grpc.credentials.createInsecure(), CLIENT_OPTS);
  clients.push(c as unknown as grpc.Client);
  return c;
}
function rawClient(target: string): grpc.Client {
  const c = new grpc.Client(target, grpc.credentials.createInsecure(), CLIENT_OPTS);
  clients.push(c);
  return c;
}

/** A client-streaming method built by hand (our protos have none): SignData with a stream of requests. */
const COLLECT: ServerMethod & grpc.MethodDefinition<unknown, unknown> = {
  ...serviceCodecs(KM).SignData!,
  path: '/test.Collector/Collect',
  requestStream: true,
  responseStream: false,
  originalName: 'Collect',
};

const obs = makeObserver();
let server: LeanGrpcServer;
let target: string;
let sockPath: string;

beforeAll(async () => {
  server = new LeanGrpcServer();
  const H = serviceCodecs(HEALTH);
  server.addService(H, {
    Check(call: grpc.ServerUnaryCall<CheckReq, CheckRes>, cb: grpc.sendUnaryData<CheckRes>) {
      obs.observe(call);
      const trailer = new grpc.Metadata();
      switch (call.request.service) {
        case 'ok':
          cb(null, { status: 'SERVING' });
          return;
        case 'fail':
          cb({ code: Status.FAILED_PRECONDITION, details: NASTY });
          return;
        case 'fail-md':
          trailer.set('x-why', 'because');
          trailer.set('x-why-bin', Buffer.from([0, 1, 254, 255]));
          cb({ code: Status.NOT_FOUND, details: 'gone', metadata: trailer });
          return;
        case 'throw':
          throw new PluginError(Status.PERMISSION_DENIED, NASTY);
        case 'reject':
          return Promise.reject(new Error('async boom')) as never;
        case 'padded':
          // grpc-js's own errors can end in a blank ("... Resolution note: ").
          throw new PluginError(Status.UNAVAILABLE, ' note: ');
        case 'md': {
          const headers = new grpc.Metadata();
          headers.set('x-resp', 'early');
          headers.set('x-resp-bin', Buffer.from('bin\x00ary'));
          call.sendMetadata(headers);
          trailer.set('x-trail', 'late');
          trailer.set('x-trail-bin', Buffer.from([9, 8, 7]));
          cb(null, { status: 'NOT_SERVING' }, trailer);
          return;
        }
        case 'echo-md':
          trailer.set('x-echo', call.metadata.get('x-test').map(String).join('|'));
          trailer.set('x-echo-bin', call.metadata.get('x-data-bin')[0] as Buffer);
          cb(null, { status: 'SERVING' }, trailer);
          return;
        case 'slow-ok':
          setTimeout(() => cb(null, { status: 'SERVING' }), 50);
          return;
        case 'hang':
          return;
        default:
          cb({ code: Status.INVALID_ARGUMENT, details: `unexpected ${call.request.service}` });
      }
    },
    Watch(call: grpc.ServerWritableStream<CheckReq, CheckRes>) {
      obs.observe(call);
      switch (call.request.service) {
        case 'count':
          call.write({ status: 'SERVING' });
          call.write({ status: 'NOT_SERVING' });
          call.write({ status: 'SERVICE_UNKNOWN' });
          call.end();
          return;
        case 'destroy':
          call.write({ status: 'SERVING' });
          call.write({ status: 'NOT_SERVING' });
          setTimeout(() => call.destroy(Object.assign(new Error(NASTY), { code: Status.ABORTED })), 20);
          return;
        case 'emit':
          call.write({ status: 'SERVING' });
          call.write({ status: 'NOT_SERVING' });
          setTimeout(() => call.emit('error', new PluginError(Status.RESOURCE_EXHAUSTED, NASTY)), 20);
          return;
        case 'forever':
          call.write({ status: 'SERVING' });
          return;
        default:
          call.destroy(new PluginError(Status.INVALID_ARGUMENT, 'unexpected'));
      }
    },
  });
  // Real plugin services through the SDK's own handler adapter.
  addService(server, KM, {
    SignData(req) {
      return { signature: Buffer.from(req.data).reverse(), key_fingerprint: `${req.key_id}:${req.data.length}` };
    },
  });
  addService(server, UPSTREAM, {
    MintX509CAAndSubscribe(call) {
      const n = call.request.preferred_ttl;
      for (let i = 0; i < n; i++) call.write({ x509_ca_chain: [{ asn1: Buffer.from(`ca-${i}`) }], upstream_x509_roots: [{ asn1: call.request.csr }] });
      call.end();
    },
  });
  addService(server, NODE_ATTESTOR, {
    Attest(call) {
      obs.observe(call);
      const responses: string[] = [];
      let agent = '';
      call.on('data', (req: { payload?: Buffer; challenge_response?: Buffer; request?: string }) => {
        if (req.request === 'payload') {
          agent = req.payload!.toString();
          call.write({ challenge: Buffer.from('c1') });
          return;
        }
        responses.push(req.challenge_response!.toString());
        if (responses.length < 3) {
          call.write({ challenge: Buffer.from(`c${responses.length + 1}`) });
          return;
        }
        call.write({ agent_attributes: { spiffe_id: `spiffe://example.org/agent/${agent}`, selector_values: responses, can_reattest: true } });
        call.end();
      });
    },
  });
  addService(server, BROKER, {
    StartStream(call: grpc.ServerDuplexStream<goplugin.ConnInfo__Output, goplugin.ConnInfo>) {
      obs.observe(call);
      call.on('data', (info: goplugin.ConnInfo__Output) => call.write({ service_id: info.service_id + 1000, network: 'echo', address: [...info.address].reverse().join('') }));
      if (!String(call.metadata.get('x-tag')[0] ?? '').startsWith('keep-open')) call.on('end', () => call.end());
    },
  });
  server.addService({ Collect: COLLECT }, {
    Collect(call: grpc.ServerReadableStream<SignReq, SignRes>, cb: grpc.sendUnaryData<SignRes>) {
      const parts: Buffer[] = [];
      call.on('data', (req: SignReq) => parts.push(req.data));
      call.on('end', () => cb(null, { signature: Buffer.concat(parts), key_fingerprint: String(parts.length) }));
    },
  });
  sockPath = socketPath();
  await server.listen(sockPath);
  target = `unix:${sockPath}`;
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.close(100);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('LeanGrpcServer with grpc-js clients: unary', () => {
  it('answers a unary call', async () => {
    const r = await unaryOutcome<healthV1.HealthCheckResponse__Output>((cb) => client(HEALTH, target).Check({ service: 'ok' }, cb));
    expect(r.error).toBeNull();
    expect(r.value).toEqual({ status: 'SERVING' });
    expect(r.status.code).toBe(Status.OK);
  });

  it('delivers a handler error code and a UTF-8 message with % and newline intact', async () => {
    const r = await unaryOutcome((cb) => client(HEALTH, target).Check({ service: 'fail' }, cb));
    expect(r.error?.code).toBe(Status.FAILED_PRECONDITION);
    expect(r.error?.details).toBe(NASTY);
    const thrown = await unaryOutcome((cb) => client(HEALTH, target).Check({ service: 'throw' }, cb));
    expect(thrown.error?.code).toBe(Status.PERMISSION_DENIED);
    expect(thrown.error?.details).toBe(NASTY);
    const rejected = await unaryOutcome((cb) => client(HEALTH, target).Check({ service: 'reject' }, cb));
    expect(rejected.error?.code).toBe(Status.INTERNAL);
    expect(rejected.error?.details).toBe('async boom');
    // A message that begins and ends with a space still arrives (unencoded, the client drops the header).
    const padded = await unaryOutcome((cb) => client(HEALTH, target).Check({ service: 'padded' }, cb));
    expect(padded.error?.code).toBe(Status.UNAVAILABLE);
    expect(padded.error?.details).toBe(' note: ');
  });

  it('sends response headers (sendMetadata) and trailing metadata', async () => {
    const r = await unaryOutcome<healthV1.HealthCheckResponse__Output>((cb) => client(HEALTH, target).Check({ service: 'md' }, cb));
    expect(r.error).toBeNull();
    expect(r.value).toEqual({ status: 'NOT_SERVING' });
    expect(r.headers?.get('x-resp')).toEqual(['early']);
    expect(r.headers?.get('x-resp-bin')).toEqual([Buffer.from('bin\x00ary')]);
    expect(r.status.metadata.get('x-trail')).toEqual(['late']);
    expect(r.status.metadata.get('x-trail-bin')).toEqual([Buffer.from([9, 8, 7])]);
  });

  it('sends trailing metadata with an error', async () => {
    const r = await unaryOutcome((cb) => client(HEALTH, target).Check({ service: 'fail-md' }, cb));
    expect(r.error?.code).toBe(Status.NOT_FOUND);
    expect(r.error?.details).toBe('gone');
    expect(r.error?.metadata.get('x-why')).toEqual(['because']);
    expect(r.error?.metadata.get('x-why-bin')).toEqual([Buffer.from([0, 1, 254, 255])]);
  });

  it('passes request metadata to the handler', async () => {
    const md = new grpc.Metadata();
    md.add('x-test', 'v1');
    md.add('x-test', 'v2');
    md.set('x-data-bin', Buffer.from([0, 10, 13, 255]));
    md.set('x-tag', 'md-in');
    const r = await unaryOutcome((cb) => client(HEALTH, target).Check({ service: 'echo-md' }, md, cb));
    expect(r.error).toBeNull();
    // Repeated keys travel as one comma-joined HTTP/2 field, as grpc-js servers see them too.
    expect(r.status.metadata.get('x-echo')).toEqual(['v1, v2']);
    expect(r.status.metadata.get('x-echo-bin')).toEqual([Buffer.from([0, 10, 13, 255])]);
    const seen = await obs.seen('md-in');
    expect(seen.metadata.get('x-tag')).toEqual(['md-in']);
    expect(seen.metadata.get('x-data-bin')).toEqual([Buffer.from([0, 10, 13, 255])]);
  });

  it('answers UNIMPLEMENTED for unknown methods and services', async () => {
    const c = rawClient(target);
    const codec = serviceCodecs(HEALTH).Check!;
    for (const path of ['/grpc.health.v1.Health/Nope', '/no.such.Service/Check', '/grpc.health.v1.Health/List']) {
      const r = await unaryOutcome((cb) => c.makeUnaryRequest(path, codec.requestSerialize, codec.responseDeserialize, { service: '' }, cb));
      expect(r.error?.code, path).toBe(Status.UNIMPLEMENTED);
      expect(r.error?.details).toContain(path);
    }
  });

  it('fails a unary method sent two request messages with INTERNAL', async () => {
    const c = rawClient(target);
    const codec = serviceCodecs(HEALTH).Check!;
    const r = await unaryOutcome((cb) => {
      const call = c.makeClientStreamRequest(codec.path, codec.requestSerialize, codec.responseDeserialize, cb);
      call.write({ service: 'ok' });
      call.write({ service: 'ok' });
      call.end();
      return call as unknown as grpc.ClientUnaryCall;
    });
    expect(r.error?.code).toBe(Status.INTERNAL);
    expect(r.error?.details).toMatch(/exactly one request message, got 2/);
  });

  it('moves an 8 MiB message each way', async () => {
    const data = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32BE(i, i);
    const r = await unaryOutcome<serverKeyManagerV1.SignDataResponse__Output>((cb) =>
      client(KM, target).SignData({ key_id: 'big', data, hash_algorithm: 'SHA256' }, cb),
    );
    expect(r.error).toBeNull();
    expect(r.value?.key_fingerprint).toBe(`big:${data.length}`);
    expect(r.value?.signature.equals(Buffer.from(data).reverse())).toBe(true);
  });

  it('honours a grpc-js deadline: the handler sees it, the client gets DEADLINE_EXCEEDED, the handler is cancelled', async () => {
    const before = Date.now();
    const r = await unaryOutcome((cb) => client(HEALTH, target).Check({ service: 'hang' }, tagged('deadline-unary'), { deadline: before + 300 }, cb));
    expect(r.error?.code).toBe(Status.DEADLINE_EXCEEDED);
    expect(Date.now() - before).toBeGreaterThanOrEqual(250);
    const seen = await obs.seen('deadline-unary');
    expect(seen.deadline).toBeInstanceOf(Date);
    const ms = (seen.deadline as Date).getTime();
    expect(ms).toBeGreaterThan(before + 100);
    expect(ms).toBeLessThanOrEqual(before + 400);
    await expect(seen.cancelled).resolves.toBe('cancelled');
    expect(seen.isCancelled()).toBe(true);
  });

  it('runs a call whose deadline is further away than a timer can wait (> 24.8 days)', async () => {
    const deadline = Date.now() + 30 * 24 * 3600 * 1000;
    const r = await unaryOutcome((cb) => client(HEALTH, target).Check({ service: 'slow-ok' }, tagged('far-deadline'), { deadline }, cb));
    expect(r.error).toBeNull();
    expect(r.value).toEqual({ status: 'SERVING' });
    const seen = await obs.seen('far-deadline');
    expect(seen.deadline).toBeInstanceOf(Date);
    expect(seen.isCancelled()).toBe(false);
  });
});

describe('LeanGrpcServer with grpc-js clients: streams', () => {
  it('server stream: several messages then OK (health Watch)', async () => {
    const out = await collect(client(HEALTH, target).Watch({ service: 'count' }));
    expect(out.error).toBeUndefined();
    expect(out.status.code).toBe(Status.OK);
    expect(out.messages).toEqual([{ status: 'SERVING' }, { status: 'NOT_SERVING' }, { status: 'SERVICE_UNKNOWN' }]);
  });

  it('server stream: MintX509CAAndSubscribe messages in order', async () => {
    const out = await collect(client(UPSTREAM, target).MintX509CAAndSubscribe({ csr: Buffer.from('csr'), preferred_ttl: 25 }));
    expect(out.error).toBeUndefined();
    expect(out.messages).toHaveLength(25);
    expect(out.messages.map((m) => m.x509_ca_chain[0]!.asn1.toString())).toEqual(Array.from({ length: 25 }, (_, i) => `ca-${i}`));
    expect(out.messages[0]!.upstream_x509_roots[0]!.asn1.toString()).toBe('csr');
  });

  it('server stream ended by call.destroy(err) after some messages carries the code and message', async () => {
    const out = await collect(client(HEALTH, target).Watch({ service: 'destroy' }));
    expect(out.messages).toEqual([{ status: 'SERVING' }, { status: 'NOT_SERVING' }]);
    expect(out.error?.code).toBe(Status.ABORTED);
    expect(out.error?.details).toBe(NASTY);
  });

  it("server stream ended by call.emit('error', err) after some messages carries the code and message", async () => {
    const out = await collect(client(HEALTH, target).Watch({ service: 'emit' }));
    expect(out.messages).toEqual([{ status: 'SERVING' }, { status: 'NOT_SERVING' }]);
    expect(out.error?.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(out.error?.details).toBe(NASTY);
  });

  it('client cancelling a server stream: the handler sees cancelled and the event', async () => {
    const call = client(HEALTH, target).Watch({ service: 'forever' }, tagged('cancel-watch'));
    const next = reader(call);
    const outcome = collect(call);
    expect(await next()).toEqual({ status: 'SERVING' });
    const seen = await obs.seen('cancel-watch');
    expect(seen.isCancelled()).toBe(false);
    call.cancel();
    await expect(seen.cancelled).resolves.toBe('cancelled');
    expect(seen.isCancelled()).toBe(true);
    expect((await outcome).error?.code).toBe(Status.CANCELLED);
  });

  it('a deadline on a server stream ends it with DEADLINE_EXCEEDED and cancels the handler', async () => {
    const out = await collect(client(HEALTH, target).Watch({ service: 'forever' }, tagged('deadline-watch'), { deadline: Date.now() + 200 }));
    expect(out.messages).toEqual([{ status: 'SERVING' }]);
    expect(out.error?.code).toBe(Status.DEADLINE_EXCEEDED);
    const seen = await obs.seen('deadline-watch');
    await expect(seen.cancelled).resolves.toBe('cancelled');
  });

  it('bidi: GRPCBroker StartStream echoes back and forth in order', async () => {
    const call = client(BROKER, target).StartStream(tagged('broker'));
    const next = reader(call);
    for (let i = 1; i <= 5; i++) {
      call.write({ service_id: i, network: 'unix', address: `/tmp/s${i}` });
      expect(await next()).toEqual({ service_id: 1000 + i, network: 'echo', address: `${i}s/pmt/`, knock: null });
    }
    // Pipelined: many writes before any read, answers in the same order.
    for (let i = 0; i < 50; i++) call.write({ service_id: i, address: `a${i}` });
    for (let i = 0; i < 50; i++) expect((await next()).service_id).toBe(1000 + i);
    const done = collect(call);
    call.end();
    const out = await done;
    expect(out.error).toBeUndefined();
    expect(out.status.code).toBe(Status.OK);
    expect((await obs.seen('broker')).isCancelled()).toBe(false);
  });

  it('bidi: NodeAttestor Attest challenge/response', async () => {
    const call = client(NODE_ATTESTOR, target).Attest();
    const next = reader(call);
    const done = collect(call);
    call.write({ payload: Buffer.from('node-7') });
    for (let i = 1; i <= 3; i++) {
      const m = await next();
      expect(m.response).toBe('challenge');
      expect(m.challenge?.toString()).toBe(`c${i}`);
      call.write({ challenge_response: Buffer.from(`r${i}`) });
    }
    const last = await next();
    expect(last.response).toBe('agent_attributes');
    expect(last.agent_attributes).toEqual({ spiffe_id: 'spiffe://example.org/agent/node-7', selector_values: ['r1', 'r2', 'r3'], can_reattest: true });
    call.end();
    const out = await done;
    expect(out.error).toBeUndefined();
    expect(out.status.code).toBe(Status.OK);
  });

  it('client cancelling a bidi stream: the handler sees cancelled', async () => {
    // The handler keeps its side open (as the SDK's broker does): a Node client's cancel
    // half-closes before RST_STREAM, and a handler that ended on 'end' would have finished OK.
    const call = client(BROKER, target).StartStream(tagged('keep-open-cancel'));
    const next = reader(call);
    const outcome = collect(call);
    call.write({ service_id: 1 });
    await next();
    const seen = await obs.seen('keep-open-cancel');
    call.cancel();
    await expect(seen.cancelled).resolves.toBe('cancelled');
    expect(seen.isCancelled()).toBe(true);
    expect((await outcome).error?.code).toBe(Status.CANCELLED);
  });

  it('client stream (hand-built definition): all messages reach the handler, one answer', async () => {
    const c = rawClient(target);
    const chunks = Array.from({ length: 20 }, (_, i) => Buffer.from(`chunk-${i};`));
    const r = await unaryOutcome<serverKeyManagerV1.SignDataResponse__Output>((cb) => {
      const call = c.makeClientStreamRequest(COLLECT.path, COLLECT.requestSerialize, COLLECT.responseDeserialize as (b: Buffer) => serverKeyManagerV1.SignDataResponse__Output, cb);
      for (const data of chunks) call.write({ key_id: 'k', data });
      call.end();
      return call as unknown as grpc.ClientUnaryCall;
    });
    expect(r.error).toBeNull();
    expect(r.value?.key_fingerprint).toBe('20');
    expect(r.value?.signature.toString()).toBe(Buffer.concat(chunks).toString());
  });
});

describe('LeanGrpcServer: raw HTTP/2 edge cases', () => {
  function raw(headers: http2.OutgoingHttpHeaders, body?: Buffer, path = sockPath): Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders | undefined; data: Buffer }> {
    return new Promise((resolve, reject) => {
      const session = http2.connect('http://localhost', { createConnection: () => net.connect(path) });
      session.on('error', reject);
      const req = session.request({ ':method': 'POST', ':path': '/grpc.health.v1.Health/Check', 'content-type': 'application/grpc', te: 'trailers', ...headers });
      let h: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders | undefined;
      const data: Buffer[] = [];
      req.on('response', (x) => (h = x));
      req.on('trailers', (t) => (trailers = t));
      req.on('data', (d: Buffer) => data.push(d));
      req.on('error', reject);
      req.on('close', () => {
        session.close();
        resolve({ headers: h, trailers, data: Buffer.concat(data) });
      });
      req.end(body);
    });
  }

  it('answers an error as a trailers-only response', async () => {
    const codec = serviceCodecs(HEALTH).Check!;
    const r = await raw({}, frame(codec.requestSerialize({ service: 'fail' })));
    expect(r.headers[':status']).toBe(200);
    expect(r.headers['content-type']).toBe('application/grpc');
    expect(r.headers['grpc-status']).toBe(String(Status.FAILED_PRECONDITION));
    expect(decodeURIComponent(String(r.headers['grpc-message']))).toBe(NASTY);
    expect(r.trailers).toBeUndefined();
    expect(r.data.length).toBe(0);
  });

  it('answers OK with headers, one framed message and trailers', async () => {
    const codec = serviceCodecs(HEALTH).Check!;
    const r = await raw({}, frame(codec.requestSerialize({ service: 'ok' })));
    expect(r.headers['grpc-status']).toBeUndefined();
    expect(r.trailers?.['grpc-status']).toBe('0');
    expect(r.data.readUInt32BE(1)).toBe(r.data.length - 5);
    expect(codec.responseDeserialize(r.data.subarray(5))).toEqual({ status: 'SERVING' });
  });

  it('refuses a compressed message with UNIMPLEMENTED', async () => {
    const f = frame(serviceCodecs(HEALTH).Check!.requestSerialize({ service: 'ok' }));
    f[0] = 1;
    const r = await raw({}, f);
    expect(r.headers['grpc-status']).toBe(String(Status.UNIMPLEMENTED));
  });

  it('refuses non-POST and non-gRPC requests at the HTTP level', async () => {
    expect((await raw({ ':method': 'GET' })).headers[':status']).toBe(405);
    expect((await raw({ 'content-type': 'text/plain' })).headers[':status']).toBe(415);
  });
});

describe('LeanGrpcServer: limits and shutdown', () => {
  it('a server whose listen failed leaves the socket at that path to its owner on close', async () => {
    const owner = new LeanGrpcServer();
    addService(owner, KM, { SignData: (req) => ({ signature: req.data }) });
    const path = socketPath();
    await owner.listen(path);
    try {
      const late = new LeanGrpcServer();
      await expect(late.listen(path)).rejects.toMatchObject({ code: 'EADDRINUSE' });
      await late.close(10);
      expect(existsSync(path)).toBe(true);
      const r = await unaryOutcome((cb) => client(KM, `unix:${path}`).SignData({ key_id: 'k', data: Buffer.from('x') }, cb));
      expect(r.error).toBeNull();
    } finally {
      await owner.close(100);
    }
    expect(existsSync(path)).toBe(false);
  });

  it('refuses a message over maxMessageBytes with RESOURCE_EXHAUSTED', async () => {
    const small = new LeanGrpcServer({ maxMessageBytes: 1024 });
    addService(small, KM, { SignData: (req) => ({ signature: req.data }) });
    const path = socketPath();
    await small.listen(path);
    try {
      const km = client(KM, `unix:${path}`);
      const ok = await unaryOutcome((cb) => km.SignData({ key_id: 'k', data: Buffer.alloc(900) }, cb));
      expect(ok.error).toBeNull();
      const r = await unaryOutcome((cb) => km.SignData({ key_id: 'k', data: Buffer.alloc(2000) }, cb));
      expect(r.error?.code).toBe(Status.RESOURCE_EXHAUSTED);
      expect(r.error?.details).toMatch(/exceeds the limit of 1024/);
    } finally {
      await small.close(100);
    }
  });

  it('close(grace) lets an in-flight unary call finish and drops a never-ending stream after the grace period', async () => {
    const local = makeObserver();
    const srv = new LeanGrpcServer();
    srv.addService(serviceCodecs(HEALTH), {
      Check(call: grpc.ServerUnaryCall<CheckReq, CheckRes>, cb: grpc.sendUnaryData<CheckRes>) {
        local.observe(call);
        setTimeout(() => cb(null, { status: 'SERVING' }), 300);
      },
      Watch(call: grpc.ServerWritableStream<CheckReq, CheckRes>) {
        local.observe(call);
        call.write({ status: 'SERVING' });
      },
    });
    const path = socketPath();
    await srv.listen(path);
    const health = client(HEALTH, `unix:${path}`);
    const unaryDone = unaryOutcome((cb) => health.Check({ service: 'slow' }, tagged('slow'), cb)).then((r) => ({ ...r, at: Date.now() }));
    const watch = health.Watch({ service: 'forever' }, tagged('forever'));
    const watchDone = collect(watch).then((r) => ({ ...r, at: Date.now() }));
    await local.seen('slow');
    const stream = await local.seen('forever');

    const grace = 800;
    const t0 = Date.now();
    const closed = srv.close(grace).then(() => Date.now());
    const u = await unaryDone;
    expect(u.error).toBeNull();
    expect(u.value).toEqual({ status: 'SERVING' });
    expect(u.at - t0).toBeLessThan(grace);

    const w = await watchDone;
    expect(w.messages).toEqual([{ status: 'SERVING' }]);
    expect(w.error).toBeDefined();
    expect(w.error?.code).not.toBe(Status.OK);
    expect(w.at - t0).toBeGreaterThanOrEqual(grace - 50);
    await expect(stream.cancelled).resolves.toBe('cancelled');

    const closedAt = await closed;
    expect(closedAt - t0).toBeGreaterThanOrEqual(grace - 50);
    expect(closedAt - t0).toBeLessThan(grace + 1500);
    expect(existsSync(path)).toBe(false);
  });
});
