// The k8s WorkloadAttestor in-process over its real gRPC socket, against the
// fake kubelet (real HTTPS, real certificates), attesting real processes
// placed in pods through a fake procfs root.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unary } from '@spire-ts/common';
import { Status } from '@spire-ts/plugin-sdk';
import { startFakeKubelet, makePod } from '../../../conformance/src/fixtures/kubelet.js';
import { writeFakeProc } from '../../../conformance/src/fixtures/fake-proc.js';
import { x509popTestCa } from '@spire-ts/conformance';
import { k8sWorkloadAttestorPlugin, type K8sWorkloadAttestorOptions } from '../src/index.js';
import {
  anyOf,
  attest,
  crioCgroupNoPod,
  expectedSelectors,
  hex64,
  inProcess,
  killAll,
  kubepodsCgroupV2,
  notInPodCgroup,
  pidReference,
  podWorkload,
  rejection,
  sleeper,
  stop,
  type InProcess,
} from './helpers.js';

const NODE = 'kind-worker';
let dir: string;
let procRoot: string;
let kubelet: Awaited<ReturnType<typeof startFakeKubelet>>;
let plugins: InProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wa-k8s-'));
  procRoot = join(dir, 'proc');
  kubelet = await startFakeKubelet({ tmpDir: dir, nodeName: NODE });
});
afterAll(async () => {
  await kubelet.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  kubelet.setPods([]);
  kubelet.setHideFirstListings(0);
  kubelet.setDelayMs(0);
  kubelet.setHugeResponseBytes(0);
  await kubelet.setDown(false);
});
afterEach(async () => {
  await killAll();
  await Promise.all(plugins.map((p) => p.close()));
  plugins = [];
});

type Hcl = Record<string, string | number | boolean | undefined>;

