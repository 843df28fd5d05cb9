import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { ServiceClientOf, ServiceName } from '@spire-ts/proto';
import {
  CONFIG_SERVICE,
  HOST_SERVICE_PROVIDER_ID,
  INIT_SERVICE,
  Status,
  addService,
  isServiceError,
  statusName,
  type PluginType,
  type ServiceImpl,
} from '@spire-ts/plugin-sdk';
import type { Logger } from '../log/logger.js';
import { PluginHostError, pluginLabel } from './errors.js';
import { launchPlugin, type ExitInfo, type LaunchSpec, type PluginProcess } from './launch.js';
import { unary, type RequestOf, type ResponseOf } from './rpc.js';
import { serviceError, type UnaryMethodOf } from './h2rpc.js';
import { forgetHostDir, hostShutdownReason, trackHostDir } from './reaper.js';

/** A host service offered to plugins over the broker (service id 1). */
export interface HostServiceRegistration {
  name: ServiceName;
  impl: ServiceImpl<ServiceName>;
}

export interface ManagedPluginOptions {
  launch: LaunchSpec;
  /** The plugin type's service the plugin must implement. */
  service: ServiceName;
  /** `plugin_data` as text; undefined = no plugin_data block. */
  pluginData?: string;
  trustDomain: string;
  log: Logger;
  hostServices?: HostServiceRegistration[];
  /** Restart after a crash (default true). */
  restart?: boolean;
  backoff?: BackoffOptions;
  /** Grace periods for stop(). */
  stopGraceMs?: number;
  /** Called with each state change (for health and tests). */
  onState?: (state: PluginState, detail?: string) => void;
}

/**
 * Restart backoff after crashes: the n-th consecutive restart waits about
 * `initialMs * 2^(n-1)`, capped at `maxMs`, less up to `jitter` of it at
 * random (so plugins that crashed together do not restart in lockstep). The
 * count starts over only once a plugin has stayed up `resetAfterMs`: a plugin
 * that crashes soon after every (re)start keeps backing off.
 */
export interface BackoffOptions {
  /** First delay (default 200 ms). */
  initialMs?: number;
  /** Longest delay (default 30 s). */
  maxMs?: number;
  /** Fraction of each delay taken off at random, 0 to 1 (default 0.2). */
  jitter?: number;
  /** Uptime after which a crash counts as the first again (default the larger of 60 s and maxMs). */
  resetAfterMs?: number;
}

/**
 * The delay before restart number `attempt` (1 for the first after a
 * stable run), given `random` in [0, 1).
 *
 * @example
 * ```ts
 * restartDelayMs(3, { initialMs: 200, maxMs: 30_000, jitter: 0 }, Math.random); // 800
 * ```
 */
export function restartDelayMs(attempt: number, backoff: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = backoff.initialMs ?? 200;
  const max = Math.max(backoff.maxMs ?? 30_000, initial);
  const jitter = Math.min(1, Math.max(0, backoff.jitter ?? 0.2));
  // The exponent is capped so 2^n stays finite; the cap on the delay is reached long before.
  const base = Math.min(max, initial * 2 ** Math.min(Math.max(attempt - 1, 0), 40));
  return Math.round(base * (1 - jitter * random()));
}

export type PluginState = 'starting' | 'ready' | 'crashed' | 'restarting' | 'stopping' | 'stopped';

/** Longest a load step (Init, Configure) may take. */
const RPC_DEADLINE_MS = 30_000;

/**
 * A plugin under supervision: launched, handshaken, initialised and
 * configured; restarted with capped exponential backoff (and re-initialised
 * and re-configured) if it crashes; stopped in order (Deinit, controller
 * Shutdown, SIGTERM, SIGKILL).
 */
export class ManagedPlugin<N extends ServiceName = ServiceName> {
  readonly type: PluginType;
  readonly name: string;
  readonly label: string;
  private proc: PluginProcess | undefined;
  private state: PluginState = 'starting';
  private restartTimer: NodeJS.Timeout | undefined;
  /** A restart being launched; stop() waits for it so the new process is not left behind. */
  private restarting: Promise<void> | undefined;
  /** Restarts since the plugin last stayed up `resetAfterMs` (drives the backoff). */
  private attempts = 0;
  /** When the current process became ready (performance.now()). */
  private upSince = 0;
  private hostServer: { server: grpc.Server; dir: string; address: string } | undefined;
  private readyWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  private stopping: Promise<void> | undefined;
  private readonly log: Logger;
  /** Number of times the plugin has been (re)started after a crash. */
  restarts = 0;

