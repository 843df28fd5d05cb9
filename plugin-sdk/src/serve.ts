import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import type { ServiceName } from '@spire-ts/proto';
import { LeanGrpcServer } from './transport/server.js';
import { PluginError, Status } from './errors.js';
import { addService, type ServiceImpl } from './handlers.js';
import { createLogger, type Logger } from './logger.js';
import {
  APP_PROTOCOL_VERSION,
  CONFIG_SERVICE,
  CORE_PROTOCOL_VERSION,
  INIT_SERVICE,
  pluginTypeOfService,
  type PluginType,
} from './plugin-types.js';
import { Broker, HostServices } from './broker.js';
import { ConfigError, describeIssue } from './config/index.js';

/** What the host sends in Configure and Validate. */
export interface ConfigureInput {
  /** Bare trust domain name, e.g. `example.org`. */
  trustDomain: string;
  /** The `plugin_data` block as HCL (or JSON) text; may be empty. */
  hclConfiguration: string;
}

/**
 * Configuration handling shared by Configure and Validate (SPIRE's pluginconf
 * pattern): `build` parses and checks, `apply` takes effect. A `build` that
 * throws makes Configure fail with INVALID_ARGUMENT (or the thrown
 * {@link PluginError}'s code) and Validate answer `valid: false` with notes.
 */
export interface ConfigHandler<T> {
  build(input: ConfigureInput): T | Promise<T>;
  apply(config: T): void | Promise<void>;
}

/**
 * A plugin: the type's service implementation plus optional configuration,
 * host services and teardown.
 *
 * @example
 * ```ts
 * const plugin: PluginDefinition<'spire.plugin.server.keymanager.v1.KeyManager', Cfg> = {
 *   service: 'spire.plugin.server.keymanager.v1.KeyManager',
 *   impl: keyManager,
 *   config: { build: parseCfg, apply: (cfg) => keyManager.configure(cfg) },
 * };
 * ```
 */
export interface PluginDefinition<N extends ServiceName, C = unknown> {
  service: N;
  impl: ServiceImpl<N>;
  config?: ConfigHandler<C>;
  /** Host services the plugin would like (full names); they arrive via {@link PluginDefinition.onHostServices}. */
  hostServices?: string[];
  /** Called after Init with a handle to dial the host services the host offered. */
  onHostServices?: (hosts: HostServices) => void | Promise<void>;
  /** Called on Init/Deinit before the host unloads the plugin. */
  deinit?: () => void | Promise<void>;
  /** Extra gRPC services this process implements (advertised in Init). */
  extraServices?: { [K in ServiceName]?: ServiceImpl<K> };
}

/** A running plugin gRPC server. */
export interface PluginServer {
  /** `unix:/path` target for grpc-js. */
  readonly target: string;
  /** The socket path (the fourth handshake field). */
  readonly socketPath: string;
  readonly type: PluginType;
  /** Resolves when a Shutdown request or signal asked the plugin to stop. */
  readonly stopped: Promise<void>;
  close(): Promise<void>;
}

const MAX_MESSAGE = 2 ** 31 - 1 - 5;

function configNotes(err: unknown): string[] {
  if (err instanceof ConfigError && err.issues.length > 0) return err.issues.map(describeIssue);
  return [err instanceof Error ? err.message : String(err)];
}

function toConfigError(err: unknown): PluginError {
  if (err instanceof PluginError) return err;
  return new PluginError(Status.INVALID_ARGUMENT, err instanceof Error ? err.message : String(err), { cause: err });
}

/**
 * Starts the plugin's gRPC server on a Unix socket in a fresh private
 * directory, without the go-plugin environment checks. {@link serve} uses
 * it; tests use it to run a plugin in-process over the real wire.
 */
