// End to end with real spire-server and spire-agent processes: the agent runs
// the docker WorkloadAttestor against a fake Docker Engine on a Unix socket,
// with a proc root (HOST_PROC) that shows the workload's process inside a
// container. A workload in the container labelled app=web gets the entry's
// SVID; one labelled app=db, and a process outside any container, get
// PermissionDenied.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2eEnv, TD, eventually, fetchAsNewProcess } from '../../../core/agent/test/e2e-harness.js';
import { startFakeDockerEngine, writeFakeProc, dockerCgroup, HOST_CGROUP, type FakeDockerEngine } from './helpers.js';

const WEB = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';
const DB = 'deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef';

const skip = E2eEnv.check();
let env: E2eEnv;
let engine: FakeDockerEngine;
let procRoot: string;

/** The Workload API client as a new process whose fake cgroup says it is in `cgroup`. */
const fetchAs = (cgroup: string) => fetchAsNewProcess(env.agentSocket, (pid) => writeFakeProc(procRoot, pid, { cgroup }));

describe.skipIf(skip !== undefined)('docker WorkloadAttestor end to end: spire-server, spire-agent, a fake Docker Engine', () => {
  beforeAll(async () => {
    env = new E2eEnv({ agentSyncInterval: '1s' });
    procRoot = join(env.dir, 'proc');
    mkdirSync(procRoot);
    const socketPath = join(env.dir, 'docker.sock');
    engine = await startFakeDockerEngine({ socketPath });
    engine.addContainer({ id: WEB, image: 'registry.example/web:1.4', labels: { app: 'web', tier: 'front' }, env: ['MODE=prod'] });
    engine.addContainer({ id: DB, image: 'registry.example/db:15', labels: { app: 'db' } });
    // Paths inside the harness's directory, known once it exists.
    Object.assign(env.opts, {
      workloadAttestors: `WorkloadAttestor "docker" { plugin_data { docker_socket_path = "unix://${socketPath}" } }`,
      agentEnv: { HOST_PROC: procRoot },
    });
    await env.startServer();
    await env.prepareAgent();
    await env.startAgent();
    await env.serverCli('entry', 'create', '-parentID', `spiffe://${TD}/host`, '-spiffeID', `spiffe://${TD}/web`, '-selector', 'docker:label:app:web', '-selector', 'docker:env:MODE=prod');
  }, 90_000);

  afterAll(async () => {
    await env?.killAll();
    await engine?.close();
  });

  it('a process in the app=web container gets the SVID of the docker:label entry', async () => {
    const r = await eventually(() => fetchAs(dockerCgroup(WEB)), (v) => v.svids !== undefined);
    expect(r, env.logs()).toMatchObject({ svids: [`spiffe://${TD}/web`] });
    expect(engine.requests.some((q) => q.path.endsWith(`/containers/${WEB}/json`))).toBe(true);
  }, 40_000);

  it('a process in another container, and one outside any container, get PermissionDenied', async () => {
    expect(await fetchAs(dockerCgroup(DB))).toMatchObject({ code: 7 });
    const before = engine.requests.length;
    expect(await fetchAs(HOST_CGROUP)).toMatchObject({ code: 7 });
    // Not in a container: no docker selectors, and no question to the engine.
    expect(engine.requests.slice(before).some((q) => q.path.includes('/containers/'))).toBe(false);
  }, 30_000);
});
