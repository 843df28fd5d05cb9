// The server side of k8s_psat over its real gRPC socket against the fake
// kube-apiserver (HTTPS, TokenReview, pods, nodes): configuration checks,
// agent ID forms, label selectors, audiences, and the API server's trust.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@spire-ts/plugin-sdk';
import { rejection, servePluginInProcess, type InProcessPlugin } from '@spire-ts/conformance';
import { FakeKubeApiServer, startK8sPsatEnv, type K8sPsatFixtureEnv } from '../../../conformance/src/fixtures/k8s_psat.js';
import { k8sPsatServerPlugin } from '../src/index.js';

type Svc = 'spire.plugin.server.nodeattestor.v1.NodeAttestor';
interface Attributes {
  spiffe_id: string;
  selector_values: string[];
  can_reattest: boolean;
}

/** One Attest stream: the first message (payload unless `first` says otherwise), then the plugin's answer. */
function attest(p: InProcessPlugin<Svc>, payload: Uint8Array, first: 'payload' | 'challenge_response' = 'payload'): Promise<Attributes> {
  return new Promise((resolve, reject) => {
    const call = p.client.Attest({ deadline: Date.now() + 15_000 });
    call.on('data', (m: { response?: string; agent_attributes?: Attributes }) => {
      if (m.response === 'agent_attributes' && m.agent_attributes) resolve(m.agent_attributes);
      else reject(new Error(`unexpected response ${JSON.stringify(m)}`));
      call.end();
    });
    call.on('error', reject);
    call.write({ [first]: payload });
  });
}

const payload = (cluster: string, token: string): Buffer => Buffer.from(JSON.stringify({ cluster, token }));

let dir: string;
let env: K8sPsatFixtureEnv;
let p: InProcessPlugin<Svc>;
let token: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'k8s-psat-server-'));
  env = await startK8sPsatEnv(dir, 'example.org');
  token = env.apiserver.issueToken({ pod: env.pod });
  p = await servePluginInProcess(k8sPsatServerPlugin());
});

