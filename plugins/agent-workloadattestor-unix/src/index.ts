export { UnixWorkloadAttestor, WORKLOAD_ATTESTOR_SERVICE, unixWorkloadAttestorPlugin } from './plugin.js';
export type { UnixConfig, UnixWorkloadAttestorOptions } from './plugin.js';
export { parseStatus, parseStartTime, effective, ProcFormatError } from './proc.js';
export type { ProcStatus } from './proc.js';
export { parseIdNames, IdNameFile, RECHECK_MS } from './names.js';
export { sha256File, SizeLimitError } from './digest.js';
export { PID_REFERENCE_TYPE, PID_REFERENCE_TYPE_URL, decodePidReference, DecodeError } from './reference.js';
