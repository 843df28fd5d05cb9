// The plugin in-process over its real gRPC socket, with a fake proc root
// for real `sleep` processes and the fake Docker engine on a Unix socket.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@spire-ts/plugin-sdk';
import { unary } from '@spire-ts/common';
import { dockerWorkloadAttestorPlugin } from '../src/index.js';
import {
  CID,
  CID2,
  HOST_CGROUP,
  attest,
  dockerCgroup,
  dockerCgroupV1,
  inProcess,
  killAll,
  rejection,
  sleeper,
  startFakeDockerEngine,
  stop,
  tempDir,
  writeFakeProc,
  type FakeDockerEngine,
  type InProcess,
} from './helpers.js';

const dir = tempDir('wa-docker-');
const procRoot = join(dir, 'proc');
const socket = join(dir, 'docker.sock');
let engine: FakeDockerEngine;
let p: InProcess;
const IMAGE_ID = `sha256:${'5e'.repeat(32)}`;

const cfg = (extra = '') => `docker_socket_path = "unix://${socket}"\n${extra}`;

beforeAll(async () => {
  engine = await startFakeDockerEngine({ socketPath: socket, apiVersion: '1.46' });
  engine.addContainer({
    id: CID,
    image: 'docker.io/library/nginx:1.27',
    imageId: IMAGE_ID,
    labels: { 'com.example.team': 'payments', 'a.first': 'x:y' },
    env: ['PATH=/usr/bin', 'NGINX_VERSION=1.27.2'],
  });
  p = await inProcess(dockerWorkloadAttestorPlugin({ procRoot, initialBackoffMs: 20 }));
  await p.configure(cfg('engine_timeout = "1500ms"'));
});
afterAll(async () => {
  await killAll();
  await p.close();
  await engine.close();
});
afterEach(() => {
  engine.setDelayMs(0);
  engine.setHugeResponseBytes(0);
  engine.onInspect(undefined);
});

const EXPECTED = [
  'label:a.first:x:y',
  'label:com.example.team:payments',
  'env:PATH=/usr/bin',
  'env:NGINX_VERSION=1.27.2',
  'image_id:docker.io/library/nginx:1.27',
  `image_config_digest:${IMAGE_ID}`,
];

