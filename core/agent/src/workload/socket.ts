/**
 * Preparing the Workload API's Unix socket path: a directory nobody else can
 * tamper with, no live agent already on the socket, a stale socket file
 * removed (SPIRE removes it unconditionally; we check it is dead first and
 * never delete anything that is not a socket).
 */
import { chmodSync, lstatSync, mkdirSync, statSync, unlinkSync, type Stats } from 'node:fs';
import * as net from 'node:net';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Logger } from '@spire-ts/common';

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

/**
 * Makes `socketPath` ready to listen on: creates its directory (mode 0755),
 * checks the directory chain, refuses a path held by a live listener or by
 * something that is not a socket, and removes a stale socket (logged).
 *
 * @throws SocketPathError
 */
export async function prepareSocketPath(socketPath: string, log: Logger): Promise<void> {
  if (!isAbsolute(socketPath)) throw new SocketPathError(`socket path ${JSON.stringify(socketPath)} must be absolute`);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new SocketPathError(`socket path ${socketPath} is longer than ${MAX_SOCKET_PATH_BYTES} bytes`);
  }
  const dir = dirname(socketPath);
  const created = mkdirSync(dir, { recursive: true, mode: SOCKET_DIR_MODE });
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
