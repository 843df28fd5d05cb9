// The built binary as a child process: the conformance suites, then real
// attestations through ManagedPlugin as the agent runs it, against the fake
// engine on a Unix socket and a fake proc root (HOST_PROC) for real processes.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagedPlugin, nullLogger, unary } from '@spire-ts/common';
import { Status } from '@spire-ts/plugin-sdk';
import { builtInTarget, runSuite, suitesFor } from '@spire-ts/conformance';
import { CID, HOST_CGROUP, WA, dockerCgroup, killAll, rejection, sleeper, startFakeDockerEngine, stop, tempDir, writeFakeProc, type FakeDockerEngine } from './helpers.js';

const dir = tempDir('wa-docker-bin-');
const procRoot = join(dir, 'proc');
const socket = join(dir, 'docker.sock');
let engine: FakeDockerEngine;

beforeAll(async () => {
  engine = await startFakeDockerEngine({ socketPath: socket, apiVersion: '1.45' });
  engine.addContainer({ id: CID, image: 'registry.example/app:3', imageId: `sha256:${'ab'.repeat(32)}`, labels: { app: 'web' }, env: ['MODE=prod'] });
});
afterAll(async () => {
  await killAll();
  await engine.close();
});

describe('agent:WorkloadAttestor:docker conformance', () => {
  const target = builtInTarget('agent:WorkloadAttestor:docker');
  for (const suite of suitesFor(target)) {
    it(suite.name, async () => {
      const results = await runSuite(suite);
      const failed = results.filter((r) => r.status === 'failed');
      for (const f of failed) console.error(`${f.status}: ${f.suite} / ${f.name}: ${f.message}`);
      expect(failed).toEqual([]);
      expect(results.length).toBe(suite.cases.length);
    }, 60_000);
  }
});

describe('agent:WorkloadAttestor:docker as a child process', () => {
  it('attests real processes over the plugin wire', async () => {
    const target = builtInTarget('agent:WorkloadAttestor:docker', `docker_socket_path = "unix://${socket}"\nengine_timeout = "2s"`);
    const p = new ManagedPlugin({
      launch: { ...target.launch, env: { HOST_PROC: procRoot } },
      service: WA,
      pluginData: target.pluginData,
      trustDomain: target.trustDomain,
      log: nullLogger,
      restart: false,
    });
    await p.start();
    try {
      const w = await sleeper();
      writeFakeProc(procRoot, w.pid, { cgroup: dockerCgroup(CID) });
      const call = (pid: number) => unary(p.client, 'Attest', { pid }, { deadlineMs: 10_000 });
      expect((await call(w.pid)).selector_values).toEqual([
        'label:app:web',
        'env:MODE=prod',
        'image_id:registry.example/app:3',
        `image_config_digest:sha256:${'ab'.repeat(32)}`,
      ]);
      expect(engine.requests.slice(0, 2)).toEqual([
        { method: 'GET', path: '/_ping' },
        { method: 'GET', path: `/v1.45/containers/${CID}/json` },
      ]);

      writeFakeProc(procRoot, w.pid, { cgroup: HOST_CGROUP });
      expect((await call(w.pid)).selector_values).toEqual([]);

      writeFakeProc(procRoot, w.pid, { cgroup: dockerCgroup(CID) });
      engine.setDelayMs(4000);
      const slow = await rejection(call(w.pid));
      expect(slow.code).toBe(Status.UNAVAILABLE);
      engine.setDelayMs(0);

      engine.onInspect(() => stop(w));
      const gone = await rejection(call(w.pid));
      expect(gone.code).toBe(Status.INTERNAL);
      expect(gone.details).toContain(`process ${w.pid} exited during attestation`);
      engine.onInspect(undefined);
    } finally {
      await p.stop();
    }
  }, 30_000);
});