  constructor(private readonly opts: ManagedPluginOptions & { service: N }) {
    this.type = opts.launch.type;
    this.name = opts.launch.name;
    this.label = pluginLabel(this.type, this.name);
    this.log = opts.log.with({ plugin_type: this.type, plugin_name: this.name, subsystem_name: 'catalog' });
  }

  get currentState(): PluginState {
    return this.state;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** How the current (or last) plugin process exited, once it has. */
  get lastExit(): ExitInfo | undefined {
    return this.proc?.exitStatus;
  }

  /** The typed client of the plugin type's service on the current process. */
  get client(): ServiceClientOf<N> {
    if (!this.proc) throw new PluginHostError('ERR_PLUGIN_UNAVAILABLE', `${this.label}: plugin is not running`);
    return this.proc.client(this.opts.service);
  }

  /**
   * Calls a unary RPC of the plugin type's service over the lean HTTP/2 path.
   * While the plugin is down (crashed, restarting) this fails with UNAVAILABLE.
   *
   * @example
   * ```ts
   * const res = await km.call('SignData', { key_id: 'x509-CA-A', data: digest, hash_algorithm: 'SHA256' });
   * ```
   */
  call<M extends UnaryMethodOf<ServiceClientOf<N>>>(
    method: M,
    request: RequestOf<ServiceClientOf<N>[M]>,
    options?: { deadlineMs?: number; metadata?: grpc.Metadata },
  ): Promise<ResponseOf<ServiceClientOf<N>[M]>> {
    const proc = this.proc;
    if (!proc || proc.hasExited) return Promise.reject(serviceError(Status.UNAVAILABLE, `${this.label}: plugin is not running`));
    return proc.rpc.unary(this.opts.service, method, request, options);
  }

  /** A client for another service the plugin implements. */
  serviceClient<M extends ServiceName>(name: M): ServiceClientOf<M> {
    if (!this.proc) throw new PluginHostError('ERR_PLUGIN_UNAVAILABLE', `${this.label}: plugin is not running`);
    return this.proc.client(name);
  }

  /** Resolves when the plugin is ready (again); rejects if it is stopped first. */
  whenReady(): Promise<void> {
    if (this.state === 'ready') return Promise.resolve();
    if (this.state === 'stopping' || this.state === 'stopped') {
      return Promise.reject(new PluginHostError('ERR_PLUGIN_UNAVAILABLE', `${this.label}: plugin is stopped`));
    }
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  private setState(s: PluginState, detail?: string): void {
    this.state = s;
    this.opts.onState?.(s, detail);
    if (s === 'ready' || s === 'stopping') {
      const w = this.readyWaiters;
      this.readyWaiters = [];
      const err = new PluginHostError('ERR_PLUGIN_UNAVAILABLE', `${this.label}: plugin is stopping`);
      for (const fn of w) {
        if (s === 'ready') fn.resolve();
        else fn.reject(err);
      }
    }
  }

  /** Launches and configures the plugin; throws a {@link PluginHostError} on any failure (leaving nothing running). */
  async start(): Promise<void> {
    this.setState('starting');
    await this.startHostServices();
    try {
      await this.launchAndConfigure();
    } catch (err) {
      await this.stopHostServices();
      this.setState('stopped');
      throw err;
    }
    this.upSince = performance.now();
    this.setState('ready');
  }

  private async launchAndConfigure(): Promise<void> {
    const proc = await launchPlugin(this.opts.launch, this.opts.log);
    try {
      await this.connect(proc);
    } catch (err) {
      await this.kill(proc, 0);
      throw err;
    }
    const previous = this.proc;
    this.proc = proc;
    previous?.closeChannel();
    // Decided a turn of the event loop later, so a signal that reached the
    // host together with the plugin (a process-group signal) is seen first.
    void proc.exited.then((info) => setImmediate(() => this.onExit(proc, info.code, info.signal)));
  }

  /**
   * SPIRE's `validate`: launches the plugin, initialises it, asks it to
   * Validate its plugin_data (never Configure, so it opens or creates
   * nothing), and stops it. Returns the plugin's notes (empty = valid);
   * throws a {@link PluginHostError} if it cannot be launched or initialised.
   */
  async validateOnly(): Promise<string[]> {
    await this.startHostServices();
    let proc: PluginProcess;
    try {
      proc = await launchPlugin(this.opts.launch, this.opts.log);
    } catch (err) {
      await this.stopHostServices();
      throw err;
    }
    try {
      const hasConfig = await this.initialize(proc);
      const data = this.opts.pluginData ?? '';
      if (!hasConfig) return data.trim() === '' ? [] : [`plugin_data was given but the plugin does not implement ${CONFIG_SERVICE}`];
      try {
        const res = await unary(proc.client(CONFIG_SERVICE), 'Validate', {
          core_configuration: { trust_domain: this.opts.trustDomain },
          hcl_configuration: data,
        }, { deadlineMs: RPC_DEADLINE_MS });
        // Like SPIRE, any note makes the configuration invalid.
        const notes = [...res.notes];
        if (!res.valid && notes.length === 0) notes.push('the plugin reported the configuration as invalid, without saying why');
        return notes;
      } catch (err) {
        // Like SPIRE: a plugin without Validate has nothing to say.
        if (isServiceError(err) && err.code === Status.UNIMPLEMENTED) return [];
        return [describe(err)];
      }
    } finally {
      await this.kill(proc, this.opts.stopGraceMs ?? 2000, true);
      await this.stopHostServices();
    }
  }

  private async connect(proc: PluginProcess): Promise<void> {
    const hasConfig = await this.initialize(proc);
    if (!hasConfig) {
      if (this.opts.pluginData !== undefined && this.opts.pluginData.trim() !== '') {
        throw new PluginHostError('ERR_PLUGIN_CONFIGURE', `${this.label}: plugin_data was given but the plugin does not implement ${CONFIG_SERVICE}`);
      }
      return;
    }
    await this.configure(proc);
  }

  /** Broker and stdio streams, then Init; checks the type's service is offered. Returns whether Config is. */
  private async initialize(proc: PluginProcess): Promise<boolean> {
    // go-plugin: the host opens the broker stream right after connecting, then announces host services on id 1.
    const broker = proc.client('plugin.GRPCBroker').StartStream();
    broker.on('error', () => undefined);
    broker.on('data', () => undefined);
    if (this.hostServer) {
      broker.write({ service_id: HOST_SERVICE_PROVIDER_ID, network: 'unix', address: this.hostServer.address });
    }
    const stdio = proc.client('plugin.GRPCStdio').StreamStdio({});
    stdio.on('data', (d: { channel: string; data: Buffer }) => this.log.debug(d.data.toString('utf8').trimEnd(), { stdio: d.channel }));
    stdio.on('error', () => undefined);

    const hostNames = (this.opts.hostServices ?? []).map((h) => h.name);
    let offered: string[];
    try {
      const res = await unary(proc.client(INIT_SERVICE), 'Init', { host_service_names: hostNames }, { deadlineMs: RPC_DEADLINE_MS });
      offered = res.plugin_service_names;
    } catch (err) {
      throw new PluginHostError('ERR_PLUGIN_INIT', `${this.label}: Init failed: ${describe(err)}`, { cause: err });
    }
    if (!offered.includes(this.opts.service)) {
      throw new PluginHostError(
        'ERR_PLUGIN_INIT',
        `${this.label}: plugin does not implement ${this.opts.service} (it offers ${offered.length ? offered.join(', ') : 'nothing'}); is it a ${this.type} plugin for this side?`,
      );
    }
    return offered.includes(CONFIG_SERVICE);
  }

  private async configure(proc: PluginProcess): Promise<void> {
    try {
      await unary(
        proc.client(CONFIG_SERVICE),
        'Configure',
        { core_configuration: { trust_domain: this.opts.trustDomain }, hcl_configuration: this.opts.pluginData ?? '' },
        { deadlineMs: RPC_DEADLINE_MS },
      );
    } catch (err) {
      throw new PluginHostError('ERR_PLUGIN_CONFIGURE', `${this.label}: failed to configure: ${describe(err)}`, {
        cause: err,
        grpcCode: isServiceError(err) ? (err.code as Status) : Status.INTERNAL,
      });
    }
  }

  /** Asks the plugin to check a configuration without applying it (SPIRE's `validate`). */
  async validate(pluginData: string): Promise<{ valid: boolean; notes: string[] }> {
    const res = await unary(this.serviceClient(CONFIG_SERVICE), 'Validate', {
      core_configuration: { trust_domain: this.opts.trustDomain },
      hcl_configuration: pluginData,
    }, { deadlineMs: RPC_DEADLINE_MS });
    return { valid: res.valid, notes: res.notes };
  }

  private onExit(proc: PluginProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (proc !== this.proc) return;
    // The channel stays open until a new process replaces this one: calls made
    // meanwhile fail with UNAVAILABLE rather than "channel has been shut down".
    if (this.state === 'stopping' || this.state === 'stopped') return;
    const how = signal ? `killed by ${signal}` : `exit code ${code}`;
    const shutdown = hostShutdownReason();
    if (shutdown !== undefined) {
      // The signal that stops the host reached the plugin too: an expected exit, not a crash.
      this.log.debug('Plugin exited while the host is shutting down', { pid: proc.pid, status: how, reason: shutdown });
      return;
    }
    const uptime = performance.now() - this.upSince;
    this.log.error('Plugin exited unexpectedly', { pid: proc.pid, status: how, uptime_ms: Math.round(uptime) });
    this.setState('crashed', how);
    if (this.opts.restart === false) return;
    // Only a plugin that stayed up a while starts the backoff over.
    const b = this.opts.backoff;
    if (uptime >= (b?.resetAfterMs ?? Math.max(60_000, b?.maxMs ?? 30_000))) this.attempts = 0;
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    this.attempts++;
    const delay = restartDelayMs(this.attempts, this.opts.backoff);
    this.log.info('Restarting plugin', { attempt: this.attempts, delay_ms: delay });
    this.restartTimer = setTimeout(() => {
      this.restarting = this.restart().finally(() => (this.restarting = undefined));
    }, delay);
  }

  private async restart(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped' || hostShutdownReason() !== undefined) return;
    this.setState('restarting');
    try {
      await this.launchAndConfigure();
    } catch (err) {
      this.log.error('Plugin restart failed', { error: describe(err) });
      if (this.state === 'restarting') this.scheduleRestart();
      return;
    }
    if ((this.state as PluginState) === 'stopping') return;
    this.restarts++;
    this.upSince = performance.now();
    this.log.info('Plugin restarted and reconfigured', { pid: this.proc?.pid });
    this.setState('ready');
  }

  /** Orderly stop: Deinit, controller Shutdown, then SIGTERM and SIGKILL if it lingers. */
  stop(): Promise<void> {
    if (this.state === 'stopped') return Promise.resolve();
    // Concurrent callers share one kill sequence.
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.setState('stopping');
    clearTimeout(this.restartTimer);
    await this.restarting;
    const proc = this.proc;
    if (proc) await this.kill(proc, this.opts.stopGraceMs ?? 2000, true);
    await this.stopHostServices();
    this.setState('stopped');
  }

  private async kill(proc: PluginProcess, graceMs: number, deinit = false): Promise<void> {
    if (!proc.hasExited) {
      if (deinit) {
        try {
          await unary(proc.client(INIT_SERVICE), 'Deinit', {}, { deadlineMs: 5000 });
        } catch (err) {
          if (!(isServiceError(err) && err.code === Status.UNIMPLEMENTED)) this.log.debug('Deinit failed', { error: describe(err) });
        }
      }
      try {
        await unary(proc.client('plugin.GRPCController'), 'Shutdown', {}, { deadlineMs: Math.max(graceMs, 500) });
      } catch {
        /* the process may already be going away */
      }
      if (!(await proc.waitExit(graceMs))) {
        proc.signal('SIGTERM');
        if (!(await proc.waitExit(graceMs))) {
          this.log.warn('Plugin did not exit; killing it', { pid: proc.pid });
          proc.signal('SIGKILL');
          await proc.waitExit(5000);
        }
      }
    }
    proc.closeChannel();
  }

  private async startHostServices(): Promise<void> {
    if (!this.opts.hostServices?.length || this.hostServer) return;
    const dir = mkdtempSync(join(tmpdir(), 'spire-host'));
    trackHostDir(dir);
    const address = join(dir, 'host.sock');
    const server = new grpc.Server();
    for (const hs of this.opts.hostServices) addService(server, hs.name, hs.impl);
    try {
      await new Promise<void>((res, rej) => server.bindAsync(`unix:${address}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
    } catch (err) {
      server.forceShutdown();
      rmSync(dir, { recursive: true, force: true });
      forgetHostDir(dir);
      throw err;
    }
    this.hostServer = { server, dir, address };
  }

  private async stopHostServices(): Promise<void> {
    const hs = this.hostServer;
    if (!hs) return;
    this.hostServer = undefined;
    await new Promise<void>((r) => hs.server.tryShutdown(() => r()));
    rmSync(hs.dir, { recursive: true, force: true });
    forgetHostDir(hs.dir);
  }
}

/** A readable description of a gRPC or other error. */
export function describe(err: unknown): string {
  if (isServiceError(err)) return `${statusName(err.code)}: ${err.details}`;
  return err instanceof Error ? err.message : String(err);
}
