import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CgroupParseError,
  ContainerInfoConflictError,
  ContainerInfoExtractor,
  ProcessGoneError,
  defaultProcRoot,
  extractFromPath,
  parseCgroupFile,
  parseMountInfo,
  processStartTime,
} from '../src/index.js';
import * as F from './fixtures.js';

const { CID, CID2, POD } = F;

describe('parseCgroupFile', () => {
  it('parses v1 hierarchies, named hierarchies and the v2 line', () => {
    const lines = parseCgroupFile(F.DOCKER_V1_CGROUP);
    expect(lines).toHaveLength(13);
    expect(lines[2]).toEqual({ hierarchyId: '10', controllers: ['net_cls', 'net_prio'], path: `/docker/${CID}` });
    expect(lines[11]).toEqual({ hierarchyId: '1', controllers: ['name=systemd'], path: `/docker/${CID}` });
    expect(lines[12]).toEqual({ hierarchyId: '0', controllers: [], path: '/system.slice/containerd.service' });
  });
  it('keeps colons inside the path', () => {
    expect(parseCgroupFile(F.COLON_CGROUP)[0]!.path).toBe(`/kubepods/besteffort/pod${POD}:cri-containerd:${CID}`);
  });
  it('names the malformed line', () => {
    expect(() => parseCgroupFile('0::/\nbogus-line\n')).toThrow(CgroupParseError);
    expect(() => parseCgroupFile('0::/\nbogus-line\n')).toThrow(/line 2: contains 1 colon separated field but expected at least 3: "bogus-line"/);
    expect(() => parseCgroupFile('3:memory\n')).toThrow(/line 1: contains 2 colon separated fields/);
  });
  it('accepts an empty file', () => {
    expect(parseCgroupFile('')).toEqual([]);
  });
});

describe('parseMountInfo', () => {
  it('parses fields, optional tags, escapes and an empty tmpfs source', () => {
    const m = parseMountInfo(F.DOCKER_V2_MOUNTINFO);
    expect(m).toHaveLength(9);
    expect(m[0]).toMatchObject({ mountId: 1843, parentId: 1712, root: '/', mountPoint: '/', optionalFields: ['master:580'], fsType: 'overlay', source: 'overlay' });
    expect(m[5]).toMatchObject({ root: `/../${CID}`, mountPoint: '/sys/fs/cgroup', fsType: 'cgroup2', source: 'cgroup', superOptions: 'rw,nsdelegate,memory_recursiveprot', majorMinor: '0:30' });
    expect(m[8]).toMatchObject({ mountPoint: '/run/my dir', fsType: 'tmpfs', source: '', superOptions: 'rw,size=8192k,inode64' });
  });
  it('rejects malformed lines, naming them', () => {
    expect(() => parseMountInfo('1 2 0:3 / / rw shared:1 tmpfs tmpfs rw\n')).toThrow(/missing separator in mountinfo line 1/);
    expect(() => parseMountInfo('1 2 0:3 / - tmpfs tmpfs rw\n')).toThrow(/at least 6 fields before separator in mountinfo line 1/);
    expect(() => parseMountInfo('1 2 0:3 / / rw -\n')).toThrow(/missing filesystem type/);
    expect(() => parseMountInfo('x 2 0:3 / / rw - tmpfs tmpfs rw\n')).toThrow(/invalid mount ID "x"/);
    expect(() => parseMountInfo('x')).toThrow(CgroupParseError);
  });
});

