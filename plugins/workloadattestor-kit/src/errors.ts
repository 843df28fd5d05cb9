/** A `/proc/<pid>/cgroup` or `/proc/<pid>/mountinfo` that is not in the kernel's format (or is too large). */
export class CgroupParseError extends Error {
  override readonly name = 'CgroupParseError';
}

/** The process (`/proc/<pid>`) vanished: it exited, perhaps mid-attestation. */
export class ProcessGoneError extends Error {
  override readonly name = 'ProcessGoneError';
  readonly pid: number;
  constructor(pid: number, message = `process ${pid} does not exist`, options?: ErrorOptions) {
    super(message, options);
    this.pid = pid;
  }
}

/** Two different container IDs (or pod UIDs) were found for one process: the safe answer is none. */
export class ContainerInfoConflictError extends Error {
  override readonly name = 'ContainerInfoConflictError';
}
