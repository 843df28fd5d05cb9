/**
 * Load process of the agent bench (forked, so its CPU is not the agent's):
 * N Workload API clients, each on its own Unix-socket connection, opening
 * calls at a fixed aggregate rate (open loop, round robin over the
 * connections). A FetchX509SVID call is timed until its first response and
 * then cancelled (RST_STREAM CANCEL); a FetchJWTSVID call until its answer.
 *
 * Two clients (`client` in the connect message):
 * - `lean` (bench/src/lean-client.ts): one socket and one HTTP/2 connection
 *   per workload, no grpc-js. At 1,000 calls/s grpc-js cost this process
 *   about as much CPU per call as the agent spent answering it, and its
 *   allocations and GC pauses delayed the moments responses were timed.
 *   A call is timed from just before its request is handed to the
 *   connection (written at the end of the same tick, with nothing else in
 *   between but the other calls opened in that tick, a few microseconds
 *   each) to the moment the DATA frame completing the first response is
 *   handed over by the connection, before any protobuf work. Responses are
 *   then checked on the wire (see countSvids); the warm-up calls also decode
 *   each one in full with the generated codec and compare.
 * - `grpc-js`: one channel per workload (`grpc.use_local_subchannel_pool`:
 *   grpc-js would otherwise share one subchannel among clients with the
 *   same target), timed from the call to the decoded message, as before.
 *
 * IPC: `{type:'connect'}` → `{type:'connected'}`; `{type:'step'}` →
 * `{type:'window', edge:'start'|'end'}` then `{type:'stepResult'}`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { createClient, type ServiceClientOf } from '@spire-ts/proto';
import { LeanConnection, LeanMethod } from './lean-client.js';
import { countSvids } from './workload-wire.js';
import { percentile } from './stats.js';
import { monoMs } from './stall-sentinel.js';

type GrpcClient = ServiceClientOf<'SpiffeWorkloadAPI'>;
type Client = GrpcClient | LeanConnection;
export type LoadClient = 'lean' | 'grpc-js';

export interface StepRequest {
  type: 'step';
  method: 'x509' | 'jwt';
  rate: number;
  warmupMs: number;
  durationMs: number;
  /** How long to wait for the calls still open when the window ends. */
  drainMs: number;
  audience: string;
}

export interface StepResult {
  type: 'stepResult';
  method: 'x509' | 'jwt';
  rate: number;
  /** Calls opened in the window, per second. */
  achievedRate: number;
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  firstError?: string;
  /** Calls still unanswered after the drain (counted at +Infinity in the percentiles). */
  unanswered: number;
  /** Calls not opened because too many were open already. */
  skipped: number;
  /** Responses that carried an unexpected number of SVIDs. */
  wrongCount: number;
  svidsPerResponse: number;
  loadCores: number;
  loopDelayP99Ms: number;
  /** The most calls the pacer opened in one tick in the window, and the share of calls opened two or more to a tick. */
  maxPerTick: number;
  burstShare: number;
  /** Machine stalls the sentinel saw in the window (bench/src/stall-sentinel.ts): how many, their total and longest. */
  stalls: number;
  stallMs: number;
  stallMaxMs: number;
  /** The calls open across none of those stalls: how many, and their p99. */
  outsideStallsCount: number;
  outsideStallsP99Ms: number;
}

const MAX_IN_FLIGHT = 20_000;
const LOOP_RESOLUTION_MS = 10;
/** BENCH_DEBUG=1: print each step's calls slower than 3 ms (opened at, latency, calls opened in the same tick). */
const DEBUG = !!process.env.BENCH_DEBUG;
let clients: Client[] = [];
/** performance.now() + this = CLOCK_MONOTONIC ms, the sentinel's clock. */
const MONO_OFFSET = monoMs() - performance.now();
let sentinel: ChildProcess | undefined;

/** The machine stalls the sentinel saw between `from` and `to` (monotonic ms). */
async function stallsBetween(from: number, to: number): Promise<[number, number][]> {
  const s = sentinel;
  if (!s) return [];
  return new Promise((resolve) => {
    s.once('message', (m: { stalls: [number, number][] }) => resolve(m.stalls));
    s.send({ type: 'stalls', from, to });
  });
}

function send(m: object): void {
  process.send!(m);
}

function header(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('workload.spiffe.io', 'true');
  return md;
}

