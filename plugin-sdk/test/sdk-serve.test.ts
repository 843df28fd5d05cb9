import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@spire-ts/proto';
import { unary } from '@spire-ts/common';
import {
  CONFIG_SERVICE,
  HOST_SERVICE_PROVIDER_ID,
  INIT_SERVICE,
  PluginError,
  Status,
  addService,
  createLogger,
  isServiceError,
  startPluginServer,
  type PluginServer,
} from '@spire-ts/plugin-sdk';

const MEMORY_PLUGIN = fileURLToPath(new URL('../../plugins/server-keymanager-memory/dist/main.js', import.meta.url));
const SIGINT_AT_START = fileURLToPath(new URL('./fixtures/sigint-at-start.mjs', import.meta.url));
const KM = 'spire.plugin.server.keymanager.v1.KeyManager';
const METRICS = 'spire.hostservice.common.metrics.v1.Metrics';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the memory plugin binary with exactly `env`; `onLine` sees stdout lines as they come. */
function runPlugin(env: NodeJS.ProcessEnv, onLine?: (line: string, pid: number) => void, script = MEMORY_PLUGIN): Promise<Run> {
  const child = spawn(process.execPath, [script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    const before = stdout;
    stdout += d.toString();
    if (onLine && !before.includes('\n') && stdout.includes('\n')) onLine(stdout.slice(0, stdout.indexOf('\n')), child.pid!);
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    }),
  );
}

function errorOf(p: Promise<unknown>): Promise<grpc.ServiceError> {
  return p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (err: unknown) => {
      if (!isServiceError(err)) throw err;
      return err as grpc.ServiceError;
    },
  );
}

