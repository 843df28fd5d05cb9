/**
 * The measured phases of the spire-server bench: the single-thread crypto
 * floors, BatchNewX509SVID and NewJWTSVID throughput over TLS, with the CPU
 * each process spent per SVID.
 */
import { generateKeyPairSync, randomBytes, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { buildCSR } from '@spire-ts/common';
import type { ServiceClientOf } from '@spire-ts/proto';
import { LeanMethod, type LeanConnection } from './lean-client.js';
import { cpuDelta, cpuPressureUs, cpuSnapshot } from './server-lib.js';
import { percentile } from './stats.js';

/**
 * Calls of `fn` per second on this thread: the best of 5 trials over about
 * `ms` in all (a floor is what the CPU can do; on a shared machine, the
 * slower trials measure the neighbours).
 */
function ratePerSecond(ms: number, fn: () => void): number {
  for (let i = 0; i < 200; i++) fn();
  let best = 0;
  for (let trial = 0; trial < 5; trial++) {
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < ms / 5) {
      for (let i = 0; i < 50; i++) fn();
      n += 50;
      t = performance.now();
    }
    best = Math.max(best, (n * 1000) / (t - t0));
  }
  return best;
}

/**
 * The physical floor of one X.509-SVID issuance: one P-256 CSR signature
 * verification (ECDSA over a CSR-sized body) plus one P-256 signature (over a
 * TBSCertificate-sized body), single thread, node:crypto.
 */
export function x509FloorRate(ms = 2000): number {
  const { privateKey: csrKey, publicKey: csrPub } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { privateKey: caKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const csrBody = randomBytes(220);
  const csrSig = sign('sha256', csrBody, csrKey);
  const tbs = randomBytes(480);
  return ratePerSecond(ms, () => {
    if (!verify('sha256', csrBody, csrPub, csrSig)) throw new Error('floor: verify failed');
    sign('sha256', tbs, caKey);
  });
}

/** Raw ES256 signatures per second (JWS signing input of a typical JWT-SVID), single thread. */
export function es256Rate(ms = 2000): number {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const input = Buffer.from(`${randomBytes(60).toString('base64url')}.${randomBytes(150).toString('base64url')}`);
  return ratePerSecond(ms, () => sign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
}

/** `n` distinct P-256 CSRs (no SAN, as SPIRE's agent sends for workloads). */
export function makeCsrs(n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    out.push(Buffer.from(buildCSR(privateKey as KeyObject, {})));
  }
  return out;
}

export interface ThroughputResult {
  perSecond: number;
  count: number;
  seconds: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  failures: number;
  firstFailure: string;
  /** Share of the window in which some runnable task waited for a CPU (PSI), 0..1. */
  pressure: number;
  /** CPU seconds per process label during the window (server, plugins, bench = this process). */
  cpu: Map<string, number>;
}

/**
 * Runs `concurrency` loops of `op` (which resolves to the number of items it
 * completed) for `warmupMs` unmeasured, then `windowMs` measured.
 */
export async function throughput(
  o: { concurrency: number; warmupMs: number; windowMs: number; serverPid: number },
  op: () => Promise<{ ok: number; failed: number; failure?: string }>,
): Promise<ThroughputResult> {
  let measuring = false;
  let stop = false;
  let count = 0;
  let failures = 0;
  let firstFailure = '';
  const lat: number[] = [];
  const loop = async (): Promise<void> => {
    while (!stop) {
      const t0 = performance.now();
      let r: { ok: number; failed: number; failure?: string };
      try {
        r = await op();
      } catch (err) {
        r = { ok: 0, failed: 1, failure: (err as Error).message };
      }
      if (!measuring || stop) continue;
      lat.push(performance.now() - t0);
      count += r.ok;
      failures += r.failed;
      if (r.failure && !firstFailure) firstFailure = r.failure;
    }
  };
  const loops = Array.from({ length: o.concurrency }, loop);
  await new Promise((r) => setTimeout(r, o.warmupMs));
  measuring = true;
  const cpu0 = cpuSnapshot(o.serverPid);
  const me0 = process.cpuUsage();
  const psi0 = cpuPressureUs();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, o.windowMs));
  const seconds = (performance.now() - t0) / 1000;
  const pressure = (cpuPressureUs() - psi0) / 1e6 / seconds;
  const cpu1 = cpuSnapshot(o.serverPid);
  const me = process.cpuUsage(me0);
  stop = true;
  await Promise.all(loops);
  const { cpu, changed } = cpuDelta(cpu0, cpu1);
  if (changed.length) process.stderr.write(`[bench server] plugin processes changed during the window: ${changed.join(', ')}\n`);
  cpu.set('bench-client', (me.user + me.system) / 1e6);
  lat.sort((a, b) => a - b);
  return { perSecond: count / seconds, count, seconds, latencyP50Ms: percentile(lat, 50), latencyP99Ms: percentile(lat, 99), failures, firstFailure, pressure, cpu };
}

type SvidClient = ServiceClientOf<'spire.api.server.svid.v1.SVID'>;

