/**
 * Shared bits of the node identity tests: a real spire-server (the server
 * package's e2e harness), join tokens, agent identities on temp data dirs.
 */
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCertificate, keyObjectSigner, memoryLogger, pemEncode } from '@spire-ts/common';
import { startServer, TD, unary, type Harness } from '../../server/test/server-harness.js';
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

/** `spire-server run` in-process (the server harness) with extra plugin blocks, e.g. a NodeAttestor fixture launched with plugin_cmd. */
export function startServerWithPlugins(pluginBlocks: string): Promise<Server> {
  return startServer({ plugins: pluginBlocks });
}
