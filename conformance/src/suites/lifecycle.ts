import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import { ManagedPlugin, launchPlugin, nullLogger, unary, type Logger } from '@spire-ts/common';
import { CONFIG_SERVICE, INIT_SERVICE, Status, isServiceError, statusName } from '@spire-ts/plugin-sdk';
import { check, SkipCase, type Suite } from '../harness.js';
import type { PluginTarget } from '../target.js';

export interface LifecycleContext {
  target: PluginTarget;
  plugin: ManagedPlugin;
  log: Logger;
}

function managed(target: PluginTarget, log: Logger, restart = true): ManagedPlugin {
  return new ManagedPlugin({
    launch: target.launch,
    service: target.service,
    pluginData: target.pluginData,
    trustDomain: target.trustDomain,
    log,
    restart,
    backoff: { initialMs: 50, maxMs: 500 },
  });
}

async function expectCode(p: Promise<unknown>, code: Status, what: string): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    check(isServiceError(err), `${what}: expected a gRPC error, got ${String(err)}`);
    check(err.code === code, `${what}: expected ${statusName(code)}, got ${statusName(err.code)} (${err.details})`);
    return err as grpc.ServiceError;
  }
  throw new Error(`${what}: expected ${statusName(code)}, but the call succeeded`);
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The go-plugin / SPIRE plugin lifecycle every plugin must pass, whatever its
 * type and language.
 */