/** One BatchNewX509SVID of `batch` CSRs over `entryIds` (cycled). */
export function x509BatchOp(client: SvidClient, entryIds: readonly string[], csrs: readonly Buffer[], batch: number): () => Promise<{ ok: number; failed: number; failure?: string }> {
  let next = 0;
  let checked = false;
  return () => {
    const params: { entry_id: string; csr: Buffer }[] = [];
    for (let i = 0; i < batch; i++, next++) params.push({ entry_id: entryIds[next % entryIds.length]!, csr: csrs[next % csrs.length]! });
    return new Promise((resolve, reject) => {
      client.BatchNewX509SVID({ params }, (err: grpc.ServiceError | null, res?: { results: { status?: { code: number; message: string } | null; svid?: { cert_chain: Buffer[] } | null }[] }) => {
        if (err || !res) return reject(err ?? new Error('no response'));
        let ok = 0;
        let failure: string | undefined;
        for (const r of res.results) {
          if (r.status?.code === 0 && r.svid) ok++;
          else failure ??= r.status?.message ?? 'no status';
        }
        if (!checked && res.results[0]?.svid) {
          checked = true;
          const uri = new X509Certificate(res.results[0].svid.cert_chain[0]!).subjectAltName ?? '';
          if (!uri.includes('URI:spiffe://')) return reject(new Error(`unexpected SVID SAN ${uri}`));
        }
        resolve({ ok, failed: res.results.length - ok, ...(failure ? { failure } : {}) });
      });
    });
  };
}

/** One NewJWTSVID for `entryIds` (cycled). */
export function jwtOp(client: SvidClient, entryIds: readonly string[]): () => Promise<{ ok: number; failed: number }> {
  let next = 0;
  return () =>
    new Promise((resolve, reject) => {
      client.NewJWTSVID({ entry_id: entryIds[next++ % entryIds.length]!, audience: ['bench'] }, (err: grpc.ServiceError | null, res?: { svid?: { token: string } | null }) => {
        if (err) return reject(err);
        resolve(res?.svid?.token ? { ok: 1, failed: 0 } : { ok: 0, failed: 1 });
      });
    });
}

type BatchResult = { status?: { code: number; message: string } | null; svid?: { cert_chain: Buffer[] } | null };

/** Counts the results of a BatchNewX509SVID response; checks the first SVID's SAN once. */
function countBatch(results: readonly BatchResult[], checkSan: boolean): { ok: number; failed: number; failure?: string } {
  let ok = 0;
  let failure: string | undefined;
  for (const r of results) {
    if (r.status?.code === 0 && r.svid) ok++;
    else failure ??= r.status?.message ?? 'no status';
  }
  if (checkSan && results[0]?.svid) {
    const uri = new X509Certificate(results[0].svid.cert_chain[0]!).subjectAltName ?? '';
    if (!uri.includes('URI:spiffe://')) throw new Error(`unexpected SVID SAN ${uri}`);
  }
  return { ok, failed: results.length - ok, ...(failure ? { failure } : {}) };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

const SVID_SERVICE = 'spire.api.server.svid.v1.SVID';

/**
 * {@link x509BatchOp} on the lean client. The requests cycle through the
 * same (entry, CSR) pairs in the same order; the cycle is short (8 requests
 * with the defaults), so each request is encoded once up front rather than on
 * every call — the server still parses, verifies and signs every CSR. Each
 * response is decoded in full and every result's status checked.
 */
export function x509BatchOpLean(conn: LeanConnection, entryIds: readonly string[], csrs: readonly Buffer[], batch: number): () => Promise<{ ok: number; failed: number; failure?: string }> {
  const method = new LeanMethod(SVID_SERVICE, 'BatchNewX509SVID', {}, 'spire-server');
  const e = entryIds.length;
  const c = csrs.length;
  const cycle = (e / gcd(e, c)) * c;
  const frames: Buffer[] = [];
  let next = 0;
  // A cycle longer than 1024 requests is cut short there: the requests still differ, and memory stays bounded.
  do {
    const params: { entry_id: string; csr: Buffer }[] = [];
    for (let i = 0; i < batch; i++, next++) params.push({ entry_id: entryIds[next % e]!, csr: csrs[next % c]! });
    frames.push(method.frame({ params }));
  } while (next % cycle !== 0 && frames.length < 1024);
  let k = 0;
  let checked = false;
  return async () => {
    const msg = await conn.unary(method, frames[k++ % frames.length]!);
    const res = method.decode<{ results: BatchResult[] }>(msg);
    const r = countBatch(res.results, !checked);
    checked = true;
    return r;
  };
}

/** {@link jwtOp} on the lean client: one request per entry, encoded once; each response decoded and its token checked. */
export function jwtOpLean(conn: LeanConnection, entryIds: readonly string[]): () => Promise<{ ok: number; failed: number }> {
  const method = new LeanMethod(SVID_SERVICE, 'NewJWTSVID', {}, 'spire-server');
  const frames = entryIds.map((id) => method.frame({ entry_id: id, audience: ['bench'] }));
  let next = 0;
  return async () => {
    const msg = await conn.unary(method, frames[next++ % frames.length]!);
    const token = method.decode<{ svid?: { token: string } | null }>(msg).svid?.token;
    // A JWS compact serialization: three base64url parts.
    return token && token.split('.').length === 3 ? { ok: 1, failed: 0 } : { ok: 0, failed: 1 };
  };
}
