/**
 * A load process of the spire-server bench (forked by server.ts): simulated
 * agents, each attesting with its own join token and then keeping its own
 * mTLS connection (its own grpc-js channel and agent SVID) on which it calls
 * SyncAuthorizedEntries every interval, like SPIRE's agent sync loop.
 *
 * IPC: parent sends {type:'attest', port, rootsPem, tokens}; we attest, connect
 * each agent with one sync and answer {type:'attested', ids}; parent sends {type:'run', intervalMs, warmupMs,
 * durationMs, expectEntries}; we answer {type:'result', ...}.
 * BENCH_DEBUG=1 prints each sync slower than 100 ms with its start time.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type * as grpc from '@grpc/grpc-js';
import type { ServiceClientOf } from '@spire-ts/proto';
import { attestJoinToken, tlsClient, type Identity } from './server-lib.js';

type EntryClient = ServiceClientOf<'spire.api.server.entry.v1.Entry'>;

interface AttestMsg { type: 'attest'; port: number; rootsPem: string; tokens: string[] }
interface RunMsg { type: 'run'; intervalMs: number; warmupMs: number; durationMs: number; expectEntries: number }
type Msg = AttestMsg | RunMsg | { type: 'exit' };

export interface LoadResult {
  type: 'result';
  latenciesMs: number[];
  errors: number;
  firstError: string;
  wrongCount: number;
  syncs: number;
  loopDelayP99Ms: number;
  cpuSeconds: number;
}

const send = (m: unknown): void => void process.send!(m);
const agents: { id: string; identity: Identity; client?: EntryClient }[] = [];
let port = 0;
let rootsPem = '';

/** One SyncAuthorizedEntries exchange as SPIRE's agent does it with ≤ one page: send the first request, read entries until the end. */
function syncOnce(client: EntryClient): Promise<number> {
  return new Promise((resolve, reject) => {
    const call = client.SyncAuthorizedEntries() as grpc.ClientDuplexStream<unknown, { entries?: unknown[]; entry_revisions?: unknown[] }>;
    let n = 0;
    call.on('data', (res) => {
      n += res.entries?.length ?? 0;
      if ((res.entry_revisions?.length ?? 0) > 0) reject(new Error('paged response: more entries than one page'));
    });
    call.on('error', reject);
    call.on('status', (s: grpc.StatusObject) => (s.code === 0 ? resolve(n) : reject(new Error(s.details))));
    call.write({ output_mask: null });
    call.end();
  });
}

async function attestAll(m: AttestMsg): Promise<void> {
  port = m.port;
  rootsPem = m.rootsPem;
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < m.tokens.length) {
      const token = m.tokens[next++]!;
      agents.push(await attestJoinToken(port, rootsPem, token));
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  // Connect every agent (its own channel: TLS handshake, the server's client-certificate check) with one
  // sync, a few at a time, so the measured phase is the steady state rather than a storm of 1,000 handshakes.
  const t1 = performance.now();
  next = 0;
  const connect = async (): Promise<void> => {
    while (next < agents.length) {
      const a = agents[next++]!;
      a.client = tlsClient('spire.api.server.entry.v1.Entry', port, rootsPem, a.identity);
      await syncOnce(a.client);
    }
  };
  await Promise.all(Array.from({ length: 8 }, connect));
  send({ type: 'attested', ids: agents.map((a) => a.id), attestMs: t1 - t0, connectMs: performance.now() - t1 });
}

async function run(m: RunMsg): Promise<void> {
  const lag = monitorEventLoopDelay({ resolution: 10 });
  const t0 = performance.now();
  const windowStart = t0 + m.warmupMs;
  const windowEnd = windowStart + m.durationMs;
  const latencies: number[] = [];
  let errors = 0;
  let firstError = '';
  let wrongCount = 0;
  let syncs = 0;
  const cpu0 = process.cpuUsage();
  let lagStarted = false;
  const loops = agents.map(async (a) => {
    a.client ??= tlsClient('spire.api.server.entry.v1.Entry', port, rootsPem, a.identity);
    // Random phase, as real agents' sync timers are not aligned.
    await new Promise((r) => setTimeout(r, Math.random() * m.intervalMs));
    for (let start = performance.now(); start < windowEnd; ) {
      try {
        const n = await syncOnce(a.client);
        const end = performance.now();
        if (start >= windowStart && start < windowEnd) {
          latencies.push(end - start);
          if (process.env.BENCH_DEBUG && end - start > 100) process.stderr.write(`slow sync ${(end - start).toFixed(0)}ms at ${((start - t0) / 1000).toFixed(2)}s\n`);
          syncs++;
          if (n !== m.expectEntries) wrongCount++;
        }
      } catch (err) {
        if (start >= windowStart) errors++;
        if (!firstError) firstError = (err as Error).message;
      }
      const nextStart = start + m.intervalMs;
      await new Promise((r) => setTimeout(r, Math.max(0, nextStart - performance.now())));
      start = nextStart;
      if (!lagStarted && start >= windowStart) {
        lagStarted = true;
        lag.enable();
      }
    }
  });
  await Promise.all(loops);
  lag.disable();
  const cpu = process.cpuUsage(cpu0);
  for (const a of agents) a.client?.close();
  const result: LoadResult = {
    type: 'result',
    latenciesMs: latencies,
    errors,
    firstError,
    wrongCount,
    syncs,
    loopDelayP99Ms: lag.percentile(99) / 1e6,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
  send(result);
}

process.on('message', (m: Msg) => {
  const fail = (err: unknown): void => send({ type: 'error', message: (err as Error).stack ?? String(err) });
  if (m.type === 'attest') attestAll(m).catch(fail);
  else if (m.type === 'run') run(m).catch(fail);
  else process.exit(0);
});