/** HCL of `keys` (string values quoted; undefined drops a key). */
function hcl(keys: Hcl): string {
  return Object.entries(keys)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} = ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`)
    .join('\n');
}

/** Secure port, bearer token, CA, the node name checked against the certificate while connecting to 127.0.0.1; `over` overrides. */
const secureHcl = (over: Hcl = {}) =>
  hcl({
    kubelet_secure_port: kubelet.securePort,
    kubelet_ca_path: kubelet.caPath,
    token_path: kubelet.tokenPath,
    node_name: NODE,
    kubelet_host: '127.0.0.1',
    poll_retry_interval: '20ms',
    max_poll_attempts: 5,
    ...over,
  });

async function start(hcl: string, opts: K8sWorkloadAttestorOptions = {}): Promise<InProcess> {
  const p = await inProcess(k8sWorkloadAttestorPlugin({ procRoot, env: {}, ...opts }));
  plugins.push(p);
  await p.configure(hcl);
  return p;
}

describe('k8s WorkloadAttestor: selectors', () => {
  it('full selector list of a container in a pod (secure port, token, node name verified)', async () => {
    const w = await podWorkload(procRoot, NODE);
    const other = await podWorkload(procRoot, NODE);
    kubelet.setPods([other.pod, w.pod]);
    const p = await start(secureHcl());
    expect(await attest(p.wa, w.pid)).toEqual(expectedSelectors(w, NODE));
    expect(await unary(p.wa, 'AttestReference', { reference: pidReference(w.pid) }, { deadlineMs: 10_000 }).then((r) => r.selector_values)).toEqual(expectedSelectors(w, NODE));
  });

  it('a process outside any pod gets no selectors (and no kubelet call)', async () => {
    const c = await sleeper();
    writeFakeProc(procRoot, c.pid, { cgroup: notInPodCgroup });
    const p = await start(secureHcl());
    const before = kubelet.podListCalls;
    expect(await attest(p.wa, c.pid)).toEqual([]);
    expect(kubelet.podListCalls).toBe(before);
  });

  it('an init container; cgroup v2 cgroupfs layout', async () => {
    const w = await podWorkload(procRoot, NODE, { init: true, cgroup: kubepodsCgroupV2 });
    kubelet.setPods([w.pod]);
    const p = await start(secureHcl());
    const got = await attest(p.wa, w.pid);
    expect(got).toContain('container-name:init-app');
    expect(got).toContain('pod-init-image-count:1');
    expect(got).toContain('pod-image-count:1');
  });

  it('cgroup namespaces (0::/): found through mountinfo, unless the legacy locator is chosen', async () => {
    const w = await podWorkload(procRoot, NODE);
    const mountinfo = [
      '1500 1400 0:64 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/var/lib/containerd/l1,upperdir=/var/lib/containerd/u1,workdir=/var/lib/containerd/w1',
      `1510 1500 0:27 /kubepods/besteffort/pod${w.podUid}/${w.containerId} /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate`,
    ].join('\n') + '\n';
    writeFakeProc(procRoot, w.pid, { cgroup: '0::/\n', mountinfo });
    kubelet.setPods([w.pod]);
    const p = await start(secureHcl());
    expect(await attest(p.wa, w.pid)).toEqual(expectedSelectors(w, NODE));
    const legacy = await start(secureHcl({ use_new_container_locator: false }));
    expect(await attest(legacy.wa, w.pid)).toEqual([]);
  });

  it('the legacy locator reads the cgroup paths and refuses two container ids', async () => {
    const w = await podWorkload(procRoot, NODE);
    kubelet.setPods([w.pod]);
    const p = await start(secureHcl({ use_new_container_locator: false }));
    expect(await attest(p.wa, w.pid)).toEqual(expectedSelectors(w, NODE));
    const other = hex64();
    writeFakeProc(procRoot, w.pid, { cgroup: `3:memory:/kubepods/besteffort/pod${w.podUid}/${w.containerId}\n2:pids:/kubepods/besteffort/pod${w.podUid}/${other}\n` });
    const err = await rejection(attest(p.wa, w.pid));
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.details).toBe(`multiple container IDs found in cgroups (${w.containerId}, ${other})`);
  });

  it('disable_container_selectors: pod selectors only, even before the container is listed', async () => {
    const w = await podWorkload(procRoot, NODE);
    const pod = structuredClone(w.pod) as { status: { containerStatuses: Array<{ containerID: string }> } };
    pod.status.containerStatuses[0]!.containerID = '';
    kubelet.setPods([pod]);
    const p = await start(secureHcl({ disable_container_selectors: true }));
    const got = await attest(p.wa, w.pid);
    expect(got).toEqual(expectedSelectors(w, NODE).filter((s) => !s.startsWith('container-')));
  });

  it('without a pod UID in the cgroup, the container is searched in all pods; two pods claiming it is an error', async () => {
    const c = await sleeper();
    const id = hex64();
    writeFakeProc(procRoot, c.pid, { cgroup: crioCgroupNoPod(id) });
    const mk = (uid: string, name: string) =>
      makePod({ uid, name, namespace: 'default', serviceAccount: 'default', nodeName: NODE, containers: [{ name: 'c', image: 'img:1', imageId: 'img@sha256:' + 'd'.repeat(64), containerId: id }] });
    kubelet.setPods([mk('11111111-2222-3333-4444-555555555555', 'one')]);
    const p = await start(secureHcl());
    expect(await attest(p.wa, c.pid)).toContain('pod-name:one');
    kubelet.setPods([mk('11111111-2222-3333-4444-555555555555', 'one'), mk('66666666-2222-3333-4444-555555555555', 'two')]);
    await new Promise((r) => setTimeout(r, 30));
    const err = await rejection(attest(p.wa, c.pid));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toBe('two pods found with same container Id');
  });
});

describe('k8s WorkloadAttestor: polling', () => {
  it('a pod not yet listed is found on a later poll', async () => {
    const w = await podWorkload(procRoot, NODE);
    kubelet.setPods([w.pod]);
    kubelet.setHideFirstListings(3);
    const p = await start(secureHcl());
    const before = kubelet.podListCalls;
    expect(await attest(p.wa, w.pid)).toEqual(expectedSelectors(w, NODE));
    expect(kubelet.podListCalls - before).toBe(4);
  });

  it('a pod never listed: DEADLINE_EXCEEDED after max_poll_attempts', async () => {
    const w = await podWorkload(procRoot, NODE);
    const p = await start(secureHcl({ max_poll_attempts: 3 }));
    const before = kubelet.podListCalls;
    const err = await rejection(attest(p.wa, w.pid));
    expect(err.code).toBe(Status.DEADLINE_EXCEEDED);
    expect(err.details).toContain('no selectors found after max poll attempts');
    expect(err.details).toContain(w.containerId);
    expect(err.details).toContain(`https://127.0.0.1:${kubelet.securePort}/pods`);
    expect(kubelet.podListCalls - before).toBe(3);
  });

  it('concurrent attestations share one kubelet request', async () => {
    const ws = await Promise.all([1, 2, 3, 4, 5].map(() => podWorkload(procRoot, NODE)));
    kubelet.setPods(ws.map((w) => w.pod));
    kubelet.setDelayMs(100);
    const p = await start(secureHcl({ poll_retry_interval: '2s' }));
    const before = kubelet.podListCalls;
    const got = await Promise.all(ws.map((w) => attest(p.wa, w.pid)));
    got.forEach((g, i) => expect(g).toEqual(expectedSelectors(ws[i]!, NODE)));
    expect(kubelet.podListCalls - before).toBe(1);
  });

  it('a cancelled call stops polling the kubelet', async () => {
    const w = await podWorkload(procRoot, NODE);
    const p = await start(secureHcl({ poll_retry_interval: '30ms', max_poll_attempts: 1000 }));
    const err = await rejection(attest(p.wa, w.pid, 200));
    expect(err.code).toBe(Status.DEADLINE_EXCEEDED);
    await new Promise((r) => setTimeout(r, 100));
    const after = kubelet.podListCalls;
    await new Promise((r) => setTimeout(r, 200));
    expect(kubelet.podListCalls).toBe(after);
  });

  it('a pid that exits mid-attestation is refused', async () => {
    const w = await podWorkload(procRoot, NODE);
    kubelet.setPods([w.pod]);
    kubelet.setHideFirstListings(4);
    const p = await start(secureHcl({ poll_retry_interval: '100ms' }));
    const pending = rejection(attest(p.wa, w.pid));
    await new Promise((r) => setTimeout(r, 150));
    await stop(w.child);
    const err = await pending;
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toBe(`process ${w.pid} exited during attestation`);
  });
});

