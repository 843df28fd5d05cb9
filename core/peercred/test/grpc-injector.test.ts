// The Workload API's planned shape, end to end: the agent accepts each Unix
// connection itself, reads SO_PEERCRED, tags the socket, injects it into a
// grpc-js server (Server.createConnectionInjector), and every handler -- unary
// or streaming -- finds its caller through the public call.getPeer().
import { rmSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addService, PluginError, Status } from '@spire-ts/plugin-sdk';
import { createClient, type ServiceClientOf } from '@spire-ts/proto';
import {
  ConnectionRegistry,
  peerCredentialsOf,
  processStartTime,
  type PeerCredentials,
} from '@spire-ts/peercred';
import { NOBODY, isRoot, listenUnix, openTempDir, runFixture } from './helpers.js';

interface Caller extends PeerCredentials {
  /** /proc/<pid>/stat starttime when the connection was accepted. */
  readonly startTime: number;
}

interface Seen {
  method: string;
  peer: string;
  caller: Caller;
}

let dir: string;
let path: string;
let plainPath: string;
let grpcServer: grpc.Server;
let injector: grpc.ConnectionInjector;
let listener: net.Server;
let unregistered: net.Server;
const callers = new ConnectionRegistry<Caller>();
const seen: Seen[] = [];

/** What a Workload API handler does first: who is calling, and is it still the same process? */
function callerOf(call: { getPeer(): string }): Caller {
  const caller = callers.get(call.getPeer());
  if (!caller) throw new PluginError(Status.PERMISSION_DENIED, 'no identity issued');
  let now: number | undefined;
  try {
    now = processStartTime(caller.pid);
  } catch {
    now = undefined;
  }
  if (now !== caller.startTime) throw new PluginError(Status.PERMISSION_DENIED, 'no identity issued');
  return caller;
}

beforeAll(async () => {
  dir = openTempDir('peercred-grpc-');
  path = join(dir, 'api.sock');
  plainPath = join(dir, 'unregistered.sock');
  grpcServer = new grpc.Server();
  addService(grpcServer, 'grpc.health.v1.Health', {
    Check(_req, call) {
      seen.push({ method: 'Check', peer: call.getPeer(), caller: callerOf(call) });
      return { status: 'SERVING' };
    },
    Watch(call) {
      let caller: Caller;
      try {
        caller = callerOf(call);
      } catch (err) {
        call.emit('error', { code: (err as PluginError).code, details: (err as PluginError).message });
        return;
      }
      seen.push({ method: 'Watch', peer: call.getPeer(), caller });
      call.write({ status: 'SERVING' });
    },
  });
  injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());

  // The 'connection' listener runs before any byte is read: read the
  // credentials, register, inject -- synchronously. (With pauseOnConnect the
  // socket must also be resume()d after injection: http2 does not.)
  listener = net.createServer((socket) => {
    try {
      const creds = peerCredentialsOf(socket);
      callers.register(socket, { ...creds, startTime: processStartTime(creds.pid) });
    } catch {
      socket.destroy();
      return;
    }
    injector.injectConnection(socket);
  });
  await listenUnix(listener, path);

  // The same gRPC server reached without registration: handlers must fail closed.
  unregistered = net.createServer((socket) => injector.injectConnection(socket));
  await listenUnix(unregistered, plainPath);
});

afterAll(async () => {
  injector.destroy();
  grpcServer.forceShutdown();
  await Promise.all([listener, unregistered].map((s) => new Promise((resolve) => s.close(resolve))));
  rmSync(dir, { recursive: true, force: true });
});

function client(at: string): ServiceClientOf<'grpc.health.v1.Health'> {
  return createClient('grpc.health.v1.Health', `unix://${at}`, grpc.credentials.createInsecure());
}

function check(c: ServiceClientOf<'grpc.health.v1.Health'>): Promise<unknown> {
  return new Promise((resolve, reject) =>
    c.Check({ service: 'whoami' }, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

const me = (): PeerCredentials => ({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });

describe('Server.createConnectionInjector with SO_PEERCRED', () => {
  it('a unary handler learns its caller from call.getPeer()', async () => {
    const c = client(path);
    try {
      expect(await check(c)).toEqual({ status: 'SERVING' });
      const last = seen.at(-1)!;
      expect(last.method).toBe('Check');
      expect(last.peer).toMatch(/^peercred-[0-9a-f]{8}:\d+$/);
      expect(last.caller).toEqual({ ...me(), startTime: processStartTime(process.pid) });
    } finally {
      c.close();
    }
  });

  it.skipIf(!isRoot)('tells concurrent callers apart: this process and a child running as nobody', async () => {
    const before = seen.length;
    const run = runFixture('health-client.mjs', [path], { uid: NOBODY, gid: NOBODY });
    const c = client(path);
    try {
      const [child] = await Promise.all([run.firstLine, check(c)]);
      expect(child).toMatchObject({ pid: run.child.pid, uid: NOBODY, gid: NOBODY, check: { status: 'SERVING' }, watch: { status: 'SERVING' } });
      expect(await run.exited).toBe(0);
      const calls = seen.slice(before).map((s) => ({ method: s.method, pid: s.caller.pid, uid: s.caller.uid, gid: s.caller.gid }));
      expect(calls).toEqual(expect.arrayContaining([
        { method: 'Check', ...me() },
        { method: 'Check', pid: run.child.pid, uid: NOBODY, gid: NOBODY },
        { method: 'Watch', pid: run.child.pid, uid: NOBODY, gid: NOBODY },
      ]));
      expect(calls).toHaveLength(3);
    } finally {
      c.close();
    }
  });

  it('fails closed for a connection that was never registered', async () => {
    const c = client(plainPath);
    try {
      await expect(check(c)).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' });
    } finally {
      c.close();
    }
  });

  it('forgets each connection when it closes', async () => {
    const c = client(path);
    await check(c);
    expect(callers.size).toBeGreaterThanOrEqual(1);
    c.close();
    const deadline = Date.now() + 5000;
    while (callers.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(callers.size).toBe(0);
  });
});
