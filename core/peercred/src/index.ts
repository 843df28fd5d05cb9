/**
 * @spire-ts/peercred: who is on the other end of a Unix socket, as the kernel
 * recorded it (SO_PEERCRED), plus the /proc check that guards against pid
 * reuse. The addon (src/native/peercred.c) is built by node-gyp at install.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import type { Socket } from 'node:net';

/** The process at the other end of a Unix socket, captured by the kernel at `connect(2)`. */
export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/**
 * Stable codes of {@link PeerCredentialsError}. System failures keep their
 * errno name (`EBADF` for a closed fd, `ENOTSOCK` for a file, `ENOPROTOOPT`,
 * `ENOENT` for a process that is gone); any other errno is
 * `ERR_PEERCRED_SYSCALL`, with `errno` and the message naming it.
 */
export type PeerCredentialsErrorCode =
  | 'EBADF'
  | 'ENOTSOCK'
  | 'ENOPROTOOPT'
  | 'EINVAL'
  | 'ENOENT'
  | 'ESRCH'
  | 'EACCES'
  | 'ERR_PEERCRED_SYSCALL'
  | 'ERR_PEERCRED_NO_PEER'
  | 'ERR_PEERCRED_NO_FD'
  | 'ERR_PEERCRED_UNSUPPORTED'
  | 'ERR_PEERCRED_NOT_BUILT';

const KNOWN_ERRNO_CODES: ReadonlySet<string> = new Set(['EBADF', 'ENOTSOCK', 'ENOPROTOOPT', 'EINVAL', 'ENOENT', 'ESRCH', 'EACCES']);

const MARKER = Symbol.for('@spire-ts/peercred/PeerCredentialsError');

/**
 * Why credentials could not be read. `errno`/`syscall` are set for system
 * failures, as on Node's own system errors.
 *
 * @example
 * ```ts
 * try {
 *   peerCredentials(fd);
 * } catch (err) {
 *   if (err instanceof PeerCredentialsError && err.code === 'EBADF') { ... }
 * }
 * ```
 */
export class PeerCredentialsError extends Error {
  readonly code: PeerCredentialsErrorCode;
  readonly errno: number | undefined;
  readonly syscall: string | undefined;

