// End to end with real spire-server and spire-agent processes: the agent runs
// the docker WorkloadAttestor against a fake Docker Engine on a Unix socket,
// with a proc root (HOST_PROC) that shows the workload's process inside a
// container. A workload in the container labelled app=web gets the entry's
// SVID; one labelled app=db, and a process outside any container, get
// PermissionDenied.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2eEnv, TD } from '../../../core/agent/test/e2e-harness.js';
import { startFakeDockerEngine, writeFakeProc, dockerCgroup, HOST_CGROUP, type FakeDockerEngine } from './helpers.js';

const CLIENT = fileURLToPath(new URL('../../../core/agent/test/fixtures/workload-client.mjs', import.meta.url));
const WEB = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';
const DB = 'deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef';

const skip = E2eEnv.check();
let env: E2eEnv;
let engine: FakeDockerEngine;
let procRoot: string;

/**
 * Runs the Workload API client as a new process whose fake cgroup says it is
 * in `cgroup`; the fake proc entry is written right after spawn, long before
 * Node has started and connected. Returns the client's one JSON line.
 */
async function fetchAs(cgroup: string): Promise<{ svids?: string[]; code?: number; details?: string }> {
  const child = spawn(process.execPath, [CLIENT, env.agentSocket], { stdio: ['ignore', 'pipe', 'pipe'], cwd: fileURLToPath(new URL('../../../core/agent/test/', import.meta.url)) });
  writeFakeProc(procRoot, child.pid!, { cgroup });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`client exited (${String(code)}) without output: ${stderr}`)));
  });
  return JSON.parse(line) as { svids?: string[]; code?: number; details?: string };
}

/** Retries until the answer is what `done` wants (the agent syncs new entries within its interval). */
async function eventually<T>(fn: () => Promise<T>, done: (v: T) => boolean, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (done(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 300));
  }
}

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