describe('k8s WorkloadAttestor: kubelet trouble', () => {
  it('kubelet down: UNAVAILABLE naming the URL; back up: works again', async () => {
    const w = await podWorkload(procRoot, NODE);
    kubelet.setPods([w.pod]);
    const p = await start(secureHcl({ max_poll_attempts: 2 }));
    await kubelet.setDown(true);
    const err = await rejection(attest(p.wa, w.pid));
    expect(err.code).toBe(Status.UNAVAILABLE);
    expect(err.details).toMatch(new RegExp(`unable to perform request to https://127\\.0\\.0\\.1:${kubelet.securePort}/pods: .*ECONNREFUSED`));
    await kubelet.setDown(false);
    expect(await attest(p.wa, w.pid)).toEqual(expectedSelectors(w, NODE));
  });

  it('slow kubelet: UNAVAILABLE after kubelet_request_timeout', async () => {
    const w = await podWorkload(procRoot, NODE);
    kubelet.setPods([w.pod]);
    kubelet.setDelayMs(2000);
    const p = await start(secureHcl({ max_poll_attempts: 1, kubelet_request_timeout: '200ms' }));
    const t0 = Date.now();
    const err = await rejection(attest(p.wa, w.pid));
    expect(err.code).toBe(Status.UNAVAILABLE);
    expect(err.details).toContain('no complete answer within 200 ms');
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it('huge response: refused with a clear error, without reading it all', async () => {
    const w = await podWorkload(procRoot, NODE);
    kubelet.setPods([w.pod]);
    kubelet.setHugeResponseBytes(4 * 1024 * 1024);
    const p = await start(secureHcl({ max_poll_attempts: 1 }), { maxPodListBytes: 256 * 1024 });
    const err = await rejection(attest(p.wa, w.pid));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toContain(`over the limit of ${256 * 1024} bytes`);
  });

  it('wrong token: the 401 is reported', async () => {
    const w = await podWorkload(procRoot, NODE);
    kubelet.setPods([w.pod]);
    const bad = join(dir, 'bad-token');
    writeFileSync(bad, 'not-the-token\n');
    const p = await start(secureHcl({ max_poll_attempts: 1, token_path: bad }));
    const err = await rejection(attest(p.wa, w.pid));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toMatch(/kubelet at https:\/\/127\.0\.0\.1:\d+\/pods refused the bearer token: 401 Unauthorized/);
  });

  it('the token is re-read every reload_interval', async () => {
    const w = await podWorkload(procRoot, NODE);
    kubelet.setPods([w.pod]);
    const tok = join(dir, 'rotating-token');
    writeFileSync(tok, 'expired-token\n');
    const p = await start(secureHcl({ max_poll_attempts: 1, token_path: tok, reload_interval: '100ms' }));
    expect((await rejection(attest(p.wa, w.pid))).details).toMatch(/refused the bearer token: 401/);
    writeFileSync(tok, readFileSync(kubelet.tokenPath));
    await new Promise((r) => setTimeout(r, 150));
    expect(await attest(p.wa, w.pid)).toEqual(expectedSelectors(w, NODE));
  });

  it('untrusted kubelet CA fails; skip_kubelet_verification connects anyway', async () => {
    const w = await podWorkload(procRoot, NODE);
    kubelet.setPods([w.pod]);
    const other = await x509popTestCa('some other CA');
    const otherPath = join(dir, 'other-ca.pem');
    writeFileSync(otherPath, other.pem);
    const p = await start(secureHcl({ max_poll_attempts: 1, kubelet_ca_path: otherPath }));
    const err = await rejection(attest(p.wa, w.pid));
    expect(err.code).toBe(Status.UNAVAILABLE);
    expect(err.details).toMatch(/unable to perform request to https:.*(certificate|issuer)/i);
    const q = await start(secureHcl({ skip_kubelet_verification: true, kubelet_ca_path: undefined }));
    expect(await attest(q.wa, w.pid)).toEqual(expectedSelectors(w, NODE));
  });

  it('a node name the certificate does not name is refused', async () => {
    const w = await podWorkload(procRoot, NODE);
    kubelet.setPods([w.pod]);
    const p = await start(secureHcl({ max_poll_attempts: 1, node_name: 'other-node' }));
    const err = await rejection(attest(p.wa, w.pid));
    expect(err.code).toBe(Status.UNAVAILABLE);
    expect(err.details).toMatch(/other-node/);
  });

  it('no node name: 127.0.0.1 with the chain verified (SPIRE default)', async () => {
    const w = await podWorkload(procRoot, NODE);
    kubelet.setPods([w.pod]);
    const p = await start(secureHcl({ node_name: undefined, kubelet_host: undefined }));
    expect(await attest(p.wa, w.pid)).toEqual(expectedSelectors(w, NODE));
  });

  it('node name from node_name_env', async () => {
    const w = await podWorkload(procRoot, NODE);
    kubelet.setPods([w.pod]);
    const p = await start(secureHcl({ node_name_env: 'K8S_NODE', node_name: undefined }), { env: { K8S_NODE: NODE } });
    expect(await attest(p.wa, w.pid)).toEqual(expectedSelectors(w, NODE));
  });

  it('client certificate authentication', async () => {
    const w = await podWorkload(procRoot, NODE);
    kubelet.setPods([w.pod]);
    const p = await start(
      secureHcl({ certificate_path: kubelet.clientCertPath, private_key_path: kubelet.clientKeyPath, token_path: undefined }),
    );
    expect(await attest(p.wa, w.pid)).toEqual(expectedSelectors(w, NODE));
  });

  it('anonymous authentication is sent without credentials (the fake kubelet refuses it)', async () => {
    const w = await podWorkload(procRoot, NODE);
    kubelet.setPods([w.pod]);
    const p = await start(secureHcl({ use_anonymous_authentication: true, max_poll_attempts: 1 }));
    const err = await rejection(attest(p.wa, w.pid));
    expect(err.details).toMatch(/refused anonymous access: 401/);
  });

  it('read-only port: plain HTTP to 127.0.0.1, no credentials', async () => {
    const w = await podWorkload(procRoot, NODE);
    kubelet.setPods([w.pod]);
    const p = await start(`kubelet_read_only_port = ${kubelet.readOnlyPort}\npoll_retry_interval = "20ms"`);
    expect(await attest(p.wa, w.pid)).toEqual(expectedSelectors(w, NODE));
  });

  it('malformed kubelet JSON is reported', async () => {
    const w = await podWorkload(procRoot, NODE);
    kubelet.setPods([{ metadata: { uid: w.podUid }, status: { containerStatuses: 'nope' } }]);
    const p = await start(secureHcl());
    const err = await rejection(attest(p.wa, w.pid));
    expect(err.code).toBe(Status.UNAVAILABLE);
    expect(err.details).toBe('unable to decode pod info from kubelet response: status.containerStatuses: expected an array');
  });
});

describe('k8s WorkloadAttestor: requests and configuration', () => {
  it('bad pids and references', async () => {
    const p = await start(secureHcl());
    expect((await rejection(attest(p.wa, -1))).code).toBe(Status.INVALID_ARGUMENT);
    const gone = await rejection(attest(p.wa, 2 ** 31 - 2));
    expect(gone.code).toBe(Status.INTERNAL);
    expect(gone.details).toBe(`process ${2 ** 31 - 2} does not exist`);
    const bad = await rejection(unary(p.wa, 'AttestReference', { reference: { type_url: 'type.googleapis.com/google.protobuf.Empty', value: Buffer.alloc(0) } }, { deadlineMs: 5000 }));
    expect(bad.code).toBe(Status.INVALID_ARGUMENT);
    expect(bad.details).toBe('unsupported reference type: type.googleapis.com/google.protobuf.Empty');
    const garbled = await rejection(unary(p.wa, 'AttestReference', { reference: { type_url: 'type.googleapis.com/spiffe.broker.WorkloadPIDReference', value: Buffer.from([0x08]) } }, { deadlineMs: 5000 }));
    expect(garbled.code).toBe(Status.INVALID_ARGUMENT);
    expect(garbled.details).toMatch(/^unable to unmarshal PID reference: /);
    const obj = anyOf('spiffe.broker.KubernetesObjectReference', 'spiffe/broker/api.proto', {});
    expect((await rejection(unary(p.wa, 'AttestReference', { reference: obj }, { deadlineMs: 5000 }))).code).toBe(Status.UNIMPLEMENTED);
  });

  it('not configured: FAILED_PRECONDITION', async () => {
    const p = await inProcess(k8sWorkloadAttestorPlugin({ procRoot }));
    plugins.push(p);
    expect((await rejection(attest(p.wa, process.pid))).code).toBe(Status.FAILED_PRECONDITION);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['both ports', 'kubelet_read_only_port = 10255\nkubelet_secure_port = 10250', /cannot use both the read-only and secure port/],
    ['port out of range', 'kubelet_secure_port = 70000', /kubelet_secure_port 70000 is not a TCP port/],
    ['bad poll interval', 'kubelet_read_only_port = 10255\npoll_retry_interval = "soon"', /unable to parse poll retry interval/],
    ['bad reload interval', 'kubelet_read_only_port = 10255\nreload_interval = "5 minutes"', /unable to parse reload interval/],
    ['certificate without key', 'certificate_path = "/tmp/x.crt"\nskip_kubelet_verification = true', /the private key path is required with the certificate path/],
    ['key without certificate', 'private_key_path = "/tmp/x.key"\nskip_kubelet_verification = true', /the certificate path is required with the private key path/],
    ['unknown key', 'kubelet_port = 1', /kubelet_port/],
  ];
  for (const [name, hcl, msg] of bad) {
    it(`refuses ${name}`, async () => {
      const p = await inProcess(k8sWorkloadAttestorPlugin({ procRoot, env: {} }));
      plugins.push(p);
      const err = await rejection(p.configure(hcl));
      expect(err.code).toBe(Status.INVALID_ARGUMENT);
      expect(err.details).toMatch(msg);
    });
  }

  it('refuses unreadable or invalid files at configure time', async () => {
    const p = await inProcess(k8sWorkloadAttestorPlugin({ procRoot, env: {} }));
    plugins.push(p);
    const missingCa = await rejection(p.configure(`kubelet_ca_path = "${join(dir, 'nope.crt')}"\ntoken_path = "${kubelet.tokenPath}"`));
    expect(missingCa.code).toBe(Status.INVALID_ARGUMENT);
    expect(missingCa.details).toMatch(/unable to load kubelet CA: open .*nope\.crt: no such file or directory/);
    const garbage = join(dir, 'garbage.crt');
    writeFileSync(garbage, 'hello');
    const badCa = await rejection(p.configure(`kubelet_ca_path = "${garbage}"\ntoken_path = "${kubelet.tokenPath}"`));
    expect(badCa.details).toMatch(/unable to parse kubelet CA .*no PEM certificates/);
    const noToken = await rejection(p.configure(`kubelet_ca_path = "${kubelet.caPath}"\ntoken_path = "${join(dir, 'none')}"`));
    expect(noToken.details).toMatch(/unable to load token: open .*none: no such file or directory/);
    const mismatch = await rejection(
      p.configure(`kubelet_ca_path = "${kubelet.caPath}"\ncertificate_path = "${kubelet.clientCertPath}"\nprivate_key_path = "${kubelet.caPath}"`),
    );
    expect(mismatch.details).toMatch(/unable to load keypair/);
  });

  it('the default is the secure port 10250 with the service account paths', async () => {
    const p = await inProcess(k8sWorkloadAttestorPlugin({ procRoot, env: {} }));
    plugins.push(p);
    const err = await rejection(p.configure(''));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toContain('unable to load kubelet CA: open /var/run/secrets/kubernetes.io/serviceaccount/ca.crt');
  });
});
