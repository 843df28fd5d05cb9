// Test helpers: the plugin in-process over its real gRPC socket, real
// workload processes, and a fake proc root + fake Docker engine for them.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unary } from '@spire-ts/common';
import { sleepers } from '../../../conformance/src/fixtures/wa-workloads.js';
import type { createClient } from '@spire-ts/proto';

export { writeFakeProc } from '../../../conformance/src/fixtures/fake-proc.js';
export { startFakeDockerEngine, type FakeDockerEngine, type FakeContainer } from '../../../conformance/src/fixtures/docker-engine.js';

export const WA = 'spire.plugin.agent.workloadattestor.v1.WorkloadAttestor';
export type WAClient = ReturnType<typeof createClient<typeof WA>>;

export const CID = 'b6f1e2d3c4a5968778695a4b3c2d1e0f9e8d7c6b5a49382716054f3e2d1c0b9a';
export const CID2 = 'a1a2a3a4a5a6a7a8a9a0b1b2b3b4b5b6b7b8b9b0c1c2c3c4c5c6c7c8c9c0d1d2';

/** cgroup v2, systemd driver, as the host sees a Docker container's process. */
export const dockerCgroup = (id: string) => `0::/system.slice/docker-${id}.scope\n`;
/** cgroup v1 (cgroupfs driver). */
export const dockerCgroupV1 = (id: string) => `12:pids:/docker/${id}\n4:memory:/docker/${id}\n1:name=systemd:/docker/${id}\n0::/system.slice/containerd.service\n`;
export const HOST_CGROUP = '0::/user.slice/user-1000.slice/session-2.scope\n';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The plugin in-process over its real gRPC socket (the conformance kit's server), its WorkloadAttestor client as `wa`. */
export { serveWorkloadAttestorInProcess as inProcess, type InProcessWorkloadAttestor as InProcess } from '@spire-ts/conformance';

export { rejection } from '@spire-ts/conformance';

export const attest = (wa: WAClient, pid: number) => unary(wa, 'Attest', { pid }, { deadlineMs: 20_000 }).then((r) => r.selector_values);

/** Real `sleep` processes to attest (`killAll` ends what a failed test left). */
export const { sleeper, stop, killAll } = sleepers();
