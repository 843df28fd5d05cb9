// Envoy SDS end to end: a real spire-server and spire-agent (the built CLIs),
// the agent configured with an `sds { ... }` block, and an SDS client on the
// agent's Workload API socket: renamed default resources, a stream that gets
// the rotated SVID with a new version, and SPIRE's default names refused once
// renamed; plus Debug.GetInfo on the admin socket (`admin_socket_path`).
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pemDecode, validateX509Svid } from '@spire-ts/common';
import { createClient, type ServiceClientOf, type agentDebugV1, type discoveryV3 } from '@spire-ts/proto';
import { SECRET_TYPE_URL } from '../src/workload/index.js';
import type * as Protobuf from 'protobufjs';
import { E2eEnv, TD } from './e2e-harness.js';

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs') as typeof Protobuf;
const root = new protobuf.Root();
const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../proto');
root.resolvePath = (_o, t) => (t.startsWith('google/protobuf/') ? t : join(PROTO_DIR, t));
root.loadSync(['envoy/extensions/transport_sockets/tls/v3/secret.proto'], { keepCase: true });
const SecretMsg = root.lookupType('envoy.extensions.transport_sockets.tls.v3.Secret');

interface Secret {
  name: string;
  tls_certificate?: { certificate_chain: { inline_bytes: Buffer }; private_key: { inline_bytes: Buffer } };
  validation_context?: { trusted_ca?: { inline_bytes: Buffer } };
}
const decode = (a: { type_url: string; value: Buffer }): Secret => {
  expect(a.type_url).toBe(SECRET_TYPE_URL);
  return SecretMsg.toObject(SecretMsg.decode(a.value), { defaults: false }) as Secret;
};

type SdsClient = ServiceClientOf<'envoy.service.secret.v3.SecretDiscoveryService'>;
type Response = discoveryV3.DiscoveryResponse__Output;

const myUid = process.geteuid!();
const ME = `spiffe://${TD}/envoy`;
const SVID_TTL_S = 20;
// Envoy 1.17 gets trusted_ca, which is simple to check with node:crypto.
const node = { id: 'envoy-1', user_agent_build_version: { version: { major_number: 1, minor_number: 17, patch: 0 } } };

const notBuilt = E2eEnv.check();
const env = new E2eEnv({ agentSyncInterval: '1s' });
const clients: SdsClient[] = [];
const adminSocket = join(env.dir, 'private', 'admin.sock');
let failed = false;

function sds(): SdsClient {
  const c = createClient('envoy.service.secret.v3.SecretDiscoveryService', `unix://${env.agentSocket}`, grpc.credentials.createInsecure());
  clients.push(c);
  return c;
}

function leafOf(s: Secret, roots: Uint8Array[]): X509Certificate {
  const chain = pemDecode(s.tls_certificate!.certificate_chain.inline_bytes.toString('ascii'), 'CERTIFICATE');
  const leaf = new X509Certificate(chain[0]!);
  expect(leaf.checkPrivateKey(createPrivateKey(s.tls_certificate!.private_key.inline_bytes.toString('ascii')))).toBe(true);
  expect(validateX509Svid(chain[0]!, chain.slice(1), roots, new Date()).spiffeId.toString()).toBe(ME);
  return leaf;
}