export async function startPluginServer<N extends ServiceName, C>(
  def: PluginDefinition<N, C>,
  opts: { socketDir?: string; log?: Logger } = {},
): Promise<PluginServer> {
  const kind = pluginTypeOfService(def.service);
  if (!kind) throw new TypeError(`plugin-sdk: ${def.service} is not a plugin service`);
  const log = opts.log ?? createLogger();
  const dir = mkdtempSync(join(opts.socketDir ?? tmpdir(), 'plugin'));
  const socketPath = join(dir, 'plugin.sock');
  const server = new LeanGrpcServer({ maxMessageBytes: MAX_MESSAGE });

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  const openStreams = new Set<grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>>();
  const broker = new Broker();

  // go-plugin internals.
  addService(server, 'grpc.health.v1.Health', {
    Check(req) {
      if (req.service === '' || req.service === 'plugin') return { status: 'SERVING' };
      throw new PluginError(Status.NOT_FOUND, `unknown service ${JSON.stringify(req.service)}`);
    },
    List() {
      return { statuses: { plugin: { status: 'SERVING' }, '': { status: 'SERVING' } } };
    },
    Watch(call: grpc.ServerWritableStream<{ service: string }, unknown>) {
      openStreams.add(call);
      call.on('cancelled', () => openStreams.delete(call));
      const known = call.request.service === '' || call.request.service === 'plugin';
      call.write({ status: known ? 'SERVING' : 'SERVICE_UNKNOWN' });
    },
  });
  addService(server, 'plugin.GRPCController', {
    Shutdown() {
      setImmediate(() => resolveStopped());
      return {};
    },
  });
  addService(server, 'plugin.GRPCBroker', {
    StartStream: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
      openStreams.add(call);
      broker.attach(call);
      call.on('close', () => openStreams.delete(call));
    },
  });
  addService(server, 'plugin.GRPCStdio', {
    // Our logs go straight to fd 2, so there is nothing to forward: keep the stream open and quiet.
    StreamStdio: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      openStreams.add(call);
      call.on('cancelled', () => openStreams.delete(call));
    },
  });

  // SPIRE's layer.
  // Deinit runs once: on the host's Deinit, or when the process stops without one
  // (Shutdown, SIGTERM, host gone), so a plugin always gets to release its resources.
  let deinitDone: Promise<void> | undefined;
  const deinitOnce = (): Promise<void> => (deinitDone ??= Promise.resolve().then(() => def.deinit?.()));
  const advertised = [def.service, ...(def.config ? [CONFIG_SERVICE] : []), ...Object.keys(def.extraServices ?? {})];
  addService(server, INIT_SERVICE, {
    async Init(req) {
      if (def.onHostServices) {
        await def.onHostServices(new HostServices(broker, req.host_service_names, def.hostServices ?? []));
      }
      return { plugin_service_names: advertised };
    },
    async Deinit() {
      await deinitOnce();
      return {};
    },
  });
  if (def.config) {
    const cfg = def.config;
    addService(server, CONFIG_SERVICE, {
      async Configure(req) {
        const input = { trustDomain: req.core_configuration?.trust_domain ?? '', hclConfiguration: req.hcl_configuration };
        let built: C;
        try {
          built = await cfg.build(input);
        } catch (err) {
          throw toConfigError(err);
        }
        await cfg.apply(built);
        return {};
      },
      async Validate(req) {
        const input = { trustDomain: req.core_configuration?.trust_domain ?? '', hclConfiguration: req.hcl_configuration };
        try {
          await cfg.build(input);
          return { valid: true, notes: [] };
        } catch (err) {
          return { valid: false, notes: configNotes(err) };
        }
      },
    });
  }
  addService(server, def.service, def.impl);
  for (const [name, impl] of Object.entries(def.extraServices ?? {})) {
    addService(server, name as ServiceName, impl as ServiceImpl<ServiceName>);
  }

  await server.listen(socketPath);

  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    try {
      await Promise.race([deinitOnce(), new Promise((r) => setTimeout(r, 5000).unref())]);
    } catch (err) {
      log.warn('deinit failed while stopping', { error: err instanceof Error ? err.message : String(err) });
    }
    for (const s of openStreams) {
      try { s.end(); } catch { /* already gone */ }
    }
    broker.close();
    await server.close(1000);
    rmSync(dir, { recursive: true, force: true });
    log.trace('plugin server closed');
  };
  return { target: `unix:${socketPath}`, socketPath, type: kind.type, stopped, close };
}

