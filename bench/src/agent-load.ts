/**
 * Load process of the agent bench (forked, so its CPU is not the agent's):
 * N Workload API clients, each on its own Unix-socket connection
 * (`grpc.use_local_subchannel_pool`: grpc-js would otherwise share one
 * subchannel among clients with the same target), opening calls at a fixed
 * aggregate rate (open loop, round robin over the connections). A
 * FetchX509SVID call is timed until its first response and then cancelled;
 * a FetchJWTSVID call until its answer.
 *
 * IPC: `{type:'connect'}` → `{type:'connected'}`; `{type:'step'}` →
 * `{type:'window', edge:'start'|'end'}` then `{type:'stepResult'}`.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { createClient, type ServiceClientOf } from '@spire-ts/proto';
import { percentile } from './stats.js';

type Client = ServiceClientOf<'SpiffeWorkloadAPI'>;

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
}

const MAX_IN_FLIGHT = 20_000;
let clients: Client[] = [];

function send(m: object): void {
  process.send!(m);
}

function header(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('workload.spiffe.io', 'true');
  return md;
}

async function connect(socketPath: string, n: number): Promise<number> {
  const t0 = performance.now();
  clients = Array.from({ length: n }, () =>
    createClient('SpiffeWorkloadAPI', `unix://${socketPath}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }),
  );
  await Promise.all(
    clients.map(
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
  await Promise.all(
    Array.from({ length: Math.min(32, clients.length) }, async () => {
      for (let i = next++; i < clients.length; i = next++) {
        await new Promise<void>((resolve, reject) => openCall(clients[i]!, req, () => resolve(), (msg) => reject(new Error(`warm-up call failed: ${msg}`))));
      }
    }),
  );
  return performance.now() - t0;
}

/** Opens one call on `c`; `done(ms, svids)` or `fail(message)` exactly once. */
function openCall(c: Client, req: StepRequest, done: (ms: number, svids: number) => void, fail: (msg: string) => void): void {
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

async function step(req: StepRequest, expectSvids: number): Promise<StepResult> {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  const lat: number[] = [];
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
        openCall(
          c,
          req,
          (ms, n) => {
            inFlight--;
            if (!counted) return;
            windowOpen!.delete(callId);
            lat.push(ms);
            svids += n;
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
  for (let i = 0; i < unanswered; i++) lat.push(Infinity);
  lat.sort((a, b) => a - b);
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
    loopDelayP99Ms: loop.percentile(99) / 1e6,
  };
}

/** `n` calls one after another (each on the next connection): the latency floor without queueing. */
async function serial(method: 'x509' | 'jwt', n: number, audience: string): Promise<{ p50Ms: number; p99Ms: number }> {
  const req = { method, audience } as StepRequest;
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    lat.push(await new Promise<number>((resolve, reject) => openCall(clients[i % clients.length]!, req, (ms) => resolve(ms), (msg) => reject(new Error(msg)))));
  }
  lat.sort((a, b) => a - b);
  return { p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99) };
}

let expected = 0;
process.on('message', (m: { type: string; socketPath?: string; connections?: number; expectSvids?: number }) => {
  void (async () => {
    try {
      if (m.type === 'connect') {
        expected = m.expectSvids!;
        const ms = await connect(m.socketPath!, m.connections!);
        send({ type: 'connected', ms, warmMs: await warm() });
      } else if (m.type === 'serial') {
        const r = m as unknown as { method: 'x509' | 'jwt'; n: number; audience: string };
        send({ type: 'serialResult', ...(await serial(r.method, r.n, r.audience)) });
      } else if (m.type === 'step') {
        send(await step(m as unknown as StepRequest, expected));
      } else if (m.type === 'exit') {
        for (const c of clients) c.close();
        process.exit(0);
      }
    } catch (err) {
      send({ type: 'error', message: (err as Error).stack ?? String(err) });
    }
  })();
});
