// The built binary as a child process through ManagedPlugin, as the agent
// runs it: HOST_PROC points it at a fake procfs that puts a real `sleep`
// in a pod; the fake kubelet serves the pod list over HTTPS.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagedPlugin, nullLogger, unary } from '@spire-ts/common';
import { Status } from '@spire-ts/plugin-sdk';
import { builtInTarget } from '@spire-ts/conformance';
import { startFakeKubelet } from '../../../conformance/src/fixtures/kubelet.js';
import { writeFakeProc } from '../../../conformance/src/fixtures/fake-proc.js';
import { WA, expectedSelectors, killAll, notInPodCgroup, pidReference, podWorkload, rejection, sleeper, stop } from './helpers.js';

const NODE = 'worker-3';
let dir: string;
let procRoot: string;
let kubelet: Awaited<ReturnType<typeof startFakeKubelet>>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wa-k8s-bin-'));
  procRoot = join(dir, 'proc');
  kubelet = await startFakeKubelet({ tmpDir: dir, nodeName: NODE });
});
afterAll(async () => {
  await killAll();
  await kubelet.setDown(false);
  await kubelet.close();
  rmSync(dir, { recursive: true, force: true });
});

async function launch(pluginData: string): Promise<ManagedPlugin<typeof WA>> {
  const target = builtInTarget('agent:WorkloadAttestor:k8s', pluginData);
  const p = new ManagedPlugin({
    launch: { ...target.launch, env: { HOST_PROC: procRoot, MY_NODE_NAME: NODE } },
    service: WA,
    pluginData: target.pluginData,
    trustDomain: target.trustDomain,
    log: nullLogger,
    restart: false,
  });
  await p.start();
  return p;
}

describe('agent:WorkloadAttestor:k8s as a child process', () => {
  it('attests pods over the plugin wire; retries, gives up and reports kubelet trouble', async () => {
    // MY_NODE_NAME (the default node_name_env) names the node; the
    // certificate is checked against it while connecting to 127.0.0.1.
    const p = await launch(`
      kubelet_secure_port = ${kubelet.securePort}
      kubelet_ca_path = "${kubelet.caPath}"
      token_path = "${kubelet.tokenPath}"
      kubelet_host = "127.0.0.1"
      poll_retry_interval = "30ms"
      max_poll_attempts = 4
    `);
    try {
      const w = await podWorkload(procRoot, NODE);
      kubelet.setPods([w.pod]);
      const call = (pid: number) => unary(p.client, 'Attest', { pid }, { deadlineMs: 10_000 }).then((r) => r.selector_values);
      expect(await call(w.pid)).toEqual(expectedSelectors(w, NODE));
      expect((await unary(p.client, 'AttestReference', { reference: pidReference(w.pid) }, { deadlineMs: 10_000 })).selector_values).toEqual(expectedSelectors(w, NODE));

      // Not in a pod: no selectors.
      const plain = await sleeper();
      writeFakeProc(procRoot, plain.pid, { cgroup: notInPodCgroup });
      expect(await call(plain.pid)).toEqual([]);

      // Just started: missing from the first listings.
      const late = await podWorkload(procRoot, NODE);
      kubelet.setPods([w.pod, late.pod]);
      kubelet.setHideFirstListings(2);
      expect(await call(late.pid)).toEqual(expectedSelectors(late, NODE));

      // Never listed.
      const ghost = await podWorkload(procRoot, NODE);
      const never = await rejection(call(ghost.pid));
      expect(never.code).toBe(Status.DEADLINE_EXCEEDED);
      expect(never.details).toContain('no selectors found after max poll attempts');

      // Exited.
      await stop(ghost.child);
      const exited = await rejection(call(ghost.pid));
      expect(exited.code).toBe(Status.INTERNAL);
      expect(exited.details).toBe(`process ${ghost.pid} does not exist`);

      // Kubelet down, then back.
      await kubelet.setDown(true);
      await new Promise((r) => setTimeout(r, 60)); // past the cached listing's freshness (poll_retry_interval)
      const down = await rejection(call(w.pid));
      expect(down.code).toBe(Status.UNAVAILABLE);
      expect(down.details).toContain(`https://127.0.0.1:${kubelet.securePort}/pods`);
      await kubelet.setDown(false);
      expect(await call(w.pid)).toEqual(expectedSelectors(w, NODE));

      // A pod list over the 32 MiB limit.
      kubelet.setHugeResponseBytes(40 * 1024 * 1024);
      await new Promise((r) => setTimeout(r, 60));
      const huge = await rejection(call(w.pid));
      expect(huge.code).toBe(Status.INTERNAL);
      expect(huge.details).toContain('over the limit of 33554432 bytes');
      kubelet.setHugeResponseBytes(0);

      expect((await rejection(call(0))).code).toBe(Status.INVALID_ARGUMENT);
    } finally {
      await p.stop();
    }
  }, 60_000);

  it('read-only port, and a configuration refused with INVALID_ARGUMENT', async () => {
    const p = await launch(`kubelet_read_only_port = ${kubelet.readOnlyPort}`);
    try {
      const w = await podWorkload(procRoot, NODE);
      kubelet.setPods([w.pod]);
      expect((await unary(p.client, 'Attest', { pid: w.pid }, { deadlineMs: 10_000 })).selector_values).toEqual(expectedSelectors(w, NODE));
    } finally {
      await p.stop();
    }
    const target = builtInTarget('agent:WorkloadAttestor:k8s', 'kubelet_read_only_port = 1\nkubelet_secure_port = 2');
    const bad = new ManagedPlugin({ launch: target.launch, service: WA, pluginData: target.pluginData, trustDomain: target.trustDomain, log: nullLogger, restart: false });
    const err = await rejection(bad.start());
    await bad.stop().catch(() => undefined);
    expect(String((err as Error).message)).toMatch(/cannot use both the read-only and secure port/);
  }, 30_000);
});