afterAll(async () => {
  await p?.close();
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('server k8s_psat configuration', () => {
  it.each([
    ['clusters = { "c" = { kube_config_file = "/k" } }', /cluster "c" configuration must have at least one service account allowed/],
    ['clusters = { "c" = { service_account_allow_list = ["spire-agent"] } }', /entry "spire-agent" must be "<namespace>:<service account name>"/],
    ['clusters = { "a/b" = { service_account_allow_list = ["ns:sa"] } }', /cluster name "a\/b" cannot be used in an agent ID/],
    ['clusters = { "c" = { service_account_allow_list = ["ns:sa"], audiences = ["x"] } }', /audiences/],
    ['cluster = "c"', /cluster/],
  ])('refuses %s', async (hcl, message) => {
    const err = await rejection(p.configure(hcl));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toMatch(message);
  });

  it('needs the trust domain', async () => {
    const err = await rejection(p.configure(env.serverPluginData, ''));
    expect(err.details).toMatch(/trust domain/);
  });

  it('with no clusters, every cluster is unknown', async () => {
    await p.configure('');
    const err = await rejection(attest(p, payload('test-cluster', token)));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/not configured for cluster "test-cluster"/);
  });
});

describe('server k8s_psat attestation', () => {
  it("yields SPIRE's node-UID agent ID and selectors; only allowed label keys, sorted", async () => {
    await p.configure(env.serverPluginData);
    const attrs = await attest(p, payload('test-cluster', token));
    expect(attrs.spiffe_id).toBe(`spiffe://example.org/spire/agent/k8s_psat/test-cluster/${env.node.uid}`);
    expect(attrs.can_reattest).toBe(true);
    expect(attrs.selector_values).toEqual([
      'cluster:test-cluster',
      'agent_ns:spire',
      'agent_sa:spire-agent',
      `agent_pod_name:${env.pod.name}`,
      `agent_pod_uid:${env.pod.uid}`,
      'agent_node_ip:172.16.10.1',
      'agent_node_name:node-1',
      `agent_node_uid:${env.node.uid}`,
      'agent_node_label:topology.kubernetes.io/zone:zone-a',
      'agent_pod_label:app:spire-agent',
    ]);
  });

  it('use_pod_uid_for_agent_id: the pod UID under pod/', async () => {
    await p.configure(env.serverData({ extra: 'use_pod_uid_for_agent_id = true' }));
    const attrs = await attest(p, payload('test-cluster', token));
    expect(attrs.spiffe_id).toBe(`spiffe://example.org/spire/agent/k8s_psat/test-cluster/pod/${env.pod.uid}`);
  });

  it('audience = [] validates against the API server audience', async () => {
    await p.configure(env.serverData({ extra: 'audience = []' }));
    const apiToken = env.apiserver.issueToken({ pod: env.pod, audiences: env.apiserver.apiAudiences });
    expect((await attest(p, payload('test-cluster', apiToken))).spiffe_id).toContain(env.node.uid);
    // A token for spire-server is not one for the API server.
    const err = await rejection(attest(p, payload('test-cluster', token)));
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.details).toMatch(/is invalid for the target audiences \["https:\/\/kubernetes.default.svc.cluster.local"\]/);
  });

  it('several audiences: any one of them will do', async () => {
    await p.configure(env.serverData({ extra: 'audience = ["spire", "spire-server"]' }));
    expect((await attest(p, payload('test-cluster', token))).can_reattest).toBe(true);
  });

  it('a stream that starts with a challenge response has no payload', async () => {
    await p.configure(env.serverPluginData);
    const err = await rejection(attest(p, payload('test-cluster', token), 'challenge_response'));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toBe('missing attestation payload');
  });

  it('authenticates to the API server with the kubeconfig token (a wrong one is INTERNAL, with the 401)', async () => {
    const kc = join(dir, 'wrong-token.yaml');
    writeFileSync(kc, readFileSync(env.kubeconfigPath, 'utf8').replace(env.apiserver.clientToken, 'not-the-token'));
    await p.configure(env.serverPluginData.replace(env.kubeconfigPath, kc));
    const err = await rejection(attest(p, payload('test-cluster', token)));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toMatch(/unable to validate token with TokenReview API for cluster "test-cluster": POST https:\/\/localhost:\d+\/apis\/authentication.k8s.io\/v1\/tokenreviews: 401 Unauthorized/);
  });

  it('trusts the API server only through the kubeconfig CA', async () => {
    const other = await FakeKubeApiServer.start();
    try {
      const kc = join(dir, 'other-ca.yaml');
      const text = readFileSync(env.kubeconfigPath, 'utf8');
      writeFileSync(kc, text.replace(Buffer.from(env.apiserver.caPem).toString('base64'), Buffer.from(other.caPem).toString('base64')));
      await p.configure(env.serverPluginData.replace(env.kubeconfigPath, kc));
      const err = await rejection(attest(p, payload('test-cluster', token)));
      expect(err.code).toBe(Status.INTERNAL);
      expect(err.details).toMatch(/unable to validate token with TokenReview API for cluster "test-cluster": .*certificate/i);
    } finally {
      await other.close();
    }
  });

  it('a missing kubeconfig is INTERNAL naming the cluster and the file', async () => {
    await p.configure(env.serverPluginData.replace(env.kubeconfigPath, join(dir, 'absent.yaml')));
    const err = await rejection(attest(p, payload('test-cluster', token)));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toMatch(/unable to create a client for cluster "test-cluster": cannot read kubeconfig file ".*absent.yaml": no such file/);
  });

  it('keeps serving after refusals', async () => {
    await p.configure(env.serverPluginData);
    await rejection(attest(p, Buffer.from('{"cluster": 1}')));
    await rejection(attest(p, Buffer.from([0xff, 0xfe])));
    expect((await attest(p, payload('test-cluster', token))).spiffe_id).toContain(env.node.uid);
  });
});
