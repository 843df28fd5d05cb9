// Sample /proc/<pid>/{cgroup,mountinfo} contents in the shapes real hosts
// show (written for these tests; IDs are made up but well-formed).
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CID = '9d5b1f0c3e7a4b2d8f6e0a1c3b5d7f9e1a2b3c4d5e6f708192a3b4c5d6e7f809';
export const CID2 = 'f00dfacef00dfacef00dfacef00dfacef00dfacef00dfacef00dfacef00dface';
export const KIND_NODE = '4be1a0f7c2d9e8b3a6f5c4d3e2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3';
export const POD = '3f7c2a9e-1b4d-4e8f-a6c5-0d2e9b8a7f61';
export const POD_ = POD.replaceAll('-', '_');

/** Docker on a cgroup v1 host (cgroupfs driver). */
export const DOCKER_V1_CGROUP = `12:pids:/docker/${CID}
11:hugetlb:/docker/${CID}
10:net_cls,net_prio:/docker/${CID}
9:cpuset:/docker/${CID}
8:memory:/docker/${CID}
7:blkio:/docker/${CID}
6:devices:/docker/${CID}
5:freezer:/docker/${CID}
4:cpu,cpuacct:/docker/${CID}
3:perf_event:/docker/${CID}
2:rdma:/
1:name=systemd:/docker/${CID}
0::/system.slice/containerd.service
`;

/** Docker with the systemd cgroup driver on a cgroup v2 host, seen from the host pid namespace. */
export const DOCKER_V2_SYSTEMD_CGROUP = `0::/system.slice/docker-${CID}.scope\n`;

/** Inside a cgroup namespace (Docker's default on v2): the path is just `/`. */
export const CGROUPNS_ROOT_CGROUP = '0::/\n';

/** mountinfo of a process in a Docker container on cgroup v2 with a private cgroup namespace. */
export const DOCKER_V2_MOUNTINFO = `1843 1712 0:172 / / rw,relatime master:580 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/ABC:/var/lib/docker/overlay2/l/DEF,upperdir=/var/lib/docker/overlay2/0a1b/diff,workdir=/var/lib/docker/overlay2/0a1b/work
1844 1843 0:175 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
1845 1843 0:176 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755,inode64
1846 1845 0:177 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666
1847 1843 0:178 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
1848 1847 0:30 /../${CID} /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate,memory_recursiveprot
1849 1845 0:174 / /dev/mqueue rw,nosuid,nodev,noexec,relatime - mqueue mqueue rw
1850 1843 259:2 /var/lib/docker/containers/${CID}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
1851 1843 0:179 / /run/my\\040dir rw,nosuid,nodev - tmpfs  rw,size=8192k,inode64
`;

/** Kubernetes (containerd, systemd driver, cgroup v2), from the host's view. */
export const K8S_SYSTEMD_V2_CGROUP = `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_}.slice/cri-containerd-${CID}.scope\n`;

/** Kubernetes with the cgroupfs driver on cgroup v1. */
export const K8S_CGROUPFS_V1_CGROUP = `11:memory:/kubepods/burstable/pod${POD}/${CID}
10:cpu,cpuacct:/kubepods/burstable/pod${POD}/${CID}
1:name=systemd:/kubepods/burstable/pod${POD}/${CID}
0::/
`;

/** Kubernetes in kind on a Docker host (cgroup v1): the kind node's own container shows in the unified line. */
export const KIND_CGROUP = `4:cpuset:/docker/${KIND_NODE}/kubepods/besteffort/pod${POD}/${CID}
3:memory:/docker/${KIND_NODE}/kubepods/besteffort/pod${POD}/${CID}
0::/docker/${KIND_NODE}/system.slice/containerd.service
`;

/** CRI-O with the systemd driver. */
export const CRIO_CGROUP = `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/crio-${CID}.scope\n`;

/** Rootless podman under a user slice. */
export const PODMAN_CGROUP = `0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${CID}.scope/container\n`;

/** Kubernetes where the pod and container are joined with a colon (containerd cgroupfs naming). */
export const COLON_CGROUP = `0::/kubepods/besteffort/pod${POD}:cri-containerd:${CID}\n`;

/** A plain host process (systemd service / user session). */
export const HOST_CGROUP = `0::/user.slice/user-1000.slice/session-3.scope\n`;

/** Two containers in one cgroup file: refuse. */
export const CONFLICT_CGROUP = `2:memory:/docker/${CID}\n1:name=systemd:/docker/${CID2}\n`;

/** A proc root with pid 123 holding the given files. */
export function procRoot(files: { cgroup?: string; mountinfo?: string; stat?: string }): string {
  const root = mkdtempSync(join(tmpdir(), 'wa-kit-'));
  const dir = join(root, '123');
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) if (text !== undefined) writeFileSync(join(dir, name), text);
  return root;
}