export function lifecycleSuite(target: PluginTarget, log: Logger = nullLogger): Suite<LifecycleContext> {
  return {
    name: `lifecycle ${target.side}:${target.type}:${target.name}`,
    async setup() {
      const plugin = managed(target, log);
      await plugin.start();
      return { target, plugin, log };
    },
    async teardown(ctx) {
      await ctx.plugin.stop();
    },
    cases: [
      {
        name: 'refuses to run without the magic cookie, explaining why on stderr',
        async run({ target }) {
          const env = { ...process.env };
          delete env[target.type];
          const child = spawn(target.launch.command, target.launch.args ?? [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          child.stdout.on('data', (d: Buffer) => (out += d.toString()));
          child.stderr.on('data', (d: Buffer) => (err += d.toString()));
          const code = await new Promise<number | null>((res) => {
            const t = setTimeout(() => {
              child.kill('SIGKILL');
              res(null);
            }, 10_000);
            child.on('exit', (c) => {
              clearTimeout(t);
              res(c);
            });
          });
          check(code !== null, 'plugin kept running without the magic cookie');
          check(code !== 0, 'plugin exited 0 without the magic cookie (want non-zero)');
          check(out.trim() === '', `plugin printed to stdout without the cookie: ${JSON.stringify(out.slice(0, 100))}`);
          check(err.trim() !== '', 'plugin gave no explanation on stderr');
        },
      },
      {
        name: 'prints one handshake line and serves gRPC on the announced Unix socket',
        async run({ target, log }) {
          const proc = await launchPlugin(target.launch, log);
          try {
            check(proc.handshake.network === 'unix', `expected a unix socket, got ${proc.handshake.network}`);
            check(statSync(proc.handshake.address).isSocket(), `${proc.handshake.address} is not a socket`);
            const res = await unary(proc.client('grpc.health.v1.Health'), 'Check', { service: 'plugin' }, { deadlineMs: 5000 });
            check(res.status === 'SERVING', `health status ${res.status}`);
          } finally {
            proc.signal('SIGKILL');
            await proc.waitExit(5000);
            proc.closeChannel();
          }
        },
      },
      {
        name: 'health: service "plugin" is SERVING',
        async run({ plugin }) {
          const res = await unary(plugin.serviceClient('grpc.health.v1.Health'), 'Check', { service: 'plugin' }, { deadlineMs: 5000 });
          check(res.status === 'SERVING', `health status ${res.status}`);
        },
      },
      {
        name: 'Init lists the plugin type service',
        async run({ plugin, target }) {
          const res = await unary(plugin.serviceClient(INIT_SERVICE), 'Init', { host_service_names: [] }, { deadlineMs: 5000 });
          check(res.plugin_service_names.includes(target.service), `Init answered ${JSON.stringify(res.plugin_service_names)}, missing ${target.service}`);
        },
      },
      {
        name: 'Configure with the given plugin_data succeeds',
        async run({ plugin, target }) {
          await unary(plugin.serviceClient(CONFIG_SERVICE), 'Configure', {
            core_configuration: { trust_domain: target.trustDomain },
            hcl_configuration: target.pluginData,
          }, { deadlineMs: 10_000 });
        },
      },
      {
        name: 'Configure with unparsable plugin_data fails with INVALID_ARGUMENT',
        async run({ plugin, target }) {
          await expectCode(unary(plugin.serviceClient(CONFIG_SERVICE), 'Configure', {
            core_configuration: { trust_domain: target.trustDomain },
            hcl_configuration: 'this is { not "valid',
          }, { deadlineMs: 10_000 }), Status.INVALID_ARGUMENT, 'Configure(garbage)');
        },
      },
      {
        name: 'Configure with an unknown key fails with INVALID_ARGUMENT naming the key',
        async run({ plugin, target }) {
          const err = await expectCode(unary(plugin.serviceClient(CONFIG_SERVICE), 'Configure', {
            core_configuration: { trust_domain: target.trustDomain },
            hcl_configuration: `${target.pluginData}\nconformance_unknown_key = "x"\n`,
          }, { deadlineMs: 10_000 }), Status.INVALID_ARGUMENT, 'Configure(unknown key)');
          check(err.details.includes('conformance_unknown_key'), `the error does not name the key: ${err.details}`);
        },
      },
      {
        name: 'Validate reports a bad configuration as invalid, with notes',
        async run({ plugin, target }) {
          let res;
          try {
            res = await unary(plugin.serviceClient(CONFIG_SERVICE), 'Validate', {
              core_configuration: { trust_domain: target.trustDomain },
              hcl_configuration: `${target.pluginData}\nconformance_unknown_key = "x"\n`,
            }, { deadlineMs: 10_000 });
          } catch (err) {
            if (isServiceError(err) && err.code === Status.UNIMPLEMENTED) throw new SkipCase('Validate is not implemented');
            throw err;
          }
          check(!res.valid, 'Validate said an unknown key is valid');
          check(res.notes.length > 0, 'Validate gave no notes');
        },
      },
      {
        name: 'Validate agrees with Configure: the given plugin_data is valid, and empty plugin_data is valid exactly when Configure accepts it',
        async run({ plugin, target }) {
          const config = plugin.serviceClient(CONFIG_SERVICE);
          const core = { trust_domain: target.trustDomain };
          const validate = async (hcl: string) => {
            try {
              return await unary(config, 'Validate', { core_configuration: core, hcl_configuration: hcl }, { deadlineMs: 10_000 });
            } catch (err) {
              if (isServiceError(err) && err.code === Status.UNIMPLEMENTED) throw new SkipCase('Validate is not implemented');
              throw err;
            }
          };
          const good = await validate(target.pluginData);
          check(good.valid, `Validate refused the plugin_data Configure accepts: ${good.notes.join('; ')}`);
          const empty = await validate('');
          let configured = true;
          let why = '';
          try {
            await unary(config, 'Configure', { core_configuration: core, hcl_configuration: '' }, { deadlineMs: 10_000 });
          } catch (err) {
            if (!isServiceError(err)) throw err;
            configured = false;
            why = err.details;
          } finally {
            // Back to the plugin_data the other cases expect.
            await unary(config, 'Configure', { core_configuration: core, hcl_configuration: target.pluginData }, { deadlineMs: 10_000 });
          }
          check(
            empty.valid === configured,
            configured
              ? `Validate said empty plugin_data is invalid (${empty.notes.join('; ')}), but Configure accepts it`
              : `Validate said empty plugin_data is valid, but Configure refuses it: ${why} (\`spire-server validate\` would pass a configuration that cannot start)`,
          );
          if (!empty.valid) check(empty.notes.length > 0, 'Validate gave no notes for empty plugin_data');
        },
      },
      {
        name: 'a call in flight when the plugin dies fails with UNAVAILABLE',
        async run({ target, log }) {
          const p = managed(target, log, false);
          await p.start();
          try {
            const stream = p.serviceClient('grpc.health.v1.Health').Watch({ service: 'plugin' });
            const failed = new Promise<grpc.ServiceError>((res) => stream.on('error', res));
            stream.on('data', () => undefined);
            await new Promise((r) => setTimeout(r, 100));
            process.kill(p.pid!, 'SIGKILL');
            const err = await failed;
            check(err.code === Status.UNAVAILABLE || err.code === Status.CANCELLED, `in-flight call ended with ${statusName(err.code)}, want UNAVAILABLE`);
            await expectCode(unary(p.serviceClient('grpc.health.v1.Health'), 'Check', { service: 'plugin' }, { deadlineMs: 2000 }), Status.UNAVAILABLE, 'call after crash');
          } finally {
            await p.stop();
          }
        },
      },
      {
        name: 'after a crash the host restarts it, re-initialises and re-configures it, and it serves again',
        async run({ target, log }) {
          const p = managed(target, log, true);
          await p.start();
          try {
            const first = p.pid!;
            process.kill(first, 'SIGKILL');
            await until(() => p.currentState !== 'ready', 5000, 'the crash to be noticed');
            await Promise.race([p.whenReady(), new Promise((_, rej) => setTimeout(() => rej(new Error('plugin was not restarted within 15 s')), 15_000))]);
            check(p.pid !== first, 'pid did not change after restart');
            check(p.restarts === 1, `restarts = ${p.restarts}`);
            const res = await unary(p.serviceClient('grpc.health.v1.Health'), 'Check', { service: 'plugin' }, { deadlineMs: 5000 });
            check(res.status === 'SERVING', 'restarted plugin is not serving');
          } finally {
            await p.stop();
          }
        },
      },
      {
        name: 'controller Shutdown makes the process exit promptly',
        async run({ target, log }) {
          const proc = await launchPlugin(target.launch, log);
          const pid = proc.pid;
          const t0 = Date.now();
          try {
            await unary(proc.client('plugin.GRPCController'), 'Shutdown', {}, { deadlineMs: 2000 });
          } catch {
            // a plugin may drop the connection as it stops
          }
          const exited = await proc.waitExit(2000);
          if (!exited) proc.signal('SIGKILL');
          proc.closeChannel();
          check(exited, 'plugin still running 2 s after Shutdown');
          check(!alive(pid), 'plugin pid still alive');
          log.debug('shutdown took', { ms: Date.now() - t0 });
        },
      },
    ],
  };
}
