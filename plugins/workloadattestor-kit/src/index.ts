/**
 * @spire-ts/workloadattestor-kit: what the container workload attestors
 * (docker, k8s) share: /proc/<pid>/cgroup and mountinfo parsers, the
 * container ID / pod UID locator and the process start-time check.
 */
export { CgroupParseError, ProcessGoneError, ContainerInfoConflictError } from './errors.js';
export { parseCgroupFile } from './cgroups.js';
export type { CgroupLine } from './cgroups.js';
export { parseMountInfo } from './mountinfo.js';
export type { MountInfoLine } from './mountinfo.js';
export { extractFromPath, ContainerInfoExtractor } from './extract.js';
export type { ContainerInfo } from './extract.js';
export { processStartTime, defaultProcRoot } from './proc.js';
export { readBounded, MAX_PROC_FILE_BYTES } from './read.js';