describe('docker WorkloadAttestor', () => {
  it('answers the container selectors of a containerised process (cgroup v2 and v1)', async () => {
    const w = await sleeper();
    writeFakeProc(procRoot, w.pid, { cgroup: dockerCgroup(CID) });
    expect(await attest(p.wa, w.pid)).toEqual(EXPECTED);
    writeFakeProc(procRoot, w.pid, { cgroup: dockerCgroupV1(CID) });
    expect(await attest(p.wa, w.pid)).toEqual(EXPECTED);
    await stop(w);
  });

  it('finds the container through mountinfo inside a cgroup namespace', async () => {
    const w = await sleeper();
    const mountinfo = `700 650 0:33 /../${CID} /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate\n701 650 0:80 / /tmp rw,relatime - tmpfs  rw\n`;
    writeFakeProc(procRoot, w.pid, { cgroup: '0::/\n', mountinfo });
    expect(await attest(p.wa, w.pid)).toEqual(EXPECTED);
    await stop(w);
  });

  it('answers no selectors (and asks no engine) for a process outside containers', async () => {
    const w = await sleeper();
    writeFakeProc(procRoot, w.pid, { cgroup: HOST_CGROUP });
    const before = engine.requests.length;
    expect(await attest(p.wa, w.pid)).toEqual([]);
    writeFakeProc(procRoot, w.pid, { cgroup: '0::/\n' });
    expect(await attest(p.wa, w.pid)).toEqual([]);
    expect(engine.requests.length).toBe(before);
    await stop(w);
  });

  it('fails for a process that does not exist', async () => {
    const err = await rejection(attest(p.wa, 2 ** 31 - 2));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toContain(`process ${2 ** 31 - 2} does not exist`);
    expect((await rejection(attest(p.wa, -1))).code).toBe(Status.INVALID_ARGUMENT);
  });

  it('fails precondition when the cgroups name two containers', async () => {
    const w = await sleeper();
    writeFakeProc(procRoot, w.pid, { cgroup: `2:memory:/docker/${CID}\n1:name=systemd:/docker/${CID2}\n` });
    const err = await rejection(attest(p.wa, w.pid));
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.details).toContain(`multiple container IDs found ("${CID}", "${CID2}")`);
    await stop(w);
  });

  it('reports a malformed cgroup file', async () => {
    const w = await sleeper();
    writeFakeProc(procRoot, w.pid, { cgroup: `0::/system.slice/docker-${CID}.scope\ngarbage\n` });
    const err = await rejection(attest(p.wa, w.pid));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toContain('invalid cgroup entry on line 2');
    await stop(w);
  });

  it('reports a container the engine does not know', async () => {
    const w = await sleeper();
    writeFakeProc(procRoot, w.pid, { cgroup: dockerCgroup(CID2) });
    const err = await rejection(attest(p.wa, w.pid));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toContain(`container "${CID2}" not found by the docker engine at unix://${socket}: No such container: ${CID2}`);
    await stop(w);
  });

  it('fails when the process exits during attestation', async () => {
    const w = await sleeper();
    writeFakeProc(procRoot, w.pid, { cgroup: dockerCgroup(CID) });
    engine.onInspect(() => stop(w));
    const err = await rejection(attest(p.wa, w.pid));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toContain(`process ${w.pid} exited during attestation`);
  });

  it('bounds a slow engine by engine_timeout', async () => {
    const w = await sleeper();
    writeFakeProc(procRoot, w.pid, { cgroup: dockerCgroup(CID) });
    engine.setDelayMs(5000);
    const t0 = Date.now();
    const err = await rejection(attest(p.wa, w.pid));
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(err.code).toBe(Status.UNAVAILABLE);
    expect(err.details).toContain('did not answer');
    expect(err.details).toContain('engine_timeout is 1.5s');
    await stop(w);
  });

  it('refuses a huge inspect answer', async () => {
    const w = await sleeper();
    writeFakeProc(procRoot, w.pid, { cgroup: dockerCgroup(CID) });
    engine.setHugeResponseBytes(16 * 1024 * 1024);
    const err = await rejection(attest(p.wa, w.pid));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toMatch(/over the 4194304-byte limit/);
    await stop(w);
  });

  it('AttestReference is unimplemented, as in SPIRE', async () => {
    const err = await rejection(unary(p.wa, 'AttestReference', { reference: { type_url: 'type.googleapis.com/spiffe.broker.WorkloadPIDReference', value: Buffer.from([8, 1]) } }, { deadlineMs: 5000 }));
    expect(err.code).toBe(Status.UNIMPLEMENTED);
  });
});

