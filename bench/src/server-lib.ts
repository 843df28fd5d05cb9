/**
 * Shared pieces of the spire-server bench: the server as a child process
 * (`spire-server run` with the SQLite DataStore and disk KeyManager plugins),
 * grpc-js clients for its admin socket and its TLS port, join-token
 * attestation, and CPU/RSS readings from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { buildCSR } from '@spire-ts/common';
import { createClient, type apiTypes, type ServiceClientOf, type ServiceName } from '@spire-ts/proto';
import { LeanConnection } from './lean-client.js';

export const TD = 'example.org';
export const SERVER_MAIN = fileURLToPath(new URL('../../core/server/dist/cli/main.js', import.meta.url));

export function unary<Req, Res>(fn: (req: Req, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, (err, res) => (err ? reject(err) : resolve(res as Res)));
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export interface ServerChild {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly socketPath: string;
  output(): string;
  /** SIGTERM and wait for exit (a --cpu-prof profile is written then). */
  stop(): Promise<number | null>;
}

/** Writes server.conf in `dir` and starts `spire-server run`; resolves once it logs "spire-server is ready". */
export async function startServerChild(dir: string, opts: { nodeArgs?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<ServerChild> {
  const port = await freePort();
  const socketPath = join(dir, 'api.sock');
  const conf = `server {
  bind_address = "127.0.0.1"
  bind_port = ${port}
  socket_path = "${socketPath}"
  trust_domain = "${TD}"
  data_dir = "${join(dir, 'data')}"
  log_level = "WARN"
  # Capacity, not policy: every simulated agent comes from 127.0.0.1, which SPIRE's
  # per-IP limits (1 attestation/s, 500 CSRs/s) would turn into a measure of the limits.
  ratelimit {
    attestation = false
    signing = false
  }
}
plugins {
  NodeAttestor "join_token" {
    plugin_data {}
  }
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = "${join(dir, 'datastore.sqlite3')}"
    }
  }
  KeyManager "disk" {
    plugin_data {
      keys_path = "${join(dir, 'keys.json')}"
    }
  }
}
`;
  writeFileSync(join(dir, 'server.conf'), conf);
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), SERVER_MAIN, 'run', '-config', join(dir, 'server.conf')], {
    cwd: dir,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const onData = (b: Buffer): void => {
    out += b.toString();
    if (out.length > 1_000_000) out = out.slice(-500_000);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let done = false;
  void exited.then(() => (done = true));
  const deadline = Date.now() + 60_000;
  // "spire-server is ready" is logged at INFO; with log_level WARN we poll the admin socket instead.
  for (;;) {
    if (done) throw new Error(`spire-server exited early:\n${out}`);
    if (out.includes('spire-server is ready')) break;
    if (await adminAnswers(socketPath)) break;
    if (Date.now() > deadline) throw new Error(`spire-server did not become ready:\n${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child,
    pid: child.pid!,
    port,
    socketPath,
    output: () => out,
    stop: async () => {
      if (!done) child.kill('SIGTERM');
      return exited;
    },
  };
}

async function adminAnswers(socketPath: string): Promise<boolean> {
  const c = createClient('grpc.health.v1.Health', `unix://${socketPath}`, grpc.credentials.createInsecure());
  try {
    const r = await new Promise<{ status: string }>((resolve, reject) =>
      c.Check({ service: '' }, { deadline: Date.now() + 1000 }, (err: grpc.ServiceError | null, res?: { status: string }) => (err ? reject(err) : resolve(res!))),
    );
    return r.status === 'SERVING';
  } catch {
    return false;
  } finally {
    c.close();
  }
}

export function adminClient<N extends ServiceName>(socketPath: string, name: N): ServiceClientOf<N> {
  return createClient(name, `unix://${socketPath}`, grpc.credentials.createInsecure());
}

export async function bundlePem(socketPath: string): Promise<string> {
  const c = adminClient(socketPath, 'spire.api.server.bundle.v1.Bundle');
  try {
    const b = await unary(c.GetBundle.bind(c), {});
    return (b.x509_authorities ?? []).map((a) => new X509Certificate(a.asn1 as Buffer).toString()).join('');
  } finally {
    c.close();
  }
}

export interface Identity {
  certChainPem: string;
  keyPem: string;
}

/** A TLS client on its own channel (its own connection), with `identity` as client certificate or none. */
export function tlsClient<N extends ServiceName>(name: N, port: number, rootsPem: string, identity?: Identity): ServiceClientOf<N> {
  const creds = grpc.credentials.createSsl(
    Buffer.from(rootsPem),
    identity ? Buffer.from(identity.keyPem) : null,
    identity ? Buffer.from(identity.certChainPem) : null,
    { checkServerIdentity: checkServerId },
  );
  return createClient(name, `127.0.0.1:${port}`, creds, {
    'grpc.ssl_target_name_override': 'spire-server',
    'grpc.default_authority': 'spire-server',
    'grpc.use_local_subchannel_pool': 1,
  });
}

/** The server's certificate must carry its SPIFFE ID (a URI SAN; it has no DNS name to check). */
function checkServerId(_host: string, cert: { subjectaltname?: string }): Error | undefined {
  return (cert.subjectaltname ?? '').includes(`URI:spiffe://${TD}/spire/server`) ? undefined : new Error(`unexpected server identity ${cert.subjectaltname}`);
}

/** The lean client's counterpart of {@link tlsClient}: its own mTLS connection (ALPN h2) as `identity`. */
export function leanTlsConnection(port: number, rootsPem: string, identity?: Identity): Promise<LeanConnection> {
  return LeanConnection.tls({
    host: '127.0.0.1',
    port,
    ca: rootsPem,
    ...(identity ? { certChainPem: identity.certChainPem, keyPem: identity.keyPem } : {}),
    servername: 'spire-server',
    checkServerIdentity: checkServerId,
  });
}

export function newKeyAndCsr(): { keyPem: string; csrDer: Buffer } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, csrDer: Buffer.from(buildCSR(privateKey, {})) };
}

export const pemChain = (ders: readonly Uint8Array[]): string => ders.map((d) => new X509Certificate(d).toString()).join('');

/** AttestAgent with a join token over an anonymous TLS connection; the agent's ID and identity. */
export function attestJoinToken(port: number, rootsPem: string, token: string): Promise<{ id: string; identity: Identity }> {
  const client = tlsClient('spire.api.server.agent.v1.Agent', port, rootsPem);
  const { keyPem, csrDer } = newKeyAndCsr();
  return new Promise<{ id: string; identity: Identity }>((resolve, reject) => {
    const call = client.AttestAgent();
    call.on('data', (res: { result?: { svid?: apiTypes.X509SVID__Output } }) => {
      const svid = res.result?.svid;
      if (!svid) return;
      resolve({ id: `spiffe://${svid.id?.trust_domain}${svid.id?.path}`, identity: { keyPem, certChainPem: pemChain(svid.cert_chain) } });
      call.end();
    });
    call.on('error', reject);
    call.write({ params: { data: { type: 'join_token', payload: Buffer.from(token) }, params: { csr: csrDer } } });
  }).finally(() => client.close());
}

const CLK_TCK = 100;

/** CPU seconds (user+system, all threads) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after "(comm) ": state(0) ppid(1) ... utime(11) stime(12).
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** Microseconds some runnable task waited for a CPU (PSI, /proc/pressure/cpu), or NaN without PSI. */
export function cpuPressureUs(): number {
  try {
    return Number(/^some .*total=(\d+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** Resident set size in MB (VmRSS). */
export function rssMB(pid: number): number {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(s)?.[1] ?? NaN) / 1024;
}

/** Direct children of `pid` with a short label from their command line (the plugin processes). */
export function childProcesses(pid: number): { pid: number; label: string }[] {
  const out: { pid: number; label: string }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid) continue;
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const script = cmd.find((a) => /plugins\/|\.js$/.test(a)) ?? cmd.join(' ');
      const m = /(server-[a-z0-9-]+)\/dist\//.exec(script);
      out.push({ pid: Number(d), label: m?.[1] ?? script.slice(-40) });
    } catch {
      // gone
    }
  }
  return out;
}

/** Snapshot of CPU seconds of the server and its plugin processes (re-listed: a restarted plugin has a new pid). */
export function cpuSnapshot(serverPid: number): Map<string, number> {
  const m = new Map<string, number>([['server', cpuSeconds(serverPid)]]);
  for (const p of childProcesses(serverPid)) {
    try {
      m.set(`${p.label}@${p.pid}`, cpuSeconds(p.pid));
    } catch {
      // exited between listing and reading
    }
  }
  return m;
}

/** CPU seconds per label between two snapshots; a process present in only one counts from/to zero and is flagged. */
export function cpuDelta(a: Map<string, number>, b: Map<string, number>): { cpu: Map<string, number>; changed: string[] } {
  const cpu = new Map<string, number>();
  const changed: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const label = k.replace(/@\d+$/, '');
    if (!a.has(k) || !b.has(k)) changed.push(k);
    cpu.set(label, (cpu.get(label) ?? 0) + (b.get(k) ?? 0) - (a.get(k) ?? 0));
  }
  return { cpu, changed };
}
