/**
 * A real spire-server for end-to-end tests: the `run` command in-process
 * with the real DataStore (SQLite) and KeyManager plugins as child
 * processes, a TLS endpoint on a free port and an admin socket in a temp dir;
 * plus grpc-js clients for the admin socket and for TLS with any client SVID.
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createClient, type ServiceClientOf, type ServiceName } from '@spire-ts/proto';
import { main } from '@spire-ts/server';
import { buildCSR } from '@spire-ts/common';

export const TD = 'example.org';
export const ADMIN_ID = `spiffe://${TD}/admin`;

export interface Harness {
  dir: string;
  port: number;
  socketPath: string;
  output: () => string;
  /** A client on the admin socket (caller "local"). */
  local<N extends ServiceName>(name: N): ServiceClientOf<N>;
  /** A client over TLS, with the given client identity or none. */
  tls<N extends ServiceName>(name: N, identity?: ClientIdentity): ServiceClientOf<N>;
  /** The trust bundle's X.509 roots as PEM (from GetBundle on the admin socket). */
  bundlePem(): Promise<string>;
  stop(): Promise<number>;
}

export interface ClientIdentity {
  certChainPem: string;
  keyPem: string;
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

export function unary<Req, Res>(fn: (req: Req, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, (err, res) => (err ? reject(err) : resolve(res as Res)));
  });
}

/** The server's config file; `plugins` are more plugin blocks (e.g. a NodeAttestor launched with plugin_cmd). */
export function serverConfig(dir: string, port: number, extra = '', plugins = ''): string {
  return `server {
  bind_address = "127.0.0.1"
  bind_port = ${port}
  socket_path = "${join(dir, 'api.sock')}"
  trust_domain = "${TD}"
  data_dir = "${join(dir, 'data')}"
  log_level = "DEBUG"
  admin_ids = ["${ADMIN_ID}"]
${extra}
}
plugins {
  NodeAttestor "join_token" {
    plugin_data {}
  }
${plugins}${plugins ? '\n' : ''}  DataStore "sql" {
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
}

/** Starts `spire-server run` in-process; resolves once the admin socket answers. */
/** `spire-server run -config <configPath>` in this process (its output collected), once it says it is ready. */
export async function runServerInProcess(configPath: string, cwd: string, name = 'spire-server'): Promise<{ output(): string; stop(): Promise<number> }> {
  let out = '';
  const stop = new AbortController();
  const exited = main(['run', '-config', configPath], {
    stdout: (t) => (out += t),
    stderr: (t) => (out += t),
    readFile: (p) => readFileSync(p, 'utf8'),
    cwd,
    env: {},
    stopSignal: stop.signal,
  });
  let done: number | undefined;
  void exited.then((c) => (done = c));
  const deadline = Date.now() + 30_000;
  while (!out.includes('spire-server is ready')) {
    if (done !== undefined) throw new Error(`${name} exited with ${done}:\n${out}`);
    if (Date.now() > deadline) throw new Error(`${name} did not become ready:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    output: () => out,
    stop: () => {
      stop.abort('SIGTERM');
      return exited;
    },
  };
}

export async function startServer(opts: { dir?: string; extra?: string; plugins?: string } = {}): Promise<Harness> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'spire-server-e2e-'));
  const port = await freePort();
  const configPath = join(dir, 'server.conf');
  writeFileSync(configPath, serverConfig(dir, port, opts.extra, opts.plugins));
  const socketPath = join(dir, 'api.sock');
  const run = await runServerInProcess(configPath, dir);
  const clients: grpc.Client[] = [];
  const local = <N extends ServiceName>(name: N): ServiceClientOf<N> => {
    const c = createClient(name, `unix://${socketPath}`, grpc.credentials.createInsecure());
    clients.push(c as unknown as grpc.Client);
    return c;
  };
  const bundlePem = async (): Promise<string> => {
    const c = local('spire.api.server.bundle.v1.Bundle');
    const b = await unary(c.GetBundle.bind(c), {});
    return (b.x509_authorities ?? []).map((a) => new X509Certificate(a.asn1 as Buffer).toString()).join('');
  };
  const rootsPem = await bundlePem();
  const tls = <N extends ServiceName>(name: N, identity?: ClientIdentity): ServiceClientOf<N> => {
    const creds = grpc.credentials.createSsl(
      Buffer.from(rootsPem),
      identity ? Buffer.from(identity.keyPem) : null,
      identity ? Buffer.from(identity.certChainPem) : null,
      {
        checkServerIdentity: (_host, cert) => {
          const san = cert.subjectaltname ?? '';
          return san.includes(`URI:spiffe://${TD}/spire/server`) ? undefined : new Error(`unexpected server identity ${san}`);
        },
      },
    );
    const c = createClient(name, `127.0.0.1:${port}`, creds, { 'grpc.ssl_target_name_override': 'spire-server', 'grpc.default_authority': 'spire-server' });
    clients.push(c as unknown as grpc.Client);
    return c;
  };
  return {
    dir,
    port,
    socketPath,
    output: run.output,
    local,
    tls,
    bundlePem,
    stop: async () => {
      for (const c of clients) c.close();
      const code = await run.stop();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

/** A fresh P-256 key and a CSR for it (no SAN), PEM key. */
export function newKeyAndCsr(uri?: string): { keyPem: string; csrDer: Buffer } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, csrDer: Buffer.from(buildCSR(privateKey, uri ? { uris: [uri] } : {})) };
}

/** PEM of DER certificates, in order. */
export function pemChain(ders: readonly Uint8Array[]): string {
  return ders.map((d) => new X509Certificate(d).toString()).join('');
}