describe.skipIf(notBuilt !== undefined)('Envoy SDS end to end (real server and agent processes)', () => {
  beforeAll(async () => {
    try {
      await env.startServer();
      await env.prepareAgent();
      const conf = join(env.dir, 'agent.conf');
      writeFileSync(conf, readFileSync(conf, 'utf8').replace('agent {\n', `agent {\n  admin_socket_path = "${adminSocket}"\n  sds {\n    default_svid_name = "my_svid"\n    default_bundle_name = "my_bundle"\n  }\n`));
      await env.serverCli('entry', 'create', '-spiffeID', ME, '-parentID', `spiffe://${TD}/host`, '-selector', `unix:uid:${myUid}`, '-x509SVIDTTL', String(SVID_TTL_S));
      await env.startAgent();
    } catch (err) {
      failed = true;
      throw new Error(`${(err as Error).message}\n${env.logs()}`);
    }
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    if (failed || process.env.E2E_LOGS) process.stderr.write(`sds-e2e logs${failed ? ` (kept in ${env.dir})` : ''}:\n${env.logs()}\n`);
    await env.killAll(failed);
  }, 30_000);

  it('serves the configured names, then pushes the rotated SVID with a new version', async () => {
    const call = sds().StreamSecrets();
    const messages: Response[] = [];
    let error: grpc.ServiceError | undefined;
    call.on('data', (m: Response) => messages.push(m));
    call.on('error', (e: grpc.ServiceError) => (error = e));
    const waitFor = async (pred: () => boolean, ms: number): Promise<void> => {
      const end = Date.now() + ms;
      while (!pred()) {
        if (error) throw error;
        if (Date.now() > end) throw new Error(`timed out with ${messages.length} responses`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      call.write({ type_url: SECRET_TYPE_URL, resource_names: ['my_svid', 'my_bundle'], node });
      await waitFor(() => messages.length >= 1, 10_000);
      const r1 = messages[0]!;
      const [bundle, svid] = r1.resources.map(decode);
      expect([bundle!.name, svid!.name]).toEqual(['my_bundle', 'my_svid']);
      const roots = pemDecode(bundle!.validation_context!.trusted_ca!.inline_bytes.toString('ascii'), 'CERTIFICATE');
      // The bundle is the server's.
      expect(roots.map((d) => Buffer.from(d))).toEqual(pemDecode(readFileSync(env.bundlePath, 'utf8'), 'CERTIFICATE').map((d) => Buffer.from(d)));
      const leaf1 = leafOf(svid!, roots);
      call.write({ type_url: SECRET_TYPE_URL, resource_names: ['my_svid', 'my_bundle'], version_info: r1.version_info, response_nonce: r1.nonce });

      // Rotation (at about half the 20 s lifetime): a response with a higher version and a new serial.
      let rotated: Secret | undefined;
      await waitFor(() => {
        const last = messages[messages.length - 1]!;
        const s = last.resources.map(decode).find((x) => x.name === 'my_svid');
        if (s && pemDecode(s.tls_certificate!.certificate_chain.inline_bytes.toString('ascii'), 'CERTIFICATE').length > 0) {
          const serial = new X509Certificate(pemDecode(s.tls_certificate!.certificate_chain.inline_bytes.toString('ascii'), 'CERTIFICATE')[0]!).serialNumber;
          if (serial !== leaf1.serialNumber) rotated = s;
        }
        return rotated !== undefined;
      }, SVID_TTL_S * 1000 + 2_000);
      const last = messages[messages.length - 1]!;
      expect(Number(last.version_info)).toBeGreaterThan(Number(r1.version_info));
      expect(last.nonce).not.toBe(r1.nonce);
      expect(Date.now()).toBeLessThan(Date.parse(leaf1.validTo));
      leafOf(rotated!, roots);
      expect(error).toBeUndefined();
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      call.cancel();
    }
  }, SVID_TTL_S * 1000 + 15_000);

  it('the admin socket answers Debug.GetInfo with the agent SVID chain', async () => {
    const c = createClient('spire.agent.debug.v1.Debug', `unix://${adminSocket}`, grpc.credentials.createInsecure());
    try {
      const info = await new Promise<agentDebugV1.GetInfoResponse__Output>((resolve, reject) => c.GetInfo({}, (err, res) => (err ? reject(err) : resolve(res!))));
      expect(info.svid_chain[0]!.id).toMatchObject({ trust_domain: TD, path: expect.stringMatching(/^\/spire\/agent\/join_token\//) });
      expect(info.svid_chain[info.svid_chain.length - 1]!.id).toEqual({ trust_domain: TD, path: '' });
      expect(info.last_sync_success).toBeGreaterThan(0);
      // The workload entry, and any entry the join token made for the node alias.
      expect(info.cached_x509_svids_count).toBeGreaterThanOrEqual(1);
    } finally {
      c.close();
    }
  });

  it('the SPIRE default names are not served when renamed', async () => {
    await expect(
      new Promise((resolve, reject) => sds().FetchSecrets({ type_url: SECRET_TYPE_URL, resource_names: ['default'], node }, (err, res) => (err ? reject(err) : resolve(res)))),
    ).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'workload is not authorized for the requested identities ["default"]' });
  });
});
