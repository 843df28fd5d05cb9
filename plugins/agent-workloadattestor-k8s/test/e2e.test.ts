// End to end with real spire-server and spire-agent processes: the agent runs
// the k8s WorkloadAttestor against a fake kubelet over HTTPS (secure port,
// bearer token, CA), with a proc root (HOST_PROC) that puts the workload's
// process in a pod's container. A workload in the pod with service account
// "web" gets the entry's SVID; one in another pod, and a process outside any
// pod, get PermissionDenied.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2eEnv, TD, eventually, fetchAsNewProcess } from '../../../core/agent/test/e2e-harness.js';
import { writeFakeProc } from '../../../conformance/src/fixtures/fake-proc.js';
import { makePod, startFakeKubelet, type FakeKubelet } from '../../../conformance/src/fixtures/kubelet.js';
import { hex64, kubepodsCgroupV1, kubepodsCgroupV2 } from './helpers.js';

const HOST_CGROUP = '0::/user.slice/user-1000.slice/session-2.scope\n';

const skip = E2eEnv.check();
let env: E2eEnv;
let kubelet: FakeKubelet;
let procRoot: string;
const web = { uid: randomUUID(), container: hex64() };
const db = { uid: randomUUID(), container: hex64() };

/** The Workload API client as a new process whose fake cgroup says it is in `cgroup`. */
const fetchAs = (cgroup: string) => fetchAsNewProcess(env.agentSocket, (pid) => writeFakeProc(procRoot, pid, { cgroup }));

describe.skipIf(skip !== undefined)('k8s WorkloadAttestor end to end: spire-server, spire-agent, a fake kubelet', () => {
  beforeAll(async () => {
    env = new E2eEnv({ agentSyncInterval: '1s' });
    procRoot = join(env.dir, 'proc');
    mkdirSync(procRoot);
    kubelet = await startFakeKubelet({ tmpDir: env.dir, nodeName: 'kind-worker' });
    kubelet.setPods([
      makePod({ uid: web.uid, name: 'web-7d4b9c6f5-x2x9q', namespace: 'shop', serviceAccount: 'web', nodeName: 'kind-worker', labels: { app: 'web' }, containers: [{ name: 'web', image: 'registry.example/web:1.4', imageId: 'registry.example/web@sha256:' + 'ab'.repeat(32), containerId: web.container }] }),
      makePod({ uid: db.uid, name: 'db-0', namespace: 'shop', serviceAccount: 'db', nodeName: 'kind-worker', containers: [{ name: 'db', image: 'registry.example/db:15', imageId: 'registry.example/db@sha256:' + 'cd'.repeat(32), containerId: db.container }] }),
    ]);
    Object.assign(env.opts, {
      workloadAttestors: `WorkloadAttestor "k8s" { plugin_data {
    kubelet_secure_port = ${kubelet.securePort}
    kubelet_host = "${kubelet.host}"
    kubelet_ca_path = "${kubelet.caPath}"
    token_path = "${kubelet.tokenPath}"
    node_name = "${kubelet.nodeName}"
    max_poll_attempts = 3
    poll_retry_interval = "100ms"
  } }`,
      agentEnv: { HOST_PROC: procRoot },
    });
    await env.startServer();
    await env.prepareAgent();
    await env.startAgent();
    await env.serverCli('entry', 'create', '-parentID', `spiffe://${TD}/host`, '-spiffeID', `spiffe://${TD}/ns/shop/sa/web`, '-selector', 'k8s:ns:shop', '-selector', 'k8s:sa:web', '-selector', 'k8s:pod-label:app:web');
  }, 90_000);

  afterAll(async () => {
    await env?.killAll();
    await kubelet?.close();
  });

  it('a process in the web pod (cgroup v1, systemd) gets the SVID of the k8s:ns/sa/pod-label entry', async () => {
    const r = await eventually(() => fetchAs(kubepodsCgroupV1(web.uid, web.container)), (v) => v.svids !== undefined);
    expect(r, env.logs()).toMatchObject({ svids: [`spiffe://${TD}/ns/shop/sa/web`] });
    // The same container seen through a cgroup v2 (cgroupfs) host.
    expect(await fetchAs(kubepodsCgroupV2(web.uid, web.container))).toMatchObject({ svids: [`spiffe://${TD}/ns/shop/sa/web`] });
  }, 40_000);

  it('a process in another pod, and one outside any pod, get PermissionDenied', async () => {
    expect(await fetchAs(kubepodsCgroupV2(db.uid, db.container))).toMatchObject({ code: 7 });
    const calls = kubelet.podListCalls;
    expect(await fetchAs(HOST_CGROUP)).toMatchObject({ code: 7 });
    expect(kubelet.podListCalls).toBe(calls);
  }, 30_000);
});
