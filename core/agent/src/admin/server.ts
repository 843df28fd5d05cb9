/**
 * The agent's admin API on its own Unix socket (`admin_socket_path`, SPIRE's
 * pkg/agent/api/endpoints.go): the Debug service and, when the agent has a
 * cache and workload attestors to give it, the Delegated Identity API. The
 * socket is mode 0770 and may not live in or under the Workload API socket's
 * directory. Connections are identified by SO_PEERCRED before any byte of
 * them is read, as on the Workload API socket (the same server,
 * workload/uds-server.ts), so the Delegated Identity API can attest its callers.
 */
import { dirname, resolve, sep } from 'node:path';
import type { Logger } from '@spire-ts/common';
import { addService } from '@spire-ts/plugin-sdk';
import { PeerCredGrpcServer } from '../workload/uds-server.js';
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
  readonly #server: PeerCredGrpcServer;
  #closed = false;

  constructor(o: AdminApiServerOptions) {
    this.#o = o;
    this.#log = o.log.with({ subsystem_name: 'admin_api' });
    this.#server = new PeerCredGrpcServer({ log: this.#log, what: 'admin API', maxMessageBytes: 4 << 20 });
  }

  get socketPath(): string | undefined {
    return this.#server.socketPath;
  }

  /** The caller of a call on the admin socket (SO_PEERCRED at accept); undefined for anything else. */
  callerOf(call: object): CallerProcess | undefined {
    return this.#server.callerOf(call);
  }

  async start(socketPath: string): Promise<void> {
    if (this.#server.started) throw new Error('the admin API server was already started');
    checkAdminSocketPath(socketPath, this.#o.workloadSocketPath);
    const server = this.#server.grpc;
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
          trackStream: (end) => this.#server.trackStream(end),
          ...(d.svidWaitMs !== undefined ? { svidWaitMs: d.svidWaitMs } : {}),
        }),
      );
    }
    await this.#server.listen(socketPath, 0o770);
    this.#log.info('Starting Admin APIs', { address: socketPath, network: 'unix' });
  }

  async close(): Promise<void> {
    if (this.#server.socketPath === undefined || this.#closed) return;
    this.#closed = true;
    this.#log.info('Stopping Admin APIs');
    await this.#server.close(2_000);
    this.#log.info('Admin APIs have stopped');
  }
}