describe.concurrent('serve(): the go-plugin environment checks and handshake', () => {
  it('without the magic cookie it explains itself on stderr and exits 1, printing nothing on stdout', async () => {
    const run = await runPlugin({});
    expect(run).toMatchObject({ code: 1, signal: null, stdout: '' });
    expect(run.stderr).toContain('main.js is a spire-ts KeyManager plugin');
    expect(run.stderr).toContain('(which set KeyManager=KeyManager in its environment), not run by hand');
  });

  it('with a wrong cookie value it exits 1', async () => {
    const run = await runPlugin({ KeyManager: 'NodeAttestor' });
    expect(run).toMatchObject({ code: 1, stdout: '' });
    expect(run.stderr).toContain('not run by hand');
  });

  it('with PLUGIN_PROTOCOL_VERSIONS=2 it exits 1', async () => {
    const run = await runPlugin({ KeyManager: 'KeyManager', PLUGIN_PROTOCOL_VERSIONS: '2' });
    expect(run).toMatchObject({ code: 1, signal: null, stdout: '' });
    expect(run.stderr).toContain('the host speaks plugin protocol version(s) 2, this plugin speaks 1');
  });

  it('with the cookie it prints exactly one handshake line, serves from a 0700 directory, and exits 0 on SIGTERM', async () => {
    let socketDir = '';
    let mode = -1;
    let isSocket = false;
    const run = await runPlugin({ KeyManager: 'KeyManager', PLUGIN_PROTOCOL_VERSIONS: '1' }, (line, pid) => {
      const parts = line.split('|');
      socketDir = dirname(parts[3] ?? '');
      try {
        mode = statSync(socketDir).mode & 0o777;
        isSocket = statSync(parts[3]!).isSocket();
      } finally {
        process.kill(pid, 'SIGTERM');
      }
    });
    expect(run.stdout).toMatch(/^1\|1\|unix\|\/[^|\n]+\/plugin\.sock\|grpc\|\n$/);
    expect(mode).toBe(0o700);
    expect(isSocket).toBe(true);
    expect(run).toMatchObject({ code: 0, signal: null });
    expect(existsSync(socketDir)).toBe(false);
  });

  it('ignores SIGINT (Ctrl-C reaches the whole process group; the host stops its plugins itself), logging it at trace', async () => {
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    let stillServing = false;
    const run = await runPlugin({ KeyManager: 'KeyManager', PLUGIN_PROTOCOL_VERSIONS: '1' }, (line, pid) => {
      void (async () => {
        try {
          // Two, apart (pending signals of one kind merge): each is ignored, and logged.
          process.kill(pid, 'SIGINT');
          await new Promise((r) => setTimeout(r, 150));
          process.kill(pid, 'SIGINT');
          await new Promise((r) => setTimeout(r, 150));
          const client = createClient(KM, `unix:${line.split('|')[3]}`, grpc.credentials.createInsecure());
          try {
            await unary(client, 'GetPublicKeys', {}, { deadlineMs: 5000 });
            stillServing = alive(pid);
          } finally {
            client.close();
          }
        } finally {
          process.kill(pid, 'SIGTERM');
        }
      })();
    });
    expect(stillServing).toBe(true);
    expect(run).toMatchObject({ code: 0, signal: null });
    const ignored = run.stderr.split('\n').filter((l) => l.includes('ignoring SIGINT'));
    expect(ignored).toHaveLength(2);
    expect(JSON.parse(ignored[0]!)).toMatchObject({ '@level': 'trace' });
  });

  it('ignores SIGINT from the start of serve(), before its server is listening', async () => {
    let line = '';
    const run = await runPlugin({ KeyManager: 'KeyManager', PLUGIN_PROTOCOL_VERSIONS: '1' }, (l, pid) => {
      line = l;
      process.kill(pid, 'SIGTERM');
    }, SIGINT_AT_START);
    expect(run).toMatchObject({ code: 0, signal: null });
    expect(line).toMatch(/^1\|1\|unix\|/);
    expect(run.stderr).toContain('ignoring SIGINT');
  });

  it('creates its socket under PLUGIN_UNIX_SOCKET_DIR and accepts a version list', async () => {
    const base = mkdtempSync(join(tmpdir(), 'sdk-sockdir'));
    try {
      let line = '';
      const run = await runPlugin({ KeyManager: 'KeyManager', PLUGIN_PROTOCOL_VERSIONS: '3, 1', PLUGIN_UNIX_SOCKET_DIR: base }, (l, pid) => {
        line = l;
        process.kill(pid, 'SIGTERM');
      });
      expect(run.code).toBe(0);
      expect(line.startsWith(`1|1|unix|${base}/plugin`)).toBe(true);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('startPluginServer in-process, over the real wire', () => {
  let srv: PluginServer;
  let deinits = 0;
  const host = { server: new grpc.Server(), dir: '', counters: [] as string[][] };
  let hostDialed: Promise<string[]>;

  beforeAll(async () => {
    host.dir = mkdtempSync(join(tmpdir(), 'sdk-host'));
    addService(host.server, METRICS, {
      IncrCounter(req) {
        host.counters.push(req.key);
        return {};
      },
    });
    await new Promise<void>((res, rej) =>
      host.server.bindAsync(`unix:${join(host.dir, 'host.sock')}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())),
    );
    let dialed!: (names: string[]) => void;
    hostDialed = new Promise((r) => (dialed = r));
    srv = await startPluginServer(
      {
        service: KM,
        impl: {
          GenerateKey() {
            throw new PluginError(Status.INVALID_ARGUMENT, 'key_id is required');
          },
          GetPublicKey() {
            throw new Error('boom');
          },
          async GetPublicKeys() {
            await new Promise((r) => setTimeout(r, 1));
            throw PluginError.notFound('nothing here');
          },
        },
        config: {
          build({ hclConfiguration, trustDomain }) {
            if (hclConfiguration.includes('bad')) throw new Error(`bad config for ${trustDomain}`);
            return hclConfiguration;
          },
          apply: () => undefined,
        },
        hostServices: [METRICS],
        async onHostServices(hosts) {
          if (!hosts.has(METRICS)) return;
          const metrics = await hosts.dial(METRICS);
          await unary(metrics, 'IncrCounter', { key: ['plugin', 'init'], val: 1, labels: [] }, { deadlineMs: 5000 });
          metrics.close();
          dialed([...hosts.offered]);
        },
        deinit: () => void deinits++,
      },
      { log: createLogger({ write: () => undefined }) },
    );
  });

  afterAll(async () => {
    await srv?.close();
    host.server.forceShutdown();
    rmSync(host.dir, { recursive: true, force: true });
  });

  const client = <N extends Parameters<typeof createClient>[0]>(name: N) => createClient(name, srv.target, grpc.credentials.createInsecure());

  it('health: Check("plugin") is SERVING, Check("nope") is NOT_FOUND', async () => {
    const health = client('grpc.health.v1.Health');
    expect((await unary(health, 'Check', { service: 'plugin' }, { deadlineMs: 5000 })).status).toBe('SERVING');
    expect((await unary(health, 'Check', { service: '' }, { deadlineMs: 5000 })).status).toBe('SERVING');
    const err = await errorOf(unary(health, 'Check', { service: 'nope' }, { deadlineMs: 5000 }));
    expect(err.code).toBe(Status.NOT_FOUND);
    expect(err.details).toBe('unknown service "nope"');
  });

  it('a handler throwing PluginError(INVALID_ARGUMENT) reaches the client with that code and message', async () => {
    const err = await errorOf(unary(client(KM), 'GenerateKey', { key_id: '', key_type: 'EC_P256' }, { deadlineMs: 5000 }));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toBe('key_id is required');
  });

  it('a handler throwing a plain Error is INTERNAL with its message', async () => {
    const err = await errorOf(unary(client(KM), 'GetPublicKey', { key_id: 'k' }, { deadlineMs: 5000 }));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toBe('boom');
  });

  it('an async handler rejecting with PluginError keeps its code', async () => {
    const err = await errorOf(unary(client(KM), 'GetPublicKeys', {}, { deadlineMs: 5000 }));
    expect(err.code).toBe(Status.NOT_FOUND);
    expect(err.details).toBe('nothing here');
  });

  it('an RPC the plugin left out is UNIMPLEMENTED', async () => {
    const err = await errorOf(unary(client(KM), 'SignData', { key_id: 'k', data: Buffer.from([1]), hash_algorithm: 'SHA256' }, { deadlineMs: 5000 }));
    expect(err.code).toBe(Status.UNIMPLEMENTED);
  });

  it('Configure: a build that throws is INVALID_ARGUMENT; Validate reports it as a note', async () => {
    const cfg = client(CONFIG_SERVICE);
    const req = { core_configuration: { trust_domain: 'example.org' }, hcl_configuration: 'bad = 1' };
    const err = await errorOf(unary(cfg, 'Configure', req, { deadlineMs: 5000 }));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toBe('bad config for example.org');
    expect(await unary(cfg, 'Validate', req, { deadlineMs: 5000 })).toEqual({ valid: false, notes: ['bad config for example.org'] });
    await unary(cfg, 'Configure', { ...req, hcl_configuration: 'good = 1' }, { deadlineMs: 5000 });
    expect(await unary(cfg, 'Validate', { ...req, hcl_configuration: '' }, { deadlineMs: 5000 })).toEqual({ valid: true, notes: [] });
  });

  it('Init advertises the services and lets the plugin dial host services announced on the broker (id 1)', async () => {
    const broker = client('plugin.GRPCBroker').StartStream();
    broker.on('data', () => undefined);
    broker.on('error', () => undefined);
    broker.write({ service_id: HOST_SERVICE_PROVIDER_ID, network: 'unix', address: join(host.dir, 'host.sock') });
    try {
      const res = await unary(client(INIT_SERVICE), 'Init', { host_service_names: [METRICS] }, { deadlineMs: 10_000 });
      expect(res.plugin_service_names).toEqual([KM, CONFIG_SERVICE]);
      expect(await hostDialed).toEqual([METRICS]);
      expect(host.counters).toEqual([['plugin', 'init']]);
      await unary(client(INIT_SERVICE), 'Deinit', {}, { deadlineMs: 5000 });
      expect(deinits).toBe(1);
    } finally {
      broker.end();
    }
  });

  it('controller Shutdown resolves `stopped`', async () => {
    await unary(client('plugin.GRPCController'), 'Shutdown', {}, { deadlineMs: 5000 });
    await expect(Promise.race([srv.stopped.then(() => 'stopped'), new Promise((r) => setTimeout(() => r('still running'), 2000))])).resolves.toBe('stopped');
  });
});

describe('deinit when stopping without a Deinit call', () => {
  it('close() runs the plugin deinit exactly once, even if Deinit already ran', async () => {
    let count = 0;
    const def = {
      service: 'spire.plugin.server.keymanager.v1.KeyManager' as const,
      impl: {},
      deinit: () => void count++,
    };
    const a = await startPluginServer(def, { log: createLogger({ write: () => undefined }) });
    await a.close();
    expect(count).toBe(1);

    count = 0;
    const b = await startPluginServer(def, { log: createLogger({ write: () => undefined }) });
    const init = createClient('spire.service.private.init.v1.Init', b.target, grpc.credentials.createInsecure());
    await unary(init, 'Deinit', {}, { deadlineMs: 5000 });
    init.close();
    await b.close();
    expect(count).toBe(1);
  });
});
