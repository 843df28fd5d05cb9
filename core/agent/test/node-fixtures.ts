/**
 * Shared bits of the node identity tests: a real spire-server (the server
 * package's e2e harness), join tokens, agent identities on temp data dirs.
 */
import { generateKeyPairSync, createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { buildCertificate, keyObjectSigner, memoryLogger, pemEncode } from '@spire-ts/common';
import { createClient, type ServiceClientOf, type ServiceName } from '@spire-ts/proto';
import { main } from '@spire-ts/server';
import { freePort, serverConfig, TD, unary, type Harness } from '../../server/test/server-harness.js';
import { NodeIdentity, type NodeIdentityOptions } from '../src/node/identity.js';

export { TD, unary, startServer, type Harness } from '../../server/test/server-harness.js';

/** What the node tests need of a running server. */
export type Server = Pick<Harness, 'port' | 'local' | 'bundlePem' | 'stop' | 'output'>;

export async function joinToken(h: Server, ttl = 600): Promise<string> {
  const c = h.local('spire.api.server.agent.v1.Agent');
  const t = await unary(c.CreateJoinToken.bind(c), { ttl });
  return t.value;
}

export function tempDir(prefix = 'spire-agent-node-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes the server's bundle as PEM and returns its path. */
export async function bundleFile(h: Server, dir: string): Promise<string> {
  const p = join(dir, 'bootstrap.pem');
  writeFileSync(p, await h.bundlePem());
  return p;
}

export type TestIdentity = NodeIdentity & { logs: ReturnType<typeof memoryLogger> };

export function identity(h: Server, opts: Partial<NodeIdentityOptions> & { dataDir: string }): TestIdentity {
  const log = memoryLogger();
  const id = new NodeIdentity({
    trustDomain: TD,
    serverAddress: '127.0.0.1',
    serverPort: h.port,
    trustBundle: { kind: 'insecure' },
    log,
    ...opts,
  });
  return Object.assign(id, { logs: log });
}

/** A self-signed certificate (not a CA) with `uri`, valid in [notBefore, notAfter], and its key. */
export async function selfSigned(uri: string, notBefore: Date, notAfter: Date, ca = false) {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = await buildCertificate(
    {
      subject: { organization: ['SPIRE'] },
      notBefore,
      notAfter,
      basicConstraints: { ca },
      keyUsage: ca ? ['keyCertSign', 'cRLSign'] : ['digitalSignature'],
      uris: [uri],
    },
    { publicKeyDer: new Uint8Array(createPublicKey(privateKey).export({ type: 'spki', format: 'der' })), signer: keyObjectSigner(privateKey) },
  );
  return { der, key: privateKey, pem: pemEncode('CERTIFICATE', der) };
}

/**
 * `spire-server run` in-process (as the server harness does) with extra
 * plugin blocks, e.g. a NodeAttestor fixture launched with plugin_cmd.
 */
export async function startServerWithPlugins(pluginBlocks: string): Promise<Server> {
  const dir = tempDir('spire-server-node-');
  const port = await freePort();
  const configPath = join(dir, 'server.conf');
  writeFileSync(configPath, serverConfig(dir, port).replace('plugins {\n', `plugins {\n${pluginBlocks}\n`));
  const socketPath = join(dir, 'api.sock');
  let out = '';
  const stop = new AbortController();
  const exited = main(['run', '-config', configPath], {
    stdout: (t) => (out += t),
    stderr: (t) => (out += t),
    readFile: (p) => readFileSync(p, 'utf8'),
    cwd: dir,
    env: {},
    stopSignal: stop.signal,
  });
  let done: number | undefined;
  void exited.then((c) => (done = c));
  const deadline = Date.now() + 30_000;
  while (!out.includes('spire-server is ready')) {
    if (done !== undefined) throw new Error(`spire-server exited with ${done}:\n${out}`);
    if (Date.now() > deadline) throw new Error(`spire-server did not become ready:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const clients: grpc.Client[] = [];
  const local = <N extends ServiceName>(name: N): ServiceClientOf<N> => {
    const c = createClient(name, `unix://${socketPath}`, grpc.credentials.createInsecure());
    clients.push(c as unknown as grpc.Client);
    return c;
  };
  return {
    port,
    local,
    output: () => out,
    bundlePem: async () => {
      const c = local('spire.api.server.bundle.v1.Bundle');
      const b = await unary(c.GetBundle.bind(c), {});
      return (b.x509_authorities ?? []).map((a) => new X509Certificate(a.asn1 as Buffer).toString()).join('');
    },
    stop: async () => {
      for (const c of clients) c.close();
      stop.abort('SIGTERM');
      const code = await exited;
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}
