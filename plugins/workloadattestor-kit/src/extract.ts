import { join } from 'node:path';
import { stat as statPath } from 'node:fs/promises';
import type { Logger } from '@spire-ts/plugin-sdk';
import { parseCgroupFile } from './cgroups.js';
import { CgroupParseError, ContainerInfoConflictError, ProcessGoneError } from './errors.js';
import { parseMountInfo } from './mountinfo.js';
import { readBounded } from './read.js';

/** What a cgroup path or mount root says about the container of a process. */
export interface ContainerInfo {
  /** Kubernetes pod UID, with dashes (the systemd driver's `_` turned back into `-`). */
  podUid?: string;
  /** 64 hex digits, as every runtime names containers. */
  containerId?: string;
}

// A container ID is 64 hex digits standing alone as a word: the cgroupfs
// driver writes it as a whole segment, the systemd driver wraps it in
// `<runtime>-<id>.scope`, and some runtimes join it to the pod with a colon.
const CONTAINER_ID = /\b([0-9a-fA-F]{64})\b/;

// A pod UID is `pod<uuid>`; under the systemd cgroup driver the kubelet writes
// the UUID's dashes as underscores (`kubepods-burstable-pod1234_5678_....slice`).
const POD_UID = /\bpod([0-9a-fA-F]{8}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{12})\b/;

/** Splits off the last `/` segment: `[rest, segment]`. */
function popSegment(p: string): [string, string] {
  const i = p.lastIndexOf('/');
  if (i < 0) return ['', p];
  return [p.slice(0, i), p.slice(i + 1)];
}

/**
 * Pod UID and container ID from one cgroup path or cgroup mount root.
 *
 * Walks the segments from the last one backwards to the first one that
 * holds a container ID (a runtime may nest further segments below the
 * container's). With `wantPodUid`, goes on walking backwards from what
 * precedes the ID in that segment for the `pod<uid>` segment. No container
 * ID means no pod UID either: a pod-level cgroup does not name a workload.
 */
export function extractFromPath(path: string, opts: { wantPodUid: boolean }): ContainerInfo {
  let [rest, segment] = popSegment(path);
  let containerId: string | undefined;
  for (;;) {
    const m = CONTAINER_ID.exec(segment);
    if (m) {
      containerId = m[1]!;
      segment = segment.slice(0, m.index);
      break;
    }
    if (rest === '') return {};
    [rest, segment] = popSegment(rest);
  }
  if (!opts.wantPodUid) return { containerId };

  if (segment === '') {
    if (rest === '') return { containerId };
    [rest, segment] = popSegment(rest);
  }
  for (;;) {
    const m = POD_UID.exec(segment);
    if (m) return { podUid: m[1]!.replaceAll('_', '-'), containerId };
    if (rest === '') return { containerId };
    [rest, segment] = popSegment(rest);
  }
}

/**
 * Folds the answers of several cgroup paths (or mount roots) into one,
 * refusing contradictions. An answer with a pod UID beats those without:
 * kind on a Docker host shows the kind node's own container in a
 * `0::/docker/<id>/system.slice/...` line next to the pod's lines.
 */
class Accumulator {
  podUid: string | undefined;
  containerId: string | undefined;

  constructor(
    private readonly wantPodUid: boolean,
    private readonly log: Logger | undefined,
  ) {}

  add(path: string, source: string): void {
    const got = extractFromPath(path, { wantPodUid: this.wantPodUid });
    // A path naming no container (`2:rdma:/`, a hybrid host's `0::/...`
    // line) says nothing about the workload: it neither counts nor conflicts.
    if (got.containerId === undefined) return;
    if (this.podUid !== undefined && got.podUid === undefined) return;
    if (this.podUid === undefined && got.podUid !== undefined) {
      this.podUid = got.podUid;
      this.containerId = got.containerId;
    }
    if (got.podUid !== undefined && this.podUid !== undefined && got.podUid !== this.podUid) {
      this.log?.debug('Workload pod UID conflict', { previous: this.podUid, current: got.podUid, [source]: path });
      throw new ContainerInfoConflictError(`multiple pod UIDs found (${JSON.stringify(this.podUid)}, ${JSON.stringify(got.podUid)})`);
    }
    if (this.containerId !== undefined && got.containerId !== this.containerId) {
      this.log?.debug('Workload container ID conflict', { previous: this.containerId, current: got.containerId, [source]: path });
      throw new ContainerInfoConflictError(
        `multiple container IDs found (${JSON.stringify(this.containerId)}, ${JSON.stringify(got.containerId)})`,
      );
    }
    this.containerId = got.containerId;
    this.podUid = got.podUid;
  }

