// Test helpers: the plugin in-process over its real gRPC socket, real
// workload processes, and a fake procfs root that puts them in a pod.
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { unary } from '@spire-ts/common';
import { sleepers } from '../../../conformance/src/fixtures/wa-workloads.js';
import type { createClient } from '@spire-ts/proto';
import { PROTO_ROOT } from '@spire-ts/proto';
import { writeFakeProc } from '../../../conformance/src/fixtures/fake-proc.js';
import { makePod } from '../../../conformance/src/fixtures/kubelet.js';

export const WA = 'spire.plugin.agent.workloadattestor.v1.WorkloadAttestor';
export type WAClient = ReturnType<typeof createClient<typeof WA>>;

/** The plugin in-process over its real gRPC socket (the conformance kit's server), its WorkloadAttestor client as `wa`. */
export { serveWorkloadAttestorInProcess as inProcess, type InProcessWorkloadAttestor as InProcess } from '@spire-ts/conformance';

export { rejection } from '@spire-ts/conformance';

export const attest = (wa: WAClient, pid: number, deadlineMs = 15_000) =>
  unary(wa, 'Attest', { pid }, { deadlineMs }).then((r) => r.selector_values);

export function anyOf(typeName: string, file: string, value: Record<string, unknown>): { type_url: string; value: Buffer } {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : join(PROTO_ROOT, target));
  root.loadSync(file, { keepCase: true });
  const type = root.lookupType(typeName);
  return { type_url: `type.googleapis.com/${typeName}`, value: Buffer.from(type.encode(type.create(value)).finish()) };
}

export const pidReference = (pid: number) => anyOf('spiffe.broker.WorkloadPIDReference', 'spiffe/broker/api.proto', { pid });

/** Real `sleep` processes to attest (`killAll` ends what a failed test left). */
export const { sleeper, stop, killAll } = sleepers();

export const hex64 = () => randomBytes(32).toString('hex');

/** A cgroup v1 file of a containerd container in a burstable pod, systemd driver (captured from a kind node, ids replaced). */
export function kubepodsCgroupV1(podUid: string, containerId: string): string {
  const slice = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${podUid.replaceAll('-', '_')}.slice/cri-containerd-${containerId}.scope`;
  const ctl = ['hugetlb', 'devices', 'pids', 'perf_event', 'net_cls,net_prio', 'cpuset', 'memory', 'cpu,cpuacct', 'freezer', 'blkio'];
  return [...ctl.map((c, i) => `${11 - i}:${c}:${slice}`), `1:name=systemd:${slice}`, `0::${slice}`].join('\n') + '\n';
}

/** A cgroup v2 file of a cgroupfs-driver pod (no systemd): `0::/kubepods/besteffort/pod<uid>/<id>`. */
export function kubepodsCgroupV2(podUid: string, containerId: string): string {
  return `0::/kubepods/besteffort/pod${podUid}/${containerId}\n`;
}

/** CRI-O without a pod UID in the path (kubeedge): pods are searched by container ID only. */
export function crioCgroupNoPod(containerId: string): string {
  return `0::/../crio-${containerId}.scope\n`;
}

export const notInPodCgroup = '0::/user.slice/user-0.slice/session-3.scope\n';

export interface Workload {
  pid: number;
  podUid: string;
  containerId: string;
  pod: unknown;
  child: ChildProcess;
}

/** A real sleep process placed (in the fake procfs) in a pod `web-…` of namespace `prod`. */
export async function podWorkload(procRoot: string, nodeName: string, o: { cgroup?: (uid: string, id: string) => string; init?: boolean } = {}): Promise<Workload> {
  const child = await sleeper();
  const podUid = randomUUID();
  const containerId = hex64();
  const sidecarId = hex64();
  writeFakeProc(procRoot, child.pid, { cgroup: (o.cgroup ?? kubepodsCgroupV1)(podUid, containerId) });
  const mine = { name: 'app', image: 'ghcr.io/example/app:v1.2.3', imageId: 'ghcr.io/example/app@sha256:' + 'a'.repeat(64), containerId };
  const sidecar = { name: 'envoy', image: 'docker.io/envoyproxy/envoy:v1.30.1', imageId: 'docker.io/envoyproxy/envoy@sha256:' + 'b'.repeat(64), containerId: sidecarId };
  const initC = { name: 'init-db', image: 'docker.io/library/busybox:1.36', imageId: 'docker.io/library/busybox@sha256:' + 'c'.repeat(64), containerId: hex64() };
  const pod = makePod({
    uid: podUid,
    name: 'web-7d4b9c8f6d-x2x9q',
    namespace: 'prod',
    serviceAccount: 'web',
    nodeName,
    containers: o.init ? [sidecar] : [mine, sidecar],
    initContainers: o.init ? [{ ...mine, name: 'init-app' }] : [initC],
    labels: { app: 'web', 'pod-template-hash': '7d4b9c8f6d' },
    owner: { kind: 'ReplicaSet', name: 'web-7d4b9c8f6d', uid: '5a1f6a9e-2f57-4c8e-9d55-0c0b8e8f1a11' },
  });
  return { pid: child.pid, podUid, containerId, pod, child };
}

/** The selectors SPIRE gives the `app` container of {@link podWorkload}. */
export function expectedSelectors(w: Workload, nodeName: string): string[] {
  return [
    'sa:web',
    'ns:prod',
    `node-name:${nodeName}`,
    `pod-uid:${w.podUid}`,
    'pod-name:web-7d4b9c8f6d-x2x9q',
    'pod-image-count:2',
    'pod-init-image-count:1',
    `pod-image:ghcr.io/example/app@sha256:${'a'.repeat(64)}`,
    'pod-image:ghcr.io/example/app:v1.2.3',
    `pod-image:docker.io/envoyproxy/envoy@sha256:${'b'.repeat(64)}`,
    'pod-image:docker.io/envoyproxy/envoy:v1.30.1',
    `pod-init-image:docker.io/library/busybox@sha256:${'c'.repeat(64)}`,
    'pod-init-image:docker.io/library/busybox:1.36',
    'pod-label:app:web',
    'pod-label:pod-template-hash:7d4b9c8f6d',
    'pod-owner:ReplicaSet:web-7d4b9c8f6d',
    'pod-owner-uid:ReplicaSet:5a1f6a9e-2f57-4c8e-9d55-0c0b8e8f1a11',
    'container-name:app',
    `container-image:ghcr.io/example/app@sha256:${'a'.repeat(64)}`,
    'container-image:ghcr.io/example/app:v1.2.3',
  ];
}