/** Options for {@link serve}; the defaults are the real process. */
export interface ServeOptions {
  env?: NodeJS.ProcessEnv;
  /** Logger for the SDK's own messages (defaults to hclog JSON on stderr). */
  log?: Logger;
  /** Seconds between checks that the host is still our parent. */
  parentCheckIntervalMs?: number;
}

/**
 * The entry point of a plugin binary: checks that it was started by a host
 * (go-plugin magic cookie and protocol version), serves on a private Unix
 * socket, prints the handshake line on stdout, and exits when the host asks
 * (controller Shutdown or SIGTERM) or goes away.
 *
 * @example
 * ```ts
 * #!/usr/bin/env node
 * import { serve } from '@spire-ts/plugin-sdk';
 * await serve({ service: 'spire.plugin.server.keymanager.v1.KeyManager', impl: myKeyManager });
 * ```
 */
export async function serve<N extends ServiceName, C>(def: PluginDefinition<N, C>, opts: ServeOptions = {}): Promise<void> {
  const env = opts.env ?? process.env;
  const kind = pluginTypeOfService(def.service);
  if (!kind) throw new TypeError(`plugin-sdk: ${def.service} is not a plugin service`);
  const cookie = kind.type;
  const program = process.argv[1] ? process.argv[1].split('/').pop() : 'this program';
  if (env[cookie] !== cookie) {
    process.stderr.write(
      `${program} is a spire-ts ${cookie} plugin: it is started by spire-server or spire-agent ` +
        `(which set ${cookie}=${cookie} in its environment), not run by hand.\n`,
    );
    process.exit(1);
  }
  const versions = (env.PLUGIN_PROTOCOL_VERSIONS ?? String(APP_PROTOCOL_VERSION)).split(',').map((v) => v.trim());
  if (!versions.includes(String(APP_PROTOCOL_VERSION))) {
    process.stderr.write(
      `${program}: the host speaks plugin protocol version(s) ${versions.join(', ')}, this plugin speaks ${APP_PROTOCOL_VERSION}\n`,
    );
    process.exit(1);
  }
  const log = opts.log ?? createLogger();
  // Like go-plugin, ignore SIGINT for our whole life, starting before the first
  // await: Ctrl-C in the host's terminal reaches the whole process group, and
  // the host stops its plugins in order (Deinit, Shutdown) itself.
  process.on('SIGINT', () => log.trace('ignoring SIGINT: the host stops this plugin'));
  const srv = await startPluginServer(def, { socketDir: env.PLUGIN_UNIX_SOCKET_DIR || undefined, log });

  let exiting = false;
  const exit = (code: number, why: string): void => {
    if (exiting) return;
    exiting = true;
    log.debug('plugin exiting', { reason: why });
    srv.close().then(() => process.exit(code), () => process.exit(code));
  };
  void srv.stopped.then(() => exit(0, 'shutdown requested by host'));
  process.on('SIGTERM', () => exit(0, 'SIGTERM'));
  process.on('SIGHUP', () => exit(0, 'SIGHUP'));
  // If the host dies without stopping us we are reparented: exit rather than linger as an orphan.
  const parent = process.ppid;
  if (parent > 1) {
    const timer = setInterval(() => {
      if (process.ppid !== parent) exit(1, 'host process is gone');
    }, opts.parentCheckIntervalMs ?? 500);
    timer.unref();
  }
  process.stdout.write(`${CORE_PROTOCOL_VERSION}|${APP_PROTOCOL_VERSION}|unix|${srv.socketPath}|grpc|\n`);
}
