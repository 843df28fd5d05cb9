import { closeSync, openSync, readFileSync, readSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** The identity lines of `/proc/<pid>/status` that the attestor uses. */
export interface ProcStatus {
  /** Real, effective, saved and filesystem uids, in the kernel's order. */
  uids: number[];
  /** Real, effective, saved and filesystem gids. */
  gids: number[];
  /** Supplementary gids, in the kernel's order. */
  groups: number[];
}

/** A malformed procfs file (never expected from a real kernel). */
export class ProcFormatError extends Error {
  override readonly name = 'ProcFormatError';
}

const ID = /^\d{1,10}$/;
const MAX_ID = 0xffff_ffff;

function ids(line: string, what: string): number[] {
  const out: number[] = [];
  for (const field of line.trim().split(/\s+/)) {
    if (field === '') continue;
    const n = ID.test(field) ? Number(field) : NaN;
    if (!(n <= MAX_ID)) throw new ProcFormatError(`bad ${what} value ${JSON.stringify(field)}`);
    out.push(n);
  }
  return out;
}

/**
 * Parses the text of `/proc/<pid>/status`. `Uid` and `Gid` are required; a
 * missing `Groups` line means no supplementary groups.
 */
export function parseStatus(text: string): ProcStatus {
  let uids: number[] | undefined;
  let gids: number[] | undefined;
  let groups: number[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1);
    if (key === 'Uid') uids = ids(value, 'Uid');
    else if (key === 'Gid') gids = ids(value, 'Gid');
    else if (key === 'Groups') groups = ids(value, 'Groups');
  }
  if (!uids || uids.length === 0) throw new ProcFormatError('no Uid line');
  if (!gids || gids.length === 0) throw new ProcFormatError('no Gid line');
  return { uids, gids, groups };
}

/** The effective id of a `Uid`/`Gid` line (the only one when the line has one). */
export function effective(idsOfLine: number[]): number {
  return idsOfLine.length > 1 ? idsOfLine[1]! : idsOfLine[0]!;
}

/**
 * The start time of a process (field 22 of `/proc/<pid>/stat`, in clock
 * ticks since boot): with the pid, it names one process across pid reuse.
 */
export function parseStartTime(stat: string): string {
  // The command name (field 2) is in parentheses and may contain anything,
  // including spaces and ')': the fields after it start after the last ')'.
  const end = stat.lastIndexOf(')');
  if (end < 0) throw new ProcFormatError('no command name in stat');
  const rest = stat.slice(end + 1).trim().split(/\s+/);
  // rest[0] is field 3 (state), so field 22 is rest[19].
  const start = rest[19];
  if (start === undefined || !/^\d+$/.test(start)) throw new ProcFormatError('no start time in stat');
  return start;
}

/** Reused by {@link readSmallFile}: reads are synchronous, so it is never shared between two. */
const readBuf = Buffer.allocUnsafe(4096);

/**
 * The text of a small procfs file, read synchronously into one reused
 * buffer (procfs reads never block on I/O; `readFile` would cost several
 * event-loop turns and a 64 KiB buffer per file, as procfs files report
 * size 0). A file longer than the buffer is read to its end the ordinary
 * way. Failures are the fs errors (`ENOENT`, `ESRCH`, …) unchanged.
 */
function readSmallFile(path: string): string {
  const fd = openSync(path, 'r');
  try {
    let n = 0;
    for (;;) {
      const r = readSync(fd, readBuf, n, readBuf.length - n, null);
      if (r === 0) return readBuf.toString('latin1', 0, n);
      n += r;
      if (n === readBuf.length) return readBuf.toString('latin1', 0, n) + readFileSync(fd, 'latin1');
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads one process's procfs entries under a procfs root (`/proc`, or
 * `HOST_PROC`). Synchronous underneath (see {@link readSmallFile}); the
 * methods keep their promise signatures.
 */
export class ProcReader {
  constructor(readonly root: string) {}

  path(pid: number, entry: string): string {
    return join(this.root, String(pid), entry);
  }

  async status(pid: number): Promise<ProcStatus> {
    return parseStatus(readSmallFile(this.path(pid, 'status')));
  }

  async startTime(pid: number): Promise<string> {
    return parseStartTime(readSmallFile(this.path(pid, 'stat')));
  }

  /**
   * The binary's path as the kernel reports it. A binary deleted since
   * it was started reads `<path> (deleted)`; that suffix is kept, as SPIRE
   * keeps it, so a `path` selector never matches a binary no longer there.
   */
  async exe(pid: number): Promise<string> {
    return readlinkSync(this.path(pid, 'exe'), 'utf8');
  }
}
