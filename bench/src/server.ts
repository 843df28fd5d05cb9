// npm run bench -- server [--agents 1000] [--entries 10000] [--duration 30] [--interval 5]
//   [--loads 2] [--issue-seconds 10] [--batch 50] [--concurrency 4] [--jwt-seconds 8]
//   [--jwt-concurrency 64,128,256] [--phases issue,jwt,sync] [--cpu-prof DIR] [--client lean|grpc-js]
//
// spire-server end to end: the real `spire-server run` as a child process
// (SQLite DataStore and disk KeyManager plugins, each its own process).
//  1. Floors, single thread in this process: one P-256 CSR verification plus
//     one P-256 signature (the physical cost of one X.509-SVID) and one raw
//     ES256 signature (a JWT-SVID).
//  2. BatchNewX509SVID over TLS as an attested agent: SVIDs/s, and
//     x509_issuance_ratio = rate / floor rate.
//  3. NewJWTSVID over TLS: JWTs/s and jwt_mint_ratio = rate / ES256 rate.
//  4. Scale: N agents attested with join tokens from separate load processes,
//     each on its own mTLS connection with its own agent SVID, calling
//     SyncAuthorizedEntries every interval against M entries (M/N each);
//     sync p50/p99 and the server's CPU and RSS during the window.
// Phases 2 and 3 call from this process with --client: `lean` (default,
// bench/src/lean-client.ts: HTTP/2 over the TLS socket without grpc-js, so
// the client's CPU per call — which competes with the server's on a small
// machine — stays small) or `grpc-js` (the stock client, for comparison).
// CPU is read from /proc (utime+stime, all threads) for the server and each
// plugin process separately.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadResult } from './server-load.js';
import {
  adminClient,
  attestJoinToken,
  bundlePem,
  childProcesses,
  cpuDelta,
  cpuPressureUs,
  cpuSnapshot,
  leanTlsConnection,
  rssMB,
  startServerChild,
  tlsClient,
  TD,
  unary,
} from './server-lib.js';
import { es256Rate, jwtOp, jwtOpLean, makeCsrs, throughput, x509BatchOp, x509BatchOpLean, x509FloorRate, type ThroughputResult } from './server-phases.js';
import { benchCli, percentile, report } from './stats.js';

benchCli(import.meta.url);

function flag(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}
const num = (name: string, def: number): number => {
  const v = Number(flag(name, String(def)));
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
};

const AGENTS = num('agents', 1000);
const ENTRIES = num('entries', 10000);
const DURATION_S = num('duration', 30);
const INTERVAL_S = num('interval', 5);
const LOADS = num('loads', 2);
const ISSUE_S = num('issue-seconds', 10);
const BATCH = num('batch', 50);
const CONCURRENCY = num('concurrency', 4);
const JWT_S = num('jwt-seconds', 8);
// NewJWTSVID calls in flight, one step per value. A JWT is small and quick:
// with few calls in flight the run measures the round trip through server
// and KeyManager (each process waiting on the other's batch), not capacity.
// On a 2-core machine 64 in flight left the server at ~0.8 cores; the best
// step's rate is the throughput figure (jwt_svids_per_second), each step's
// rate and latency are printed too.
const JWT_CONCURRENCY = flag('jwt-concurrency', '64,128,256').split(',').map((v) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error('--jwt-concurrency must be positive integers, comma-separated');
  return n;
});
const PHASES = new Set(flag('phases', 'issue,jwt,sync').split(','));
const CPU_PROF = flag('cpu-prof', '');
const CLIENT = flag('client', 'lean');
if (CLIENT !== 'lean' && CLIENT !== 'grpc-js') throw new Error('--client must be lean or grpc-js');

