import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ConnectionRegistry,
  PeerCredentialsError,
  peerCredentials,
  peerCredentialsOf,
  processStartTime,
  socketFd,
} from '@spire-ts/peercred';
import type * as Peercred from '@spire-ts/peercred';
import { NOBODY, expectPeerError, isRoot, listenUnix, nextConnection, openTempDir, runFixture } from './helpers.js';

let dir: string;
let server: net.Server;
let path: string;
const open: net.Socket[] = [];

beforeAll(async () => {
  dir = openTempDir('peercred-test-');
  path = join(dir, 'api.sock');
  server = net.createServer();
  await listenUnix(server, path);
});
afterEach(() => {
  for (const s of open.splice(0)) s.destroy();
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

async function connectHere(): Promise<{ client: net.Socket; accepted: net.Socket }> {
  const accepted = nextConnection(server);
  const client = net.connect(path);
  await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
  const socket = await accepted;
  open.push(client, socket);
  return { client, accepted: socket };
}

describe('peerCredentialsOf on a Unix socket', () => {
  it('reports this process for a client in this process, on both ends', async () => {
    const { client, accepted } = await connectHere();
    const me = { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() };
    expect(peerCredentialsOf(accepted)).toEqual(me);
    expect(peerCredentialsOf(client)).toEqual(me);
    expect(peerCredentials(socketFd(accepted))).toEqual(me);
  });

  it.skipIf(!isRoot)('reports the pid, uid and gid of a client process running as another user', async () => {
    const accepted = nextConnection(server);
    const run = runFixture('connect.mjs', [path], { uid: NOBODY, gid: NOBODY });
    const [socket, said] = await Promise.all([accepted, run.firstLine]);
    expect(said).toEqual({ pid: run.child.pid, uid: NOBODY, gid: NOBODY });
    expect(peerCredentialsOf(socket)).toEqual({ pid: run.child.pid, uid: NOBODY, gid: NOBODY });
    socket.end();
    expect(await run.exited).toBe(0);
  });

  it('keeps the credentials of connect time after the peer exits', async () => {
    // pauseOnConnect: nothing reads the socket, so Node does not see the EOF and close it.
    const paused = net.createServer({ pauseOnConnect: true });
    const pausedPath = join(dir, 'paused.sock');
    await listenUnix(paused, pausedPath);
    try {
      const accepted = nextConnection(paused);
      const run = runFixture('connect.mjs', [pausedPath]);
      const [socket] = await Promise.all([accepted, run.firstLine]);
      open.push(socket);
      run.child.kill('SIGKILL');
      await run.exited;
      expect(peerCredentialsOf(socket).pid).toBe(run.child.pid);
      // The pid is now free: the start-time check is what tells the agent.
      expectPeerError(() => processStartTime(run.child.pid!), 'ENOENT');
    } finally {
      paused.close();
    }
  });
});

describe('peerCredentials errors', () => {
  it('EBADF for a descriptor that is not open', () => {
    const err = expectPeerError(() => peerCredentials(1_000_000), 'EBADF');
    expect(err.errno).toBe(9);
    expect(err.syscall).toBe('getsockopt');
    expect(err.message).toMatch(/SO_PEERCRED on fd 1000000: EBADF/);
  });

  it('ENOTSOCK for a regular file', () => {
    const file = join(dir, 'plain.txt');
    writeFileSync(file, 'not a socket');
    const fd = openSync(file, 'r');
    try {
      expectPeerError(() => peerCredentials(fd), 'ENOTSOCK');
    } finally {
      closeSync(fd);
    }
  });

  it('TypeError for a value that cannot be a descriptor', () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 31]) {
      expect(() => peerCredentials(bad)).toThrow(TypeError);
    }
  });

  it('ERR_PEERCRED_NO_PEER for TCP: Linux reports pid 0 and uid/gid -1, never a caller', async () => {
    const tcp = net.createServer();
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    try {
      const accepted = nextConnection(tcp);
      const client = net.connect((tcp.address() as net.AddressInfo).port, '127.0.0.1');
      const socket = await accepted;
      open.push(client, socket);
      expect(socketFd(socket)).toBeGreaterThanOrEqual(0);
      const err = expectPeerError(() => peerCredentialsOf(socket), 'ERR_PEERCRED_NO_PEER');
      expect(err.message).toMatch(/no peer process/);
    } finally {
      tcp.close();
    }
  });

  it('ERR_PEERCRED_NO_FD for a destroyed socket', async () => {
    const { accepted } = await connectHere();
    accepted.destroy();
    expectPeerError(() => socketFd(accepted), 'ERR_PEERCRED_NO_FD');
    expectPeerError(() => peerCredentialsOf(accepted), 'ERR_PEERCRED_NO_FD');
  });

  it('ERR_PEERCRED_NOT_BUILT, naming the fix, when the addon is missing', async () => {
    // The compiled module in a tree without build/: a separate module instance.
    const copy = join(dir, 'unbuilt');
    mkdirSync(join(copy, 'dist'), { recursive: true });
    const compiled = readFileSync(fileURLToPath(import.meta.resolve('@spire-ts/peercred')), 'utf8');
    writeFileSync(join(copy, 'dist', 'index.js'), compiled.replace(/^\/\/# sourceMappingURL=.*$/m, ''));
    writeFileSync(join(copy, 'package.json'), '{"type":"module"}');
    const unbuilt = (await import(join(copy, 'dist', 'index.js'))) as typeof Peercred;
    const err = expectPeerError(() => unbuilt.peerCredentials(0), 'ERR_PEERCRED_NOT_BUILT');
    expect(err.message).toContain('npm rebuild @spire-ts/peercred');
    expect(err.cause).toBeDefined();
    // processStartTime needs no native code.
    expect(unbuilt.processStartTime(process.pid)).toBe(processStartTime(process.pid));
  });

  it('is recognised by instanceof across module copies (Symbol.for marker)', () => {
    const err = new PeerCredentialsError('EBADF', 'x', { errno: 9 });
    expect(err).toBeInstanceOf(PeerCredentialsError);
    expect(err).toBeInstanceOf(Error);
    expect(new Error('x')).not.toBeInstanceOf(PeerCredentialsError);
  });
});

describe('processStartTime', () => {
  it('is stable for a live process and differs between processes', () => {
    const mine = processStartTime(process.pid);
    expect(Number.isSafeInteger(mine)).toBe(true);
    expect(processStartTime(process.pid)).toBe(mine);
    expect(processStartTime(1)).toBeLessThanOrEqual(mine);
  });

  it('reads a process whose name holds spaces and parentheses', async () => {
    const accepted = nextConnection(server);
    // comm, field 2 of /proc/<pid>/stat, is the process's to choose: the worst name we can.
    const run = runFixture('connect.mjs', [path, 'a) b (c) 1 2']);
    const [socket] = await Promise.all([accepted, run.firstLine]);
    open.push(socket);
    const pid = run.child.pid!;
    expect(readFileSync(`/proc/${pid}/comm`, 'utf8')).toBe('a) b (c) 1 2\n');
    const start = processStartTime(pid);
    expect(start).toBeGreaterThanOrEqual(processStartTime(process.pid));
    expect(start).toBe(Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)!.split(' ')[19]));
    socket.end();
    await run.exited;
  });

  it('ENOENT for a pid that is gone', async () => {
    const run = runFixture('connect.mjs', [join(dir, 'nothing-here.sock')]);
    const pid = run.child.pid!;
    await run.exited; // spawn reaps the child: its pid is free now
    const err = expectPeerError(() => processStartTime(pid), 'ENOENT');
    expect(err.message).toBe(`peercred: process ${pid} does not exist`);
  });

  it('TypeError for a pid that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5]) expect(() => processStartTime(bad)).toThrow(TypeError);
  });
});

