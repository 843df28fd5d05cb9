/**
 * The agent's admin API on its own Unix socket (`admin_socket_path`, SPIRE's
 * pkg/agent/api/endpoints.go): the Debug service and, when the agent has a
 * cache and workload attestors to give it, the Delegated Identity API. The
 * socket is mode 0770 and may not live in or under the Workload API socket's
 * directory. Connections are accepted here and identified by SO_PEERCRED
 * (pid, uid, gid and the pid's start time, read before any byte of the
 * connection) before they reach grpc-js, so the Delegated Identity API can
 * attest its callers.
 */
import { chmodSync } from 'node:fs';
import * as net from 'node:net';
import { dirname, resolve, sep } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '@spire-ts/common';
import { ConnectionRegistry, peerCredentialsOf, processStartTime } from '@spire-ts/peercred';
import { addService } from '@spire-ts/plugin-sdk';
import { prepareSocketPath } from '../workload/socket.js';
import type { CallerProcess, WorkloadAttestation } from '../workload/index.js';
import { agentDebugService, type AgentDebugSource } from './debug.js';
import { delegatedIdentityService, type DelegatedIdentitySource } from './delegated.js';

/** What the Delegated Identity API needs; without it the API is not served. */
export interface AdminDelegatedIdentityOptions {
  source: DelegatedIdentitySource;
  attestation: WorkloadAttestation;
  /** `authorized_delegates`: SPIFFE IDs of the callers allowed to use the API. */
  authorizedDelegates: readonly string[];
  /** How long an X.509-SVID stream waits for SVIDs still being minted; default 30 s. */
  svidWaitMs?: number;
}

export interface AdminApiServerOptions {
  source: AgentDebugSource;
  log: Logger;
  /** When the agent started. */
  startedAt: Date;
  /** The Workload API socket, when it is served: the admin socket must not be beside or below it. */
  workloadSocketPath?: string;
  /** Serve the Delegated Identity API too. */
  delegatedIdentity?: AdminDelegatedIdentityOptions;
  now?: () => Date;
}

/** SPIRE's rule: the admin socket cannot share (or sit under) the Workload API socket's directory. */
export function checkAdminSocketPath(adminSocketPath: string, workloadSocketPath: string | undefined): void {
  if (workloadSocketPath === undefined) return;
  if (resolve(adminSocketPath).startsWith(dirname(resolve(workloadSocketPath)) + sep)) {
    throw new Error('admin socket cannot be in the same directory or a subdirectory as that containing the Workload API socket');
  }
}

/**
 * @example
 * ```ts
 * const admin = new AdminApiServer({ source, log, startedAt });
 * await admin.start('/tmp/spire-agent/private/admin.sock');
 * ```
 */
export class AdminApiServer {
  readonly #o: AdminApiServerOptions;
  readonly #log: Logger;
  readonly #callers = new ConnectionRegistry<CallerProcess>();
  readonly #streams = new Set<() => void>();
  #server: grpc.Server | undefined;
  #listener: net.Server | undefined;
  #injector: ReturnType<grpc.Server['createConnectionInjector']> | undefined;
  #path: string | undefined;

  constructor(o: AdminApiServerOptions) {
    this.#o = o;
    this.#log = o.log.with({ subsystem_name: 'admin_api' });
  }

  get socketPath(): string | undefined {
    return this.#path;
  }

  /** The caller of a call on the admin socket (SO_PEERCRED at accept); undefined for anything else. */
  callerOf(call: { getPeer(): string }): CallerProcess | undefined {
    return this.#callers.get(call.getPeer());
  }

  async start(socketPath: string): Promise<void> {
    if (this.#server) throw new Error('the admin API server was already started');
    checkAdminSocketPath(socketPath, this.#o.workloadSocketPath);
    await prepareSocketPath(socketPath, this.#log);
    const server = new grpc.Server();
    addService(server, 'spire.agent.debug.v1.Debug', agentDebugService({ source: this.#o.source, log: this.#log, startedAt: this.#o.startedAt, ...(this.#o.now ? { now: this.#o.now } : {}) }));
    const d = this.#o.delegatedIdentity;
    if (d) {
      addService(
        server,
        'spire.api.agent.delegatedidentity.v1.DelegatedIdentity',
        delegatedIdentityService({
          source: d.source,
          attestation: d.attestation,
          authorizedDelegates: d.authorizedDelegates,
          callerOf: (call) => this.callerOf(call),
          log: this.#log,
          trackStream: (end) => {
            this.#streams.add(end);
            return () => this.#streams.delete(end);
          },
          ...(d.svidWaitMs !== undefined ? { svidWaitMs: d.svidWaitMs } : {}),
        }),
      );
    }
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    // Runs before any byte is read: credentials, registration, injection, all synchronous.
    const listener = net.createServer((socket) => {
      try {
        const creds = peerCredentialsOf(socket);
        this.#callers.register(socket, { ...creds, startTime: processStartTime(creds.pid) });
      } catch (err) {
        this.#log.warn('Rejected admin API connection: caller credentials unavailable', { error: (err as Error).message });
        socket.destroy();
        return;
      }
      injector.injectConnection(socket);
    });
    await new Promise<void>((ok, fail) => {
      listener.once('error', fail);
      listener.listen(socketPath, () => {
        listener.off('error', fail);
        ok();
      });
    });
    listener.on('error', (err) => this.#log.error('Admin API listener error', { error: err.message }));
    try {
      chmodSync(socketPath, 0o770);
    } catch (err) {
      await new Promise((done) => listener.close(done));
      injector.destroy();
      server.forceShutdown();
      throw new Error(`unable to change UDS permissions: ${(err as Error).message}`, { cause: err });
    }
    this.#server = server;
    this.#listener = listener;
    this.#injector = injector;
    this.#path = socketPath;
    this.#log.info('Starting Admin APIs', { address: socketPath, network: 'unix' });
  }

  async close(): Promise<void> {
    const server = this.#server;
    const listener = this.#listener;
    if (!server || !listener) return;
    this.#server = undefined;
    this.#listener = undefined;
    this.#log.info('Stopping Admin APIs');
    const closed = new Promise<void>((done) => listener.close(() => done()));
    for (const end of [...this.#streams]) end();
    await new Promise<void>((done) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        done();
      }, 2_000);
      server.tryShutdown(() => {
        clearTimeout(timer);
        done();
      });
    });
    server.forceShutdown();
    this.#injector?.destroy();
    this.#injector = undefined;
    await closed;
    this.#log.info('Admin APIs have stopped');
  }
}
