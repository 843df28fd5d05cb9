/**
 * Preparing the Workload API's Unix socket path: a directory nobody else can
 * tamper with, no live agent already on the socket, a stale socket file
 * removed (SPIRE removes it unconditionally; we check it is dead first and
 * never delete anything that is not a socket).
 */
import { accessSync, chmodSync, constants as fsConstants, lstatSync, statSync, unlinkSync, type Stats } from 'node:fs';
import * as net from 'node:net';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { getSystemErrorMap } from 'node:util';
import { makeDirectories, type Logger } from '@spire-ts/common';

/** `sizeof(sockaddr_un.sun_path) - 1` on Linux. */
export const MAX_SOCKET_PATH_BYTES = 107;

/** Mode of directories created for the socket (world-searchable, as SPIRE's public socket dir). */
export const SOCKET_DIR_MODE = 0o755;

/** A socket path that cannot be served. */
export class SocketPathError extends Error {
  override readonly name = 'SocketPathError';
}

function statOrUndefined(path: string, follow: boolean): Stats | undefined {
  try {
    return follow ? statSync(path) : lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Every directory from `dir` up to `/` must be owned by root or this user,
 * and not writable by others unless sticky (like `/tmp`): otherwise someone
 * else could swap the socket for their own.
 */
export function checkDirectoryChain(dir: string): void {
  const euid = process.geteuid?.() ?? 0;
  let current = resolve(dir);
  let first = true;
  for (;;) {
    const st = first ? lstatSync(current) : statSync(current);
    if (first && st.isSymbolicLink()) throw new SocketPathError(`socket directory ${current} is a symbolic link`);
    if (!st.isDirectory()) throw new SocketPathError(`${current} is not a directory`);
    if (st.uid !== 0 && st.uid !== euid) throw new SocketPathError(`socket directory ${current} is owned by uid ${st.uid}, not by root or this user (uid ${euid})`);
    const sticky = (st.mode & 0o1000) !== 0;
    if ((st.mode & 0o022) !== 0 && !sticky) {
      throw new SocketPathError(`socket directory ${current} is writable by others (mode ${(st.mode & 0o7777).toString(8)})`);
    }
    first = false;
    const up = dirname(current);
    if (up === current) return;
    current = up;
  }
}

/** True if something accepts connections on the Unix socket `path`. */
function isLive(path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolveLive) => {
    const socket = net.connect(path);
    const done = (live: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolveLive(live);
    };
    // A listener that does not accept within the time is treated as live: never delete a socket in use.
    const timer = setTimeout(() => done(true), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT'));
  });
}

function checkPathShape(socketPath: string): void {
  if (!isAbsolute(socketPath)) throw new SocketPathError(`socket path ${JSON.stringify(socketPath)} must be absolute`);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new SocketPathError(`socket path ${socketPath} is longer than ${MAX_SOCKET_PATH_BYTES} bytes`);
  }
}

/**
 * Makes `socketPath` ready to listen on: creates its directory (mode 0755),
 * checks the directory chain, refuses a path held by a live listener or by
 * something that is not a socket, and removes a stale socket (logged).
 *
 * @throws SocketPathError
 */
export async function prepareSocketPath(socketPath: string, log: Logger): Promise<void> {
  checkPathShape(socketPath);
  const dir = dirname(socketPath);
  const created = makeDirectories(dir, SOCKET_DIR_MODE);
  if (created !== undefined) {
    // mkdir's mode is filtered by the umask: set it on every directory made here.
    for (let d = dir; ; d = dirname(d)) {
      chmodSync(d, SOCKET_DIR_MODE);
      if (d === created || dirname(d) === d) break;
    }
  }
  checkDirectoryChain(dir);
  const existing = statOrUndefined(socketPath, false);
  if (!existing) return;
  if (!existing.isSocket()) throw new SocketPathError(`refusing to replace ${socketPath}: it exists and is not a socket`);
  if (await isLive(socketPath, 1000)) throw new SocketPathError(`another process is serving ${socketPath}`);
  try {
    unlinkSync(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  log.info('Removed stale Workload API socket', { path: socketPath });
}

/** `EACCES: permission denied` for a Node system error (with `mkdir /x` when it was not the bind), else its message. */
function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const desc = typeof e.errno === 'number' ? getSystemErrorMap().get(e.errno)?.[1] : undefined;
  if (!e.code || !desc) return e.message ?? String(err);
  return e.syscall && e.syscall !== 'listen' && e.path ? `${e.code}: ${desc} (${e.syscall} ${e.path})` : `${e.code}: ${desc}`;
}

/** Binds a listener on `socketPath` and closes it again (which removes the socket file). */
function bindOnce(socketPath: string): Promise<void> {
  return new Promise<void>((resolveBind, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(socketPath, () => probe.close(() => resolveBind()));
  });
}

/** Options of {@link probeSocketPath}. */
export interface ProbeSocketOptions {
  /** What is served there, for the message: `Workload API`, `admin API`. */
  readonly what: string;
  /**
   * Prepare the path as serving it would (create the directories, remove a
   * stale socket: `prepareSocketPath`) and bind the path itself; otherwise
   * (`validate`) change nothing but a socket bound and removed again next
   * to the path, and only check that a missing directory could be made.
   */
  readonly prepare: boolean;
  readonly log: Logger;
}

/**
 * Checks that a socket can be served at `socketPath` before anything
 * depends on it: the path's shape, its directory (made, or makeable), the
 * directory chain, and a socket bound there and closed again when nothing
 * is at the path. Throws a {@link SocketPathError} saying why not (`cannot
 * create the Workload API socket there: EACCES: permission denied`).
 *
 * @example
 * ```ts
 * await probeSocketPath('/tmp/spire-agent/public/api.sock', { what: 'Workload API', prepare: true, log });
 * ```
 */
export async function probeSocketPath(socketPath: string, o: ProbeSocketOptions): Promise<void> {
  checkPathShape(socketPath);
  const dir = dirname(socketPath);
  const cannot = (err: unknown): SocketPathError =>
    err instanceof SocketPathError ? err : new SocketPathError(`cannot create the ${o.what} socket there: ${errnoText(err)}`, { cause: err });
  try {
    if (o.prepare) {
      await prepareSocketPath(socketPath, o.log);
    } else {
      let existing = resolve(dir);
      while (statOrUndefined(existing, true) === undefined && dirname(existing) !== existing) existing = dirname(existing);
      if (!statSync(existing).isDirectory()) throw new SocketPathError(`${existing} is not a directory`);
      if (existing !== resolve(dir)) {
        // The directory would be made at start: its nearest existing parent must let us.
        try {
          accessSync(existing, fsConstants.W_OK | fsConstants.X_OK);
        } catch (err) {
          throw new SocketPathError(`cannot create the directory ${dir} for the ${o.what} socket: ${errnoText(err)}`, { cause: err });
        }
        return;
      }
      checkDirectoryChain(dir);
    }
    const there = statOrUndefined(socketPath, false);
    if (there) {
      if (!there.isSocket()) throw new SocketPathError(`refusing to replace ${socketPath}: it exists and is not a socket`);
      return;
    }
    // Serving prepared the path for this agent: bind it. Otherwise an agent
    // may be starting on it, so a short sibling in the same directory is used.
    const sibling = join(dir, `.probe-${process.pid}.sock`);
    await bindOnce(o.prepare || Buffer.byteLength(sibling) > MAX_SOCKET_PATH_BYTES ? socketPath : sibling);
  } catch (err) {
    throw cannot(err);
  }
}