describe('ConnectionRegistry', () => {
  it('tags a Unix socket and forgets it when the socket closes', async () => {
    const registry = new ConnectionRegistry<string>();
    const { accepted } = await connectHere();
    const tag = registry.register(accepted, 'caller');
    expect(accepted.remoteAddress).toBe(tag);
    expect(registry.get(tag)).toBe('caller');
    expect(registry.size).toBe(1);
    expect(() => registry.register(accepted, 'again')).toThrow(TypeError);
    const closed = new Promise((resolve) => accepted.once('close', resolve));
    accepted.destroy();
    await closed;
    expect(registry.get(tag)).toBeUndefined();
    expect(registry.size).toBe(0);
  });

  it('gives every connection a tag no other registry or connection shares', async () => {
    const a = new ConnectionRegistry<number>();
    const b = new ConnectionRegistry<number>();
    const tags = [a.register((await connectHere()).accepted, 1), b.register((await connectHere()).accepted, 2)];
    tags.push(a.register((await connectHere()).accepted, 3));
    expect(new Set(tags).size).toBe(3);
    expect(a.get(tags[1]!)).toBeUndefined();
    expect(a.get('unknown')).toBeUndefined();
  });

  it('refuses TCP sockets, which have a real remote address', async () => {
    const tcp = net.createServer();
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    try {
      const accepted = nextConnection(tcp);
      open.push(net.connect((tcp.address() as net.AddressInfo).port, '127.0.0.1'));
      const socket = await accepted;
      open.push(socket);
      expect(() => new ConnectionRegistry().register(socket, 1)).toThrow(/only Unix sockets/);
    } finally {
      tcp.close();
    }
  });
});
