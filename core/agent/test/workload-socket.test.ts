// The Workload API socket: directory creation and checks, a live socket is
// never taken over, a stale one is replaced (logged), anything else is left
// alone; close() ends open streams and removes the socket.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '@spire-ts/common';
import { StaticWorkloadCache, WorkloadApiServer, WorkloadAttestation, prepareSocketPath, probeSocketPath } from '../src/workload/index.js';
import { checkAgentSockets } from '../src/run/sockets.js';
import { bundleOf, collect, header, makeCa, makeSvid, procAttestor, tempDir, workloadClient } from './workload-fixtures.js';

const root = tempDir('wlsock-');
afterAll(() => rmSync(root, { recursive: true, force: true }));

function newServer(log = memoryLogger(), cache = new StaticWorkloadCache({ trustDomain: 'example.org' })): WorkloadApiServer {
  return new WorkloadApiServer({ cache, attestation: new WorkloadAttestation({ attestors: [procAttestor()], log }), trustDomain: 'example.org', log, shutdownGraceMs: 500 });
}

describe('Workload API socket', () => {
  it('creates missing directories 0755 and a 0777 socket, removed on close', async () => {
    const path = join(root, 'a', 'b', 'api.sock');
    const server = newServer();
    await server.start(path);
    try {
      expect(statSync(join(root, 'a')).mode & 0o7777).toBe(0o755);
      expect(statSync(join(root, 'a', 'b')).mode & 0o7777).toBe(0o755);
      const st = statSync(path);
      expect(st.isSocket()).toBe(true);
      expect(st.mode & 0o777).toBe(0o777);
      expect(server.socketPath).toBe(path);
    } finally {
      await server.close();
    }
    expect(existsSync(path)).toBe(false);
  });

  it('refuses to start over a live socket, which keeps working', async () => {
    const path = join(root, 'live.sock');
    const first = newServer();
    await first.start(path);
    try {
      await expect(newServer().start(path)).rejects.toThrow(`another process is serving ${path}`);
      expect(statSync(path).isSocket()).toBe(true);
      const c = workloadClient(path);
      await new Promise<void>((resolve, reject) => c.waitForReady(Date.now() + 5000, (err) => (err ? reject(err) : resolve())));
      c.close();
    } finally {
      await first.close();
    }
  });

  it('replaces a stale socket left by a killed process, with a log line', async () => {
    const path = join(root, 'stale.sock');
    const r = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    expect(r.signal).toBe('SIGKILL');
    expect(statSync(path).isSocket()).toBe(true);
    const log = memoryLogger();
    const server = newServer(log);
    await server.start(path);
    await server.close();
    expect(log.lines).toContainEqual(expect.objectContaining({ level: 'info', msg: 'Removed stale Workload API socket', fields: expect.objectContaining({ path }) as unknown }));
  });

  it('never deletes something that is not a socket', async () => {
    const path = join(root, 'file.sock');
    writeFileSync(path, 'keep me');
    await expect(newServer().start(path)).rejects.toThrow(`refusing to replace ${path}: it exists and is not a socket`);
    expect(readFileSync(path, 'utf8')).toBe('keep me');
  });

  it('refuses a directory others can write to, a relative path and an over-long path', async () => {
    const open = join(root, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    await expect(prepareSocketPath(join(open, 'api.sock'), memoryLogger())).rejects.toThrow(/is writable by others \(mode 777\)/);
    await expect(prepareSocketPath('relative/api.sock', memoryLogger())).rejects.toThrow(/must be absolute/);
    await expect(prepareSocketPath(join(root, 'x'.repeat(120), 'api.sock'), memoryLogger())).rejects.toThrow(/longer than 107 bytes/);
  });

  it('a directory where mkdir answers ENOENT under an existing parent (procfs) fails instead of hanging', () => {
    // Node's recursive mkdir spins there without returning, so the built module runs in a child with a time limit.
    const dist = new URL('../dist/workload/index.js', import.meta.url).href;
    const script = `import { prepareSocketPath } from ${JSON.stringify(dist)};
      prepareSocketPath('/proc/spire-nope/api.sock', { info() {} }).then(() => console.log('served'), (e) => console.log(e.message));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
    expect(r.signal).toBeNull();
    expect(r.stdout).toMatch(/^E[A-Z]+: .*mkdir '\/proc\/spire-nope'\n$/);
  });

  it('close() ends open streams with UNAVAILABLE and unsubscribes them', async () => {
    const ca = await makeCa('example.org');
    const cache = new StaticWorkloadCache({ trustDomain: 'example.org' });
    cache.setBundle(bundleOf(ca));
    cache.setEntry(
      { entryId: 'e', spiffeId: 'spiffe://example.org/e', selectors: [{ type: 'proc', value: `uid:${process.geteuid!()}` }], hint: '', federatesWith: [], createdAt: 0 },
      await makeSvid(ca, 'spiffe://example.org/e'),
    );
    const server = newServer(memoryLogger(), cache);
    const path = join(root, 'close.sock');
    await server.start(path);
    const c = workloadClient(path);
    const stream = collect(c.FetchX509SVID({}, header()));
    await stream.next(1);
    expect(cache.subscriberCount).toBe(1);
    expect(server.connectionCount).toBe(1);
    await server.close();
    await expect(stream.next(2)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(cache.subscriberCount).toBe(0);
    c.close();
  });
});

describe('probeSocketPath (before node attestation, and validate)', () => {
  const log = memoryLogger();
  it('finds a directory the socket cannot be created in, which listen() would only find later', async () => {
    for (const prepare of [true, false]) {
      await expect(probeSocketPath('/proc/api.sock', { what: 'Workload API', prepare, log })).rejects.toThrow(/^cannot create the Workload API socket there: EACCES: permission denied$/);
    }
    const file = join(root, 'not-a-dir');
    writeFileSync(file, '');
    await expect(probeSocketPath(join(file, 'sub', 'admin.sock'), { what: 'admin API', prepare: true, log })).rejects.toThrow(
      `cannot create the admin API socket there: ENOTDIR: not a directory (stat ${join(file, 'sub')})`,
    );
  });

  it('leaves no socket behind; validate creates no directory, serving does', async () => {
    const dir = join(root, 'probe');
    await probeSocketPath(join(dir, 'sub', 'api.sock'), { what: 'Workload API', prepare: false, log });
    expect(existsSync(dir)).toBe(false);
    await probeSocketPath(join(dir, 'sub', 'api.sock'), { what: 'Workload API', prepare: true, log });
    expect(readdirSync(join(dir, 'sub'))).toEqual([]);
    await probeSocketPath(join(dir, 'sub', 'api.sock'), { what: 'Workload API', prepare: false, log });
    expect(readdirSync(join(dir, 'sub'))).toEqual([]);
  });

  it('checkAgentSockets names the key of each socket that cannot be served', async () => {
    const ok = join(root, 'ok', 'api.sock');
    expect(await checkAgentSockets({ socketPath: ok, adminSocketPath: undefined, workloadApi: { disabled: false } as never }, { prepare: false, log })).toEqual([]);
    expect(await checkAgentSockets({ socketPath: '/proc/api.sock', adminSocketPath: '/proc/admin.sock', workloadApi: { disabled: false } as never }, { prepare: true, log })).toEqual([
      'socket_path "/proc/api.sock": cannot create the Workload API socket there: EACCES: permission denied',
      'admin_socket_path "/proc/admin.sock": cannot create the admin API socket there: EACCES: permission denied',
    ]);
    // A disabled Workload API has no socket to check.
    expect(await checkAgentSockets({ socketPath: '/proc/api.sock', adminSocketPath: undefined, workloadApi: { disabled: true } as never }, { prepare: true, log })).toEqual([]);
  });
});