describe('docker WorkloadAttestor engine handling', () => {
  it('retries an unreachable engine, then fails UNAVAILABLE naming the socket', async () => {
    const q = await inProcess(dockerWorkloadAttestorPlugin({ procRoot, initialBackoffMs: 10 }));
    try {
      const gone = join(dir, 'gone.sock');
      await q.configure(`docker_socket_path = "unix://${gone}"`);
      const w = await sleeper();
      writeFakeProc(procRoot, w.pid, { cgroup: dockerCgroup(CID) });
      const err = await rejection(attest(q.wa, w.pid));
      expect(err.code).toBe(Status.UNAVAILABLE);
      expect(err.details).toContain(`docker engine at unix://${gone} is unreachable`);
      await stop(w);
    } finally {
      await q.close();
    }
  });

  it('recovers when the engine comes up between retries', async () => {
    const late = join(dir, 'late.sock');
    const q = await inProcess(dockerWorkloadAttestorPlugin({ procRoot, initialBackoffMs: 150 }));
    let other: FakeDockerEngine | undefined;
    try {
      await q.configure(`docker_socket_path = "unix://${late}"\ndocker_version = "1.43"`);
      const w = await sleeper();
      writeFakeProc(procRoot, w.pid, { cgroup: dockerCgroup(CID) });
      const pending = attest(q.wa, w.pid);
      await new Promise((r) => setTimeout(r, 60));
      other = await startFakeDockerEngine({ socketPath: late });
      other.addContainer({ id: CID, image: 'busybox' });
      const got = await pending;
      expect(got).toContain('image_id:busybox');
      expect(got.find((v) => v.startsWith('image_config_digest:sha256:'))).toBeDefined();
      expect(other.requests[0]).toEqual({ method: 'GET', path: `/v1.43/containers/${CID}/json` });
      await stop(w);
    } finally {
      await q.close();
      await other?.close();
    }
  });

  it('pins docker_version, or negotiates through /_ping', async () => {
    const w = await sleeper();
    writeFakeProc(procRoot, w.pid, { cgroup: dockerCgroup(CID) });
    for (const [extra, want] of [
      ['docker_version = "1.41"', ['/v1.41/containers/']],
      ['', ['/_ping', '/v1.46/containers/']],
    ] as const) {
      const q = await inProcess(dockerWorkloadAttestorPlugin({ procRoot }));
      try {
        await q.configure(cfg(extra));
        const before = engine.requests.length;
        expect(await attest(q.wa, w.pid)).toEqual(EXPECTED);
        const paths = engine.requests.slice(before).map((r) => r.path);
        expect(paths.slice(0, want.length).map((x, i) => x.startsWith(want[i]!))).toEqual(want.map(() => true));
      } finally {
        await q.close();
      }
    }
    const q = await inProcess(dockerWorkloadAttestorPlugin({ procRoot }));
    try {
      await q.configure(cfg('docker_version = "1.50"'));
      const err = await rejection(attest(q.wa, w.pid));
      expect(err.code).toBe(Status.INTERNAL);
      expect(err.details).toContain('client version 1.50 is too new. Maximum supported API version is 1.46');
    } finally {
      await q.close();
    }
    await stop(w);
  });

  it('talks to the rootless podman socket of the container owner', async () => {
    const podSock = join(dir, 'podman-1000.sock');
    const podman = await startFakeDockerEngine({ socketPath: podSock, apiVersion: '1.41' });
    podman.addContainer({ id: CID2, image: 'quay.io/podman/hello', labels: { 'io.podman': 'yes' }, env: [] });
    const q = await inProcess(dockerWorkloadAttestorPlugin({ procRoot }));
    try {
      await q.configure(cfg(`podman_socket_path_template = "unix://${dir}/podman-%d.sock"`));
      const w = await sleeper();
      writeFakeProc(procRoot, w.pid, { cgroup: `0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${CID2}.scope/container\n` });
      const got = await attest(q.wa, w.pid);
      expect(got.slice(0, 2)).toEqual(['label:io.podman:yes', 'image_id:quay.io/podman/hello']);
      expect(podman.requests.map((r) => r.path)).toContain(`/v1.41/containers/${CID2}/json`);
      await stop(w);
    } finally {
      await q.close();
      await podman.close();
    }
  });

  it('uses the legacy cgroup matchers when asked', async () => {
    const q = await inProcess(dockerWorkloadAttestorPlugin({ procRoot }));
    try {
      await q.configure(cfg('use_new_container_locator = false\ncontainer_id_cgroup_matchers = ["/custom/*/<id>"]'));
      const w = await sleeper();
      writeFakeProc(procRoot, w.pid, { cgroup: `0::/custom/box/${CID}\n` });
      expect(await attest(q.wa, w.pid)).toEqual(EXPECTED);
      writeFakeProc(procRoot, w.pid, { cgroup: `0::/system.slice/docker-${CID}.scope\n` });
      expect(await attest(q.wa, w.pid)).toEqual([]);
      await stop(w);
    } finally {
      await q.close();
    }
  });

  it('refuses bad configuration with INVALID_ARGUMENT', async () => {
    const q = await inProcess(dockerWorkloadAttestorPlugin({ procRoot }));
    try {
      const cases: Array<[string, RegExp]> = [
        ['container_id_cgroup_matchers = ["/docker/<id>"]', /cannot both be used/],
        ['use_new_container_locator = false\ncontainer_id_cgroup_matchers = ["/a/b/<id>", "/*/b/<id>"]', /must not be ambiguous/],
        ['docker_socket_path = "/var/run/docker.sock"', /unsupported scheme/],
        ['docker_version = "latest"', /docker_version: "latest" is not an API version/],
        ['podman_socket_path_template = "unix:///run/podman.sock"', /exactly one %d/],
        ['sigstore {\n allowed_identities = {}\n}', /sigstore: image signature verification is not supported/],
        ['engine_timeout = "soon"', /engine_timeout/],
        ['bogus_key = 1', /bogus_key/],
      ];
      for (const [hcl, want] of cases) {
        const err = await rejection(q.configure(hcl));
        expect(err.code, hcl).toBe(Status.INVALID_ARGUMENT);
        expect(err.details, hcl).toMatch(want);
      }
      const w = await sleeper();
      writeFakeProc(procRoot, w.pid, { cgroup: HOST_CGROUP });
      expect((await rejection(attest(q.wa, w.pid))).code).toBe(Status.FAILED_PRECONDITION);
      await stop(w);
    } finally {
      await q.close();
    }
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));