// The lean client's methods, with the header the Workload API requires as fixed metadata.
const WORKLOAD_HEADER = { 'workload.spiffe.io': 'true' };
const leanX509 = new LeanMethod('SpiffeWorkloadAPI', 'FetchX509SVID', WORKLOAD_HEADER);
const leanJwt = new LeanMethod('SpiffeWorkloadAPI', 'FetchJWTSVID', WORKLOAD_HEADER);
const x509Frame = leanX509.frame({});
const jwtFrames = new Map<string, Buffer>();
/** Set during the warm-up: decode every lean response in full too, and check the wire count against it. */
let crossCheck = false;

async function connect(socketPath: string, n: number, kind: LoadClient): Promise<number> {
  const t0 = performance.now();
  if (kind === 'lean') {
    // A few connects in flight at once: the agent's accept backlog is finite, and a Unix socket
    // whose backlog is full refuses at once (EAGAIN) where TCP would wait; such a connect is tried
    // again shortly, as grpc-js does with its reconnect backoff.
    clients = new Array<Client>(n);
    let next = 0;
    const connectOne = async (): Promise<LeanConnection> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await LeanConnection.unix(socketPath);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || attempt >= 50) throw err;
          await new Promise((r) => setTimeout(r, 5 + attempt * 5));
        }
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(16, n) }, async () => {
        for (let i = next++; i < n; i = next++) clients[i] = await connectOne();
      }),
    );
    return performance.now() - t0;
  }
  const grpcClients = Array.from({ length: n }, () =>
    createClient('SpiffeWorkloadAPI', `unix://${socketPath}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }),
  );
  clients = grpcClients;
  await Promise.all(
    grpcClients.map(
      (c) => new Promise<void>((resolve, reject) => c.waitForReady(Date.now() + 30_000, (err?: Error) => (err ? reject(err) : resolve()))),
    ),
  );
  return performance.now() - t0;
}

/** One FetchX509SVID (to its first response) on every connection, a few at a time, so the steps see warm connections. */
async function warm(): Promise<number> {
  const t0 = performance.now();
  const req = { method: 'x509' } as StepRequest;
  let next = 0;
  crossCheck = true;
  try {
    await Promise.all(
      Array.from({ length: Math.min(32, clients.length) }, async () => {
        for (let i = next++; i < clients.length; i = next++) {
          await new Promise<void>((resolve, reject) =>
            openCall(
              clients[i]!,
              req,
              (_ms, n) => (n >= 0 ? resolve() : reject(new Error('warm-up call: a malformed response, or its wire count disagrees with the codec'))),
              (msg) => reject(new Error(`warm-up call failed: ${msg}`)),
            ),
          );
        }
      }),
    );
  } finally {
    crossCheck = false;
  }
  return performance.now() - t0;
}

/** Opens one call on `c`; `done(ms, svids)` or `fail(message)` exactly once. */
function openCall(c: Client, req: StepRequest, done: (ms: number, svids: number) => void, fail: (msg: string) => void): void {
  if (c instanceof LeanConnection) return openLeanCall(c, req, done, fail);
  const t0 = performance.now();
  if (req.method === 'jwt') {
    c.FetchJWTSVID({ audience: [req.audience], spiffe_id: '' }, header(), (err: grpc.ServiceError | null, res?: { svids: unknown[] }) => {
      if (err) fail(`${err.code} ${err.details}`);
      else done(performance.now() - t0, res?.svids.length ?? 0);
    });
    return;
  }
  const call = c.FetchX509SVID({}, header());
  let answered = false;
  call.on('data', (res: { svids: unknown[] }) => {
    if (answered) return;
    answered = true;
    done(performance.now() - t0, res.svids.length);
    call.cancel();
  });
  call.on('error', (err: grpc.ServiceError) => {
    if (answered || err.code === grpc.status.CANCELLED) return;
    answered = true;
    fail(`${err.code} ${err.details}`);
  });
}

function openLeanCall(c: LeanConnection, req: StepRequest, done: (ms: number, svids: number) => void, fail: (msg: string) => void): void {
  const jwt = req.method === 'jwt';
  let frame = x509Frame;
  if (jwt) {
    frame = jwtFrames.get(req.audience) ?? leanJwt.frame({ audience: [req.audience], spiffe_id: '' });
    jwtFrames.set(req.audience, frame);
  }
  const method = jwt ? leanJwt : leanX509;
  let answered = false;
  const t0 = performance.now();
  const call = c.call(method, frame, {
    message(msg, at) {
      if (answered) return;
      answered = true;
      // The X.509 stream stays open until cancelled; a JWT call ends by itself (its end is not waited for).
      if (!jwt) call.cancel();
      let n = countSvids(msg, req.method);
      if (crossCheck) {
        const full = method.decode<{ svids: unknown[] }>(msg).svids.length;
        if (full !== n) n = -1;
      }
      done(at - t0, n);
    },
    end(code, details) {
      if (answered) return;
      answered = true;
      fail(code === 0 ? 'call ended without a response' : `${code} ${details}`);
    },
  });
}

async function step(req: StepRequest, expectSvids: number): Promise<StepResult> {
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  const lat: number[] = [];
  /** Each answered call of the window: when it was opened (performance.now()) and its latency. */
  const answered: [number, number][] = [];
  let errors = 0;
  let firstError: string | undefined;
  let inFlight = 0;
  let skipped = 0;
  let wrong = 0;
  let svids = 0;
  let next = 0;
  let windowCalls = 0;
  let inWindow = false;
  let windowOpen: Set<number> | undefined;
  let id = 0;
  const cpu0 = { value: process.cpuUsage() };
  let loadCpuUs = 0;

  const start = performance.now();
  const windowStart = start + req.warmupMs;
  const windowEnd = windowStart + req.durationMs;
  let issued = 0;
  let windowIssuedAt = 0;
  let maxPerTick = 0;
  let burstCalls = 0;
  const slow: string[] = [];
  // Pacing: a 1 ms interval timer opens the calls due by the elapsed time (open loop: a late tick opens
  // the calls it missed at once rather than dropping them). At 1,000/s that is about one call per tick;
  // a tick delayed by this process or the machine's other load opens two or three at once, each on its
  // own connection. Each call is timed from its actual opening, not from when it was due, so a late
  // tick does not count against the agent; the small burst it makes is real queueing for the agent,
  // as the bursts of random arrivals would be. A finer pacer (setImmediate, busy-waiting) would burn a
  // core of the two to smooth that out, and with the lean client a tick costs a few microseconds.
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      if (!inWindow && now >= windowStart && now < windowEnd) {
        inWindow = true;
        windowOpen = new Set();
        windowIssuedAt = now;
        cpu0.value = process.cpuUsage();
        loop.enable();
        send({ type: 'window', edge: 'start' });
      }
      if (now >= windowEnd) {
        clearInterval(timer);
        loop.disable();
        const u = process.cpuUsage(cpu0.value);
        loadCpuUs = u.user + u.system;
        send({ type: 'window', edge: 'end' });
        resolve();
        return;
      }
      const due = Math.floor(((now - start) / 1000) * req.rate);
      if (inWindow && due > issued) {
        maxPerTick = Math.max(maxPerTick, due - issued);
        if (due - issued > 1) burstCalls += due - issued;
      }
      for (; issued < due; issued++) {
        if (inFlight >= MAX_IN_FLIGHT) {
          if (inWindow) skipped++;
          continue;
        }
        const c = clients[next]!;
        next = (next + 1) % clients.length;
        const counted = inWindow;
        const callId = id++;
        if (counted) {
          windowCalls++;
          windowOpen!.add(callId);
        }
        inFlight++;
        const openedAt = now;
        const perTick = due - issued;
        openCall(
          c,
          req,
          (ms, n) => {
            inFlight--;
            if (!counted) return;
            windowOpen!.delete(callId);
            lat.push(ms);
            answered.push([openedAt, ms]);
            if (DEBUG && ms > 3) slow.push(`${(openedAt - windowStart).toFixed(1)}ms+${ms.toFixed(1)}(tick ${perTick})`);
            // -1: a malformed response (countSvids), counted as wrong.
            svids += Math.max(0, n);
            if (n !== expectSvids) wrong++;
          },
          (msg) => {
            inFlight--;
            if (!counted) return;
            windowOpen!.delete(callId);
            errors++;
            firstError ??= msg;
          },
        );
      }
    }, 1);
  });
  const windowS = (performance.now() - windowIssuedAt) / 1000;
  // Let the window's calls finish (new ones are no longer opened).
  for (const deadline = performance.now() + req.drainMs; (windowOpen?.size ?? 0) > 0 && performance.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const unanswered = windowOpen?.size ?? 0;
  if (DEBUG) process.stderr.write(`[agent-load] ${req.method} at ${req.rate}/s, window from ${new Date(performance.timeOrigin + windowStart).toISOString()}: ${slow.length} calls over 3 ms: ${slow.join(" ")}\n`);
  for (let i = 0; i < unanswered; i++) lat.push(Infinity);
  lat.sort((a, b) => a - b);
  const stalls = await stallsBetween(windowIssuedAt + MONO_OFFSET, windowEnd + MONO_OFFSET + req.drainMs);
  const outside = answered
    .filter(([at, ms]) => {
      const open = at + MONO_OFFSET;
      return !stalls.some(([s, e]) => s < open + ms && e > open);
    })
    .map(([, ms]) => ms);
  for (let i = 0; i < unanswered; i++) outside.push(Infinity);
  outside.sort((a, b) => a - b);
  const inWindowStalls = stalls.filter(([s]) => s < windowEnd + MONO_OFFSET);
  return {
    type: 'stepResult',
    method: req.method,
    rate: req.rate,
    achievedRate: windowCalls / windowS,
    count: lat.length,
    p50Ms: percentile(lat, 50),
    p99Ms: percentile(lat, 99),
    maxMs: lat[lat.length - 1] ?? NaN,
    errors,
    ...(firstError !== undefined ? { firstError } : {}),
    unanswered,
    skipped,
    wrongCount: wrong,
    svidsPerResponse: svids / Math.max(1, lat.length - unanswered),
    loadCores: loadCpuUs / 1e6 / windowS,
    // The histogram records whole timer periods (an idle loop reads ~10.1 ms at a 10 ms resolution): the delay is the excess.
    loopDelayP99Ms: Math.max(0, loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS),
    maxPerTick,
    burstShare: burstCalls / Math.max(1, windowCalls),
    stalls: inWindowStalls.length,
    stallMs: inWindowStalls.reduce((sum, [s, e]) => sum + (e - s), 0),
    stallMaxMs: inWindowStalls.reduce((max, [s, e]) => Math.max(max, e - s), 0),
    outsideStallsCount: outside.length,
    outsideStallsP99Ms: percentile(outside, 99),
  };
}

/**
 * `n` calls one after another (each on the next connection): the latency floor without queueing.
 * Lean responses are also decoded in full here and checked against the wire count (the JWT-SVID
 * check has no other cross-check; the timing is taken before either).
 */
async function serial(method: 'x509' | 'jwt', n: number, audience: string): Promise<{ p50Ms: number; p99Ms: number }> {
  const req = { method, audience } as StepRequest;
  const lat: number[] = [];
  crossCheck = true;
  try {
    for (let i = 0; i < n; i++) {
      lat.push(
        await new Promise<number>((resolve, reject) =>
          openCall(
            clients[i % clients.length]!,
            req,
            (ms, svids) => (svids >= 0 ? resolve(ms) : reject(new Error(`${method}: a malformed response, or its wire count disagrees with the codec`))),
            (msg) => reject(new Error(msg)),
          ),
        ),
      );
    }
  } finally {
    crossCheck = false;
  }
  lat.sort((a, b) => a - b);
  return { p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99) };
}

let expected = 0;
process.on('message', (m: { type: string; socketPath?: string; connections?: number; expectSvids?: number; client?: LoadClient }) => {
  void (async () => {
    try {
      if (m.type === 'sample') {
        // One response of the method, as the bytes of its message (for the floor in agent-floor.ts).
        const r = m as unknown as { method: 'x509' | 'jwt'; audience: string };
        const c = clients[0];
        if (!(c instanceof LeanConnection)) throw new Error('sample: only with the lean client');
        const method = r.method === 'jwt' ? leanJwt : leanX509;
        const frame = r.method === 'jwt' ? leanJwt.frame({ audience: [r.audience], spiffe_id: '' }) : x509Frame;
        const bytes = await new Promise<Buffer>((resolve, reject) => {
          let done = false;
          const call = c.call(method, frame, {
            message(msg) {
              if (done) return;
              done = true;
              if (r.method === 'x509') call.cancel();
              resolve(Buffer.from(msg));
            },
            end(code, details) {
              if (!done) reject(new Error(`sample call: ${code} ${details}`));
              done = true;
            },
          });
        });
        send({ type: 'sample', base64: bytes.toString('base64') });
      } else if (m.type === 'connect') {
        for (const c of clients) c.close();
        expected = m.expectSvids!;
        sentinel ??= fork(fileURLToPath(new URL('./stall-sentinel.js', import.meta.url)), ['sentinel'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        const ms = await connect(m.socketPath!, m.connections!, m.client ?? 'lean');
        send({ type: 'connected', ms, warmMs: await warm() });
      } else if (m.type === 'serial') {
        const r = m as unknown as { method: 'x509' | 'jwt'; n: number; audience: string };
        send({ type: 'serialResult', ...(await serial(r.method, r.n, r.audience)) });
      } else if (m.type === 'step') {
        send(await step(m as unknown as StepRequest, expected));
      } else if (m.type === 'exit') {
        sentinel?.send({ type: 'exit' });
        for (const c of clients) c.close();
        process.exit(0);
      }
    } catch (err) {
      send({ type: 'error', message: (err as Error).stack ?? String(err) });
    }
  })();
});