  result(): ContainerInfo {
    const out: ContainerInfo = {};
    if (this.podUid !== undefined) out.podUid = this.podUid;
    if (this.containerId !== undefined) out.containerId = this.containerId;
    return out;
  }
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Locates the container (and pod) of a process from `<procRoot>/<pid>/cgroup`
 * and, when that names no container, `<procRoot>/<pid>/mountinfo`.
 *
 * The cgroup file comes first because the kernel writes it and a workload
 * cannot change it; mountinfo belongs to the workload's mount namespace,
 * where a bind mount of another container's cgroup directory could forge
 * another identity. mountinfo is only the fallback for when the cgroup
 * paths carry no identifiers (cgroup namespaces show `0::/`).
 */
export class ContainerInfoExtractor {
  private readonly procRoot: string;
  private readonly log: Logger | undefined;
  private readonly verbose: boolean;

  constructor(opts: { procRoot: string; log?: Logger; verbose?: boolean }) {
    this.procRoot = opts.procRoot;
    this.log = opts.log;
    this.verbose = opts.verbose ?? false;
  }

  /** Container ID of `pid`; undefined when the process is not in a container. */
  async containerId(pid: number): Promise<string | undefined> {
    return (await this.extract(pid, false)).containerId;
  }

  /** Pod UID and container ID of `pid` (each absent when not found). */
  async podUidAndContainerId(pid: number): Promise<ContainerInfo> {
    return this.extract(pid, true);
  }

  private async extract(pid: number, wantPodUid: boolean): Promise<ContainerInfo> {
    if (!Number.isSafeInteger(pid) || pid <= 0) throw new RangeError(`pid must be a positive integer, got ${pid}`);
    const fromCgroups = await this.fromCgroups(pid, wantPodUid);
    if (fromCgroups.containerId !== undefined) return fromCgroups;
    return this.fromMountInfo(pid, wantPodUid);
  }

  /** Reads `<procRoot>/<pid>/<name>`; undefined when only the file is missing, ProcessGoneError when the process is. */
  private async read(pid: number, name: string): Promise<string | undefined> {
    const file = join(this.procRoot, String(pid), name);
    try {
      return await readBounded(file);
    } catch (err) {
      const code = errno(err);
      if (code === 'ESRCH') throw new ProcessGoneError(pid, `process ${pid} does not exist`, { cause: err });
      if (code !== 'ENOENT') throw err;
      try {
        await statPath(join(this.procRoot, String(pid)));
      } catch {
        throw new ProcessGoneError(pid, `process ${pid} does not exist`, { cause: err });
      }
      return undefined;
    }
  }

  private async fromCgroups(pid: number, wantPodUid: boolean): Promise<ContainerInfo> {
    const text = await this.read(pid, 'cgroup');
    if (text === undefined) return {};
    let lines;
    try {
      lines = parseCgroupFile(text);
    } catch (err) {
      if (err instanceof CgroupParseError) throw new CgroupParseError(`unable to obtain cgroups of pid ${pid}: ${err.message}`, { cause: err });
      throw err;
    }
    const acc = new Accumulator(wantPodUid, this.log);
    lines.forEach((line, i) => {
      if (this.verbose) this.log?.debug('PID cgroup enumerated', { index: i + 1, total: lines.length, path: line.path });
      acc.add(line.path, 'cgroup_path');
    });
    return acc.result();
  }

  private async fromMountInfo(pid: number, wantPodUid: boolean): Promise<ContainerInfo> {
    const text = await this.read(pid, 'mountinfo');
    if (text === undefined) return {};
    let mounts;
    try {
      mounts = parseMountInfo(text);
    } catch (err) {
      if (err instanceof CgroupParseError) throw new CgroupParseError(`failed to parse mount info of pid ${pid}: ${err.message}`, { cause: err });
      throw err;
    }
    const acc = new Accumulator(wantPodUid, this.log);
    mounts.forEach((m, i) => {
      if (this.verbose) this.log?.debug('PID mount enumerated', { index: i + 1, total: mounts.length, type: m.fsType, root: m.root });
      // A container may mount the whole cgroup tree (root "/"): it names nothing.
      if ((m.fsType === 'cgroup' || m.fsType === 'cgroup2') && m.root !== '/') acc.add(m.root, 'mount_info_root');
    });
    return acc.result();
  }
}
