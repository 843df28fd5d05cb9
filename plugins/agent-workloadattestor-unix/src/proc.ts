import { closeSync, openSync, readSync, readlinkSync } from 'node:fs';
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
  // Only three of some fifty lines matter: find them instead of splitting every line.
  const uidLine = lineValue(text, 'Uid:');
  const gidLine = lineValue(text, 'Gid:');
  const groupsLine = lineValue(text, 'Groups:');
  const uids = uidLine === undefined ? undefined : ids(uidLine, 'Uid');
  const gids = gidLine === undefined ? undefined : ids(gidLine, 'Gid');
  const groups = groupsLine === undefined ? [] : ids(groupsLine, 'Groups');
  if (!uids || uids.length === 0) throw new ProcFormatError('no Uid line');
  if (!gids || gids.length === 0) throw new ProcFormatError('no Gid line');
  return { uids, gids, groups };
}

/** The rest of the first line of `text` that starts with `key`, or undefined. */
function lineValue(text: string, key: string): string | undefined {
  let at: number;
  if (text.startsWith(key)) {
    at = key.length;
  } else {
    const i = text.indexOf(`\n${key}`);
    if (i < 0) return undefined;
    at = i + 1 + key.length;
  }
  const end = text.indexOf('\n', at);
  return text.slice(at, end < 0 ? text.length : end);
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
  // Fields 3 on are separated by single spaces: field 22 follows the 20th space after the ')'.
  let at = end + 1;
  for (let field = 2; field < 22; field++) {
    at = stat.indexOf(' ', at) + 1;
    if (at === 0) throw new ProcFormatError('no start time in stat');
  }
  let stop = at;
  while (stop < stat.length && stat.charCodeAt(stop) >= 0x30 && stat.charCodeAt(stop) <= 0x39) stop++;
  const next = stat.charCodeAt(stop);
  if (stop === at || stop - at > 20 || !(stop === stat.length || next === 0x20 || next === 0x0a)) {
    throw new ProcFormatError('no start time in stat');
  }
  return stat.slice(at, stop);
}

/** Reused by {@link readFrom}: reads are synchronous, so it is never shared between two. */
const readBuf = Buffer.allocUnsafe(4096);

/**
 * The text of a small procfs file from its start, read synchronously into
 * one reused buffer (procfs reads never block on I/O; `readFile` would cost
 * several event-loop turns and a 64 KiB buffer per file, as procfs files
 * report size 0). procfs renders such a file whole on each read from offset
 * 0, so a read that ends in a newline with room to spare is all of it; no
 * second read to see the end. Anything else is read to its end. Failures are
 * the fs errors (`ENOENT`, `ESRCH`, …) unchanged.
 */
function readFrom(fd: number): string {
  let n = 0;
  for (;;) {
    const r = readSync(fd, readBuf, n, readBuf.length - n, n);
    if (r === 0) return readBuf.toString('latin1', 0, n);
    n += r;
    if (n < readBuf.length && readBuf[n - 1] === 0x0a) return readBuf.toString('latin1', 0, n);
    if (n === readBuf.length) return readBuf.toString('latin1', 0, n) + readRest(fd, n);
  }
}

/** The rest of a file larger than {@link readBuf}, from byte `pos`. */
function readRest(fd: number, pos: number): string {
  const parts: Buffer[] = [];
  for (;;) {
    const b = Buffer.allocUnsafe(65536);
    const r = readSync(fd, b, 0, b.length, pos);
    if (r === 0) return Buffer.concat(parts).toString('latin1');
    parts.push(b.subarray(0, r));
    pos += r;
  }
}

function readSmallFile(path: string): string {
  const fd = openSync(path, 'r');
  try {
    return readFrom(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * An open `/proc/<pid>/stat`. The open file stays bound to the process it
 * was opened for: after that process is gone, reading it fails (`ESRCH`)
 * even if the pid is in use again, so reading the start time through it
 * before and after the other reads proves they were all of one process, for
 * one open and close.
 */
export class ProcStatFile {
  #fd: number | undefined;

  constructor(fd: number) {
    this.#fd = fd;
  }

  /** Field 22 of the file as it reads now (see {@link parseStartTime}). */
  startTime(): string {
    if (this.#fd === undefined) throw new Error('stat file closed');
    return parseStartTime(readFrom(this.#fd));
  }

  close(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
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

  /** Opens the process's `stat` (fs errors as they come: `ENOENT` for no such process). */
  openStat(pid: number): ProcStatFile {
    return new ProcStatFile(openSync(this.path(pid, 'stat'), 'r'));
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