  constructor(
    code: PeerCredentialsErrorCode,
    message: string,
    options?: { errno?: number; syscall?: string; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PeerCredentialsError';
    this.code = code;
    this.errno = options?.errno;
    this.syscall = options?.syscall;
    Object.defineProperty(this, MARKER, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[MARKER] === true;
  }
}

interface Binding {
  readonly supported: boolean;
  getPeerCred(fd: number): { pid: number; uid: number; gid: number } | number;
}

const ADDON = '../build/Release/peercred.node';
let binding: Binding | undefined;

function loadBinding(): Binding {
  if (binding) return binding;
  let loaded: unknown;
  try {
    loaded = createRequire(import.meta.url)(ADDON);
  } catch (cause) {
    throw new PeerCredentialsError(
      'ERR_PEERCRED_NOT_BUILT',
      'peercred: the native addon (build/Release/peercred.node) is missing or does not load; ' +
        'run `npm rebuild @spire-ts/peercred` (node-gyp needs python3, make and a C/C++ compiler)',
      { cause },
    );
  }
  const b = loaded as Partial<Binding>;
  if (typeof b.getPeerCred !== 'function') {
    throw new PeerCredentialsError('ERR_PEERCRED_NOT_BUILT', 'peercred: build/Release/peercred.node is not this package\'s addon; run `npm rebuild @spire-ts/peercred`');
  }
  binding = b as Binding;
  return binding;
}

let errnoNames: Map<number, string> | undefined;

function errnoName(errno: number): string {
  errnoNames ??= new Map(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

function systemError(errno: number, syscall: string, what: string, cause?: unknown): PeerCredentialsError {
  const name = errnoName(errno);
  const code = (KNOWN_ERRNO_CODES.has(name) ? name : 'ERR_PEERCRED_SYSCALL') as PeerCredentialsErrorCode;
  return new PeerCredentialsError(code, `peercred: ${syscall} ${what}: ${name}`, { errno, syscall, cause });
}

const NO_ID = 0xffff_ffff;

/**
 * The kernel credentials of the peer of a connected Unix socket, by fd
 * (`getsockopt(SO_PEERCRED)`): pid, uid and gid as they were at `connect(2)`.
 * Supplementary groups are not part of SO_PEERCRED; read them from
 * `/proc/<pid>/status` if needed (and re-check the pid, see
 * {@link processStartTime}).
 *
 * Throws {@link PeerCredentialsError}: `EBADF` (fd not open), `ENOTSOCK` (not
 * a socket), `ENOPROTOOPT`, `ERR_PEERCRED_NO_PEER` when the kernel has no peer
 * process to report (a TCP socket, an unconnected Unix socket, or a peer in a
 * PID namespace this process cannot see: Linux reports pid 0 and uid/gid
 * 4294967295 then, which must never be mistaken for a caller),
 * `ERR_PEERCRED_UNSUPPORTED` off Linux, `ERR_PEERCRED_NOT_BUILT` when the addon
 * was not built. `TypeError` if `fd` is not a non-negative integer.
 *
 * @example
 * ```ts
 * const { pid, uid, gid } = peerCredentials(fd);
 * ```
 */
export function peerCredentials(fd: number): PeerCredentials {
  if (!Number.isSafeInteger(fd) || fd < 0 || fd > 0x7fff_ffff) {
    throw new TypeError(`peercred: fd must be a non-negative integer, got ${String(fd)}`);
  }
  const native = loadBinding();
  let res: ReturnType<Binding['getPeerCred']>;
  try {
    res = native.getPeerCred(fd);
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    if (code === 'ERR_PEERCRED_UNSUPPORTED') {
      throw new PeerCredentialsError(code, `peercred: SO_PEERCRED is only available on Linux (this is ${process.platform})`, { cause });
    }
    throw cause;
  }
  if (typeof res === 'number') throw systemError(res, 'getsockopt', `SO_PEERCRED on fd ${fd}`);
  if (res.pid <= 0 || res.uid === NO_ID || res.gid === NO_ID) {
    throw new PeerCredentialsError(
      'ERR_PEERCRED_NO_PEER',
      `peercred: the kernel reports no peer process on fd ${fd} (not a connected Unix socket, or the peer is in a PID namespace this process cannot see)`,
    );
  }
  return { pid: res.pid, uid: res.uid, gid: res.gid };
}

/**
 * The file descriptor of a connected `net.Socket`.
 *
 * Node has no public accessor, so this reads `socket._handle.fd`: the `fd`
 * getter that libuv stream handles (`Pipe`, `TCP`) expose, which Node's own
 * `net` and `child_process` code rely on. It has existed unchanged for pipe
 * handles through Node 20, 22 and 24. The value is checked to be a number ≥ 0;
 * a destroyed socket (no handle), a socket that is not backed by an OS
 * descriptor, or Windows (`-1`) give `ERR_PEERCRED_NO_FD`.
 *
 * Use the fd at once: it belongs to the socket and is closed with it.
 *
 * @example
 * ```ts
 * net.createServer((socket) => { const fd = socketFd(socket); ... });
 * ```
 */
export function socketFd(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || !Number.isSafeInteger(fd) || fd < 0) {
    throw new PeerCredentialsError(
      'ERR_PEERCRED_NO_FD',
      handle ? `peercred: the socket has no usable file descriptor (fd ${String(fd)})` : 'peercred: the socket is closed (no handle)',
    );
  }
  return fd;
}

/**
 * {@link peerCredentials} of a connected `net.Socket` (see {@link socketFd}).
 * Call it as soon as the connection is accepted, before handing the socket on.
 *
 * @example
 * ```ts
 * net.createServer((socket) => {
 *   const caller = peerCredentialsOf(socket); // { pid, uid, gid }
 * });
 * ```
 */
export function peerCredentialsOf(socket: Socket): PeerCredentials {
  return peerCredentials(socketFd(socket));
}

/**
 * Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks
 * since boot. A pid plus its start time names one process for good, so
 * comparing the value read when a connection is accepted with the value read
 * after attestation detects that the caller exited and its pid was reused.
 *
 * Throws {@link PeerCredentialsError} `ENOENT` when there is no such process
 * (any more), `ERR_PEERCRED_UNSUPPORTED` off Linux; `TypeError` for a pid that
 * is not a positive integer. A zombie still has a start time; a caller that
 * must be alive should also check it is still connected.
 *
 * @example
 * ```ts
 * const before = processStartTime(pid);
 * const selectors = await attest(pid);
 * if (processStartTime(pid) !== before) throw new Error('caller exited during attestation');
 * ```
 */
export function processStartTime(pid: number): number {
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new TypeError(`peercred: pid must be a positive integer, got ${String(pid)}`);
  }
  if (process.platform !== 'linux') {
    throw new PeerCredentialsError('ERR_PEERCRED_UNSUPPORTED', `peercred: /proc/<pid>/stat is only read on Linux (this is ${process.platform})`);
  }
  const path = `/proc/${pid}/stat`;
  let stat: string;
  try {
    stat = readProcFile(path);
  } catch (cause) {
    const errno = (cause as NodeJS.ErrnoException).errno;
    if (typeof errno !== 'number') throw cause;
    const syscall = (cause as NodeJS.ErrnoException).syscall ?? 'open';
    const err = systemError(Math.abs(errno), syscall, path, cause);
    if (err.code === 'ENOENT' || err.code === 'ESRCH') {
      throw new PeerCredentialsError(err.code, `peercred: process ${pid} does not exist`, { errno: err.errno, syscall, cause });
    }
    throw err;
  }
  // comm (field 2) is parenthesised and may itself hold spaces and ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const value = Number(fields[22 - 3]);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new PeerCredentialsError('ERR_PEERCRED_SYSCALL', `peercred: cannot parse the start time in ${path}`);
  }
  return value;
}

/** Reused by {@link readProcFile}: reads are synchronous, so it is never shared between two. */
const procBuf = Buffer.allocUnsafe(1024);

/**
 * The text of a small procfs file, read into one reused buffer (procfs
 * files report size 0, so `readFileSync` would allocate 64 KiB per read).
 * A longer file is read to its end the ordinary way.
 */
function readProcFile(path: string): string {
  const fd = openSync(path, 'r');
  try {
    let n = 0;
    for (;;) {
      const r = readSync(fd, procBuf, n, procBuf.length - n, null);
      if (r === 0) return procBuf.toString('latin1', 0, n);
      n += r;
      if (n === procBuf.length) return procBuf.toString('latin1', 0, n) + readFileSync(fd, 'latin1');
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Per-connection data (typically {@link PeerCredentials}) for handlers that
 * only see a gRPC call. {@link register} gives an accepted Unix socket a
 * unique `remoteAddress` (`peercred-<random>:<n>`) before it is handed to
 * grpc-js (`Server.createConnectionInjector`); HTTP/2's `session.socket`
 * forwards property reads to that socket, so grpc-js's public
 * `call.getPeer()` returns the tag, and {@link get} maps it back until the
 * socket closes. Unix sockets have no remote address of their own, and the
 * tag is set server-side, so a client cannot forge it; an unknown tag gives
 * `undefined` (fail closed).
 *
 * @example
 * ```ts
 * const callers = new ConnectionRegistry<PeerCredentials>();
 * const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
 * net.createServer((socket) => {
 *   callers.register(socket, peerCredentialsOf(socket));
 *   injector.injectConnection(socket);
 * }).listen(socketPath);
 * // in a handler:
 * const caller = callers.get(call.getPeer());
 * ```
 */
export class ConnectionRegistry<T> {
  readonly #prefix = `peercred-${randomUUID().slice(0, 8)}:`;
  readonly #entries = new Map<string, T>();
  #next = 0;

  /**
   * Tags `socket` and remembers `value` for it until it closes. Returns the
   * tag. `TypeError` if the socket already has a remote address (TCP) or is
   * already registered: only Unix sockets can be tagged.
   */
  register(socket: Socket, value: T): string {
    if (socket.remoteAddress !== undefined || socket.remotePort !== undefined) {
      throw new TypeError(`peercred: only Unix sockets can be registered (this one has remote address ${String(socket.remoteAddress)})`);
    }
    if (socket.destroyed) throw new TypeError('peercred: cannot register a destroyed socket');
    const tag = `${this.#prefix}${++this.#next}`;
    Object.defineProperty(socket, 'remoteAddress', { value: tag, configurable: true, enumerable: false, writable: false });
    this.#entries.set(tag, value);
    socket.once('close', () => this.#entries.delete(tag));
    return tag;
  }

  /** The value registered for the connection `peer` names (`call.getPeer()`), while it is open. */
  get(peer: string): T | undefined {
    return this.#entries.get(peer);
  }

  /** How many registered connections are open. */
  get size(): number {
    return this.#entries.size;
  }
}