describe('extractFromPath', () => {
  const both = { wantPodUid: true };
  it.each([
    ['docker cgroupfs', `/docker/${CID}`, { containerId: CID }],
    ['docker systemd scope', `/system.slice/docker-${CID}.scope`, { containerId: CID }],
    ['cgroupns-relative mount root', `/../${CID}`, { containerId: CID }],
    ['containerd systemd (pod _ shape)', `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${F.POD_}.slice/cri-containerd-${CID}.scope`, { podUid: POD, containerId: CID }],
    ['cri-o systemd', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${F.POD_}.slice/crio-${CID}.scope`, { podUid: POD, containerId: CID }],
    ['cgroupfs v1', `/kubepods/burstable/pod${POD}/${CID}`, { podUid: POD, containerId: CID }],
    ['colon-joined', `/kubepods/besteffort/pod${POD}:cri-containerd:${CID}`, { podUid: POD, containerId: CID }],
    ['podman with a segment below the container', `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${CID}.scope/container`, { containerId: CID }],
    ['kind', `/docker/${F.KIND_NODE}/kubepods/besteffort/pod${POD}/${CID}`, { podUid: POD, containerId: CID }],
    ['host process', '/user.slice/user-1000.slice/session-3.scope', {}],
    ['root', '/', {}],
    ['pod cgroup without container', `/kubepods/burstable/pod${POD}`, {}],
    ['65 hex digits is no ID', `/docker/${CID}a`, {}],
    ['63 hex digits is no ID', `/docker/${CID.slice(1)}`, {}],
  ])('%s', (_name, path, want) => {
    expect(extractFromPath(path, both)).toEqual(want);
  });
  it('leaves out the pod UID unless asked', () => {
    expect(extractFromPath(`/kubepods/burstable/pod${POD}/${CID}`, { wantPodUid: false })).toEqual({ containerId: CID });
  });
});

describe('ContainerInfoExtractor', () => {
  const ex = (files: Parameters<typeof F.procRoot>[0]) => new ContainerInfoExtractor({ procRoot: F.procRoot(files) });

  it('reads the container ID from cgroup v1 and v2 files', async () => {
    expect(await ex({ cgroup: F.DOCKER_V1_CGROUP }).containerId(123)).toBe(CID);
    expect(await ex({ cgroup: F.DOCKER_V2_SYSTEMD_CGROUP }).containerId(123)).toBe(CID);
    expect(await ex({ cgroup: F.CRIO_CGROUP }).podUidAndContainerId(123)).toEqual({ podUid: POD, containerId: CID });
    expect(await ex({ cgroup: F.K8S_CGROUPFS_V1_CGROUP }).podUidAndContainerId(123)).toEqual({ podUid: POD, containerId: CID });
    expect(await ex({ cgroup: F.K8S_SYSTEMD_V2_CGROUP }).podUidAndContainerId(123)).toEqual({ podUid: POD, containerId: CID });
  });
  it('prefers the kind pod line over the node container line', async () => {
    expect(await ex({ cgroup: F.KIND_CGROUP }).podUidAndContainerId(123)).toEqual({ podUid: POD, containerId: CID });
  });
  it('falls back to mountinfo when the cgroup path names nothing (cgroup namespace)', async () => {
    expect(await ex({ cgroup: F.CGROUPNS_ROOT_CGROUP, mountinfo: F.DOCKER_V2_MOUNTINFO }).containerId(123)).toBe(CID);
  });
  it('trusts the cgroup file over a forged mountinfo', async () => {
    const forged = F.DOCKER_V2_MOUNTINFO.replace(`/../${CID}`, `/../${CID2}`);
    expect(await ex({ cgroup: F.DOCKER_V2_SYSTEMD_CGROUP, mountinfo: forged }).containerId(123)).toBe(CID);
  });
  it('skips cgroup mounts at / and non-cgroup mounts', async () => {
    const mi = `30 25 0:26 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n31 25 0:27 /docker/${CID2} /mnt rw - ext4 /dev/sda1 rw\n`;
    expect(await ex({ cgroup: F.CGROUPNS_ROOT_CGROUP, mountinfo: mi }).containerId(123)).toBeUndefined();
  });
  it('answers undefined for a host process, or when the files are missing', async () => {
    expect(await ex({ cgroup: F.HOST_CGROUP }).containerId(123)).toBeUndefined();
    expect(await ex({ cgroup: F.CGROUPNS_ROOT_CGROUP }).containerId(123)).toBeUndefined();
    expect(await ex({}).podUidAndContainerId(123)).toEqual({});
  });
  it('refuses two container IDs or two pod UIDs', async () => {
    await expect(ex({ cgroup: F.CONFLICT_CGROUP }).containerId(123)).rejects.toThrow(ContainerInfoConflictError);
    await expect(ex({ cgroup: F.CONFLICT_CGROUP }).containerId(123)).rejects.toThrow(`multiple container IDs found ("${CID}", "${CID2}")`);
    const other = '0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e';
    const pods = `2:memory:/kubepods/pod${POD}/${CID}\n1:cpu:/kubepods/pod${other}/${CID}\n`;
    await expect(ex({ cgroup: pods }).podUidAndContainerId(123)).rejects.toThrow(`multiple pod UIDs found ("${POD}", "${other}")`);
    const mi = `1 0 0:1 /docker/${CID} /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n2 0 0:2 /docker/${CID2} /sys/fs/cgroup/cpu ro - cgroup cgroup rw,cpu\n`;
    await expect(ex({ cgroup: F.CGROUPNS_ROOT_CGROUP, mountinfo: mi }).containerId(123)).rejects.toThrow(ContainerInfoConflictError);
  });
  it('reports a malformed cgroup or mountinfo file', async () => {
    await expect(ex({ cgroup: '0::/\nnonsense\n' }).containerId(123)).rejects.toThrow(/unable to obtain cgroups of pid 123: invalid cgroup entry on line 2/);
    await expect(ex({ cgroup: '0::/\n', mountinfo: 'garbage\n' }).containerId(123)).rejects.toThrow(/failed to parse mount info of pid 123: missing separator/);
  });
  it('refuses a huge cgroup file instead of reading it all', async () => {
    const root = F.procRoot({});
    writeFileSync(join(root, '123', 'cgroup'), `0::/${'a'.repeat(2 * 1024 * 1024)}\n`);
    await expect(new ContainerInfoExtractor({ procRoot: root }).containerId(123)).rejects.toThrow(/larger than 1048576 bytes/);
  });
  it('throws ProcessGoneError when the process directory is gone', async () => {
    const root = F.procRoot({});
    rmSync(join(root, '123'), { recursive: true });
    const err = await new ContainerInfoExtractor({ procRoot: root }).containerId(123).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProcessGoneError);
    expect((err as ProcessGoneError).pid).toBe(123);
  });
  it('logs what it enumerates when verbose', async () => {
    const lines: Array<[string, Record<string, unknown> | undefined]> = [];
    const log = {
      trace() {},
      debug(msg: string, f?: Record<string, unknown>) {
        lines.push([msg, f]);
      },
      info() {},
      warn() {},
      error() {},
      with() {
        return log;
      },
    };
    const x = new ContainerInfoExtractor({ procRoot: F.procRoot({ cgroup: F.CGROUPNS_ROOT_CGROUP, mountinfo: F.DOCKER_V2_MOUNTINFO }), log, verbose: true });
    expect(await x.containerId(123)).toBe(CID);
    expect(lines[0]).toEqual(['PID cgroup enumerated', { index: 1, total: 1, path: '/' }]);
    expect(lines.filter(([m]) => m === 'PID mount enumerated')).toHaveLength(9);
  });
});

describe('processStartTime', () => {
  it('reads field 22 of the real stat file of this process', async () => {
    const a = await processStartTime('/proc', process.pid);
    expect(a).toMatch(/^\d+$/);
    expect(await processStartTime('/proc', process.pid)).toBe(a);
  });
  it('copes with spaces and parentheses in comm', async () => {
    const stat = '123 (a) b (c)) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200 18446744073709551615\n';
    expect(await processStartTime(F.procRoot({ stat }), 123)).toBe('987654');
  });
  it('reports a vanished process and a malformed stat', async () => {
    await expect(processStartTime(F.procRoot({}), 123)).rejects.toThrow(ProcessGoneError);
    await expect(processStartTime(F.procRoot({ stat: '123 (x) S 1 2\n' }), 123)).rejects.toThrow(/field 22/);
  });
  it('defaults the proc root from HOST_PROC', () => {
    const saved = process.env.HOST_PROC;
    try {
      process.env.HOST_PROC = '/host/proc';
      expect(defaultProcRoot()).toBe('/host/proc');
      delete process.env.HOST_PROC;
      expect(defaultProcRoot()).toBe('/proc');
    } finally {
      if (saved === undefined) delete process.env.HOST_PROC;
      else process.env.HOST_PROC = saved;
    }
  });
});