const log = (msg: string): void => void process.stderr.write(`[bench server] ${msg}\n`);
const dir = mkdtempSync(join(tmpdir(), 'spire-bench-server-'));
const nodeArgs: string[] = [];
if (CPU_PROF) {
  mkdirSync(resolve(CPU_PROF), { recursive: true });
  nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${resolve(CPU_PROF)}`, '--cpu-prof-interval=200');
}

type EntryClient = ReturnType<typeof adminClient<'spire.api.server.entry.v1.Entry'>>;

/** Creates entries on the admin socket in batches; returns their ids in order. */
async function createEntries(entries: EntryClient, items: { path: string; parent: string; uid: number }[]): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < items.length; i += 500) {
    const res = await unary(entries.BatchCreateEntry.bind(entries), {
      entries: items.slice(i, i + 500).map((it) => ({
        spiffe_id: { trust_domain: TD, path: it.path },
        parent_id: { trust_domain: TD, path: new URL(it.parent).pathname },
        selectors: [{ type: 'unix', value: `uid:${it.uid}` }],
      })),
    });
    for (const r of res.results) {
      if (r.status?.code !== 0) throw new Error(`BatchCreateEntry: ${r.status?.code} ${r.status?.message}`);
      ids.push(r.entry!.id);
    }
  }
  return ids;
}

async function joinTokens(n: number, socketPath: string): Promise<string[]> {
  const agent = adminClient(socketPath, 'spire.api.server.agent.v1.Agent');
  const out: string[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => unary(agent.CreateJoinToken.bind(agent), { ttl: 3600 })));
    out.push(...batch.map((t) => t.value));
  }
  agent.close();
  return out;
}

function reportCpu(prefix: string, r: ThroughputResult, unitCount: number): void {
  for (const [label, sec] of r.cpu) {
    const name = label.replace(/^server-/, '').replace(/[^a-z0-9]+/gi, '_');
    report(`${prefix}_cpu_${name}_us_per_op`, (sec * 1e6) / Math.max(1, unitCount), 'us');
  }
  report(`${prefix}_server_cores`, (r.cpu.get('server') ?? 0) / r.seconds, 'cores', 2);
  report(`${prefix}_machine_cpu_pressure`, 100 * r.pressure, '%', 0);
}

const server = await startServerChild(dir, { nodeArgs });
const plugins = childProcesses(server.pid);
log(`server pid ${server.pid}, plugins ${plugins.map((p) => `${p.label}=${p.pid}`).join(' ')}`);
const rootsPem = await bundlePem(server.socketPath);
const entriesApi = adminClient(server.socketPath, 'spire.api.server.entry.v1.Entry');
const loads: ChildProcess[] = [];

try {
  if (PHASES.has('issue') || PHASES.has('jwt')) {
    // The floors are measured again after the load (below) and the higher of the two is
    // used: on a shared VM one measurement can land in a slow moment, which would flatter
    // the ratios.
    let floor = x509FloorRate();
    let es256 = es256Rate();
    const remeasure = (): void => {
      floor = Math.max(floor, x509FloorRate());
      es256 = Math.max(es256, es256Rate());
    };

    const [token] = await joinTokens(1, server.socketPath);
    const issuer = await attestJoinToken(server.port, rootsPem, token!);
    const entryIds = await createEntries(entriesApi, Array.from({ length: 100 }, (_, i) => ({ path: `/bench/issue/${i}`, parent: issuer.id, uid: i })));
    const svid = tlsClient('spire.api.server.svid.v1.SVID', server.port, rootsPem, issuer.identity);
    // The lean client's own mTLS connection as the same agent (one connection, like the grpc-js channel).
    const lean = CLIENT === 'lean' ? await leanTlsConnection(server.port, rootsPem, issuer.identity) : undefined;
    log(`issue/jwt client: ${CLIENT}`);
    // Wait until the entry cache authorizes the issuer for its entries.
    const asAgent = tlsClient('spire.api.server.entry.v1.Entry', server.port, rootsPem, issuer.identity);
    for (const deadline = Date.now() + 10_000; ; ) {
      const got = await unary(asAgent.GetAuthorizedEntries.bind(asAgent), {});
      if (got.entries.length >= entryIds.length) break;
      if (Date.now() > deadline) throw new Error(`issuer agent sees ${got.entries.length} of ${entryIds.length} entries`);
      await new Promise((r) => setTimeout(r, 100));
    }
    asAgent.close();

    if (PHASES.has('issue')) {
      const csrs = makeCsrs(BATCH * CONCURRENCY * 2);
      const r = await throughput(
        { concurrency: CONCURRENCY, warmupMs: 1500, windowMs: ISSUE_S * 1000, serverPid: server.pid },
        lean ? x509BatchOpLean(lean, entryIds, csrs, BATCH) : x509BatchOp(svid, entryIds, csrs, BATCH),
      );
      if (r.failures) log(`BatchNewX509SVID failures: ${r.failures} (${r.firstFailure})`);
      remeasure();
      report('x509_floor_per_second', floor, '/s', 0);
      report('x509_svids_per_second', r.perSecond, '/s', 0);
      report('x509_issuance_ratio', r.perSecond / floor, '', 3);
      report('x509_batch_latency_p50', r.latencyP50Ms, 'ms');
      report('x509_batch_latency_p99', r.latencyP99Ms, 'ms');
      reportCpu('x509', r, r.count);
    }
    if (PHASES.has('jwt')) {
      let best: { r: ThroughputResult; concurrency: number } | undefined;
      for (const concurrency of JWT_CONCURRENCY) {
        const step = await throughput(
          { concurrency, warmupMs: 1500, windowMs: JWT_S * 1000, serverPid: server.pid },
          lean ? jwtOpLean(lean, entryIds) : jwtOp(svid, entryIds),
        );
        if (step.failures) log(`NewJWTSVID failures at ${concurrency} in flight: ${step.failures} (${step.firstFailure})`);
        report(`jwt_at_${concurrency}_in_flight_per_second`, step.perSecond, '/s', 0);
        report(`jwt_at_${concurrency}_in_flight_p99`, step.latencyP99Ms, 'ms', 2);
        if (!best || step.perSecond > best.r.perSecond) best = { r: step, concurrency };
      }
      const r = best!.r;
      remeasure();
      report('es256_sign_per_second', es256, '/s', 0);
      report('jwt_best_in_flight', best!.concurrency, '', 0);
      report('jwt_svids_per_second', r.perSecond, '/s', 0);
      report('jwt_mint_ratio', r.perSecond / es256, '', 3);
      report('jwt_latency_p50', r.latencyP50Ms, 'ms', 2);
      report('jwt_latency_p99', r.latencyP99Ms, 'ms', 2);
      reportCpu('jwt', r, r.count);
    }
    svid.close();
    lean?.close();
  }

  if (PHASES.has('sync')) {
    const perAgent = Math.max(1, Math.floor(ENTRIES / AGENTS));
    const tokens = await joinTokens(AGENTS, server.socketPath);
    const loadMain = fileURLToPath(new URL('./server-load.js', import.meta.url));
    const shares: string[][] = Array.from({ length: LOADS }, () => []);
    tokens.forEach((t, i) => shares[i % LOADS]!.push(t));
    const attested = await Promise.all(
      shares.map(
        (share) =>
          new Promise<{ ids: string[]; attestMs: number; connectMs: number }>((resolveIds, reject) => {
            const c = fork(loadMain, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
            loads.push(c);
            c.once('exit', (code) => reject(new Error(`load process exited with ${code}`)));
            c.on('message', (m: { type: string; ids?: string[]; attestMs?: number; connectMs?: number; message?: string }) => {
              if (m.type === 'attested') resolveIds({ ids: m.ids!, attestMs: m.attestMs!, connectMs: m.connectMs! });
              if (m.type === 'error') reject(new Error(m.message));
            });
            c.send({ type: 'attest', port: server.port, rootsPem, tokens: share });
          }),
      ),
    );
    const agentIds = attested.flatMap((a) => a.ids);
    // Loads work in parallel: rate = all agents over the slowest load's time.
    report('agent_attestations_per_second', agentIds.length / (Math.max(...attested.map((a) => a.attestMs)) / 1000), '/s', 0);
    report('agent_connect_and_first_sync_per_second', agentIds.length / (Math.max(...attested.map((a) => a.connectMs)) / 1000), '/s', 0);
    const t1 = performance.now();
    const items = agentIds.flatMap((parent, a) => Array.from({ length: perAgent }, (_, j) => ({ path: `/bench/w/${a}/${j}`, parent, uid: j })));
    await createEntries(entriesApi, items);
    report('entries_created_per_second', items.length / ((performance.now() - t1) / 1000), '/s', 0);
    log(`${agentIds.length} agents, ${items.length} entries; syncing every ${INTERVAL_S}s for ${DURATION_S}s after a ${INTERVAL_S + 2}s warmup`);

    const warmupMs = (INTERVAL_S + 2) * 1000;
    const results = loads.map(
      (c) =>
        new Promise<LoadResult>((resolveResult, reject) => {
          c.on('message', (m: { type: string; message?: string }) => {
            if (m.type === 'result') resolveResult(m as LoadResult);
            if (m.type === 'error') reject(new Error(m.message));
          });
        }),
    );
    for (const c of loads) c.send({ type: 'run', intervalMs: INTERVAL_S * 1000, warmupMs, durationMs: DURATION_S * 1000, expectEntries: perAgent });
    await new Promise((r) => setTimeout(r, warmupMs));
    const cpu0 = cpuSnapshot(server.pid);
    const psi0 = cpuPressureUs();
    const w0 = performance.now();
    let rssMax = 0;
    const rssTimer = setInterval(() => (rssMax = Math.max(rssMax, rssMB(server.pid))), 1000);
    await new Promise((r) => setTimeout(r, DURATION_S * 1000));
    clearInterval(rssTimer);
    const cpu1 = cpuSnapshot(server.pid);
    const windowS = (performance.now() - w0) / 1000;
    const psi = (cpuPressureUs() - psi0) / 1e6 / windowS;
    const rssEnd = rssMB(server.pid);
    const all = await Promise.all(results);
    const lat = all.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
    const syncs = all.reduce((s, r) => s + r.syncs, 0);
    const errors = all.reduce((s, r) => s + r.errors, 0);
    const wrong = all.reduce((s, r) => s + r.wrongCount, 0);
    if (errors) log(`sync errors: ${errors} (${all.find((r) => r.firstError)?.firstError})`);
    if (wrong) log(`syncs with an unexpected entry count: ${wrong}`);
    report('sync_per_second', syncs / DURATION_S, '/s');
    report('sync_latency_p50', percentile(lat, 50), 'ms', 2);
    report('sync_latency_p99', percentile(lat, 99), 'ms', 2);
    report('sync_latency_max', lat[lat.length - 1] ?? NaN, 'ms', 2);
    report('sync_errors', errors, '', 0);
    const { cpu, changed } = cpuDelta(cpu0, cpu1);
    if (changed.length) log(`plugin processes changed during the window: ${changed.join(', ')}`);
    report('sync_server_cpu', cpu.get('server')! / windowS, 'cores', 3);
    report('sync_server_cpu_per_sync', (cpu.get('server')! * 1000) / Math.max(1, syncs), 'ms', 3);
    for (const [label, sec] of cpu) if (label !== 'server') report(`sync_cpu_${label.replace(/^server-/, '').replace(/[^a-z0-9]+/gi, '_')}`, sec / windowS, 'cores', 3);
    report('sync_server_rss', rssEnd, 'MB');
    report('sync_server_rss_max', Math.max(rssMax, rssEnd), 'MB');
    report('sync_load_cpu', all.reduce((s, r) => s + r.cpuSeconds, 0) / (DURATION_S + warmupMs / 1000), 'cores', 3);
    report('sync_load_event_loop_delay_p99', Math.max(...all.map((r) => r.loopDelayP99Ms)), 'ms');
    // Share of the window in which some runnable task on this machine waited for a CPU (PSI "some"): high = oversubscribed, latencies inflated.
    report('machine_cpu_pressure', 100 * psi, '%', 0);
  }
} finally {
  entriesApi.close();
  for (const c of loads) {
    c.removeAllListeners('exit');
    c.kill();
  }
  const code = await server.stop();
  if (code !== 0 || process.argv.includes('--server-output')) log(`spire-server exited with ${code}; its output:\n${server.output().slice(-6000)}`);
  if (CPU_PROF) log(`server CPU profile in ${resolve(CPU_PROF)} (summarize: node bench/dist/server-profile.js FILE)`);
  rmSync(dir, { recursive: true, force: true });
}
