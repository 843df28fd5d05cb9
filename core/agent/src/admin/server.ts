/**
 * The agent's admin API on its own Unix socket (`admin_socket_path`, SPIRE's
 * pkg/agent/api/endpoints.go): the Debug service. The socket is mode 0770
 * and may not live in or under the Workload API socket's directory.
 */
import { chmodSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '@spire-ts/common';
import { addService } from '@spire-ts/plugin-sdk';
import { prepareSocketPath } from '../workload/socket.js';
import { agentDebugService, type AgentDebugSource } from './debug.js';

export interface AdminApiServerOptions {
  source: AgentDebugSource;
  log: Logger;
  /** When the agent started. */
  startedAt: Date;
  /** The Workload API socket, when it is served: the admin socket must not be beside or below it. */
  workloadSocketPath?: string;
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
  #server: grpc.Server | undefined;
  #path: string | undefined;

  constructor(o: AdminApiServerOptions) {
    this.#o = o;
    this.#log = o.log.with({ subsystem_name: 'admin_api' });
  }

  get socketPath(): string | undefined {
    return this.#path;
  }

  async start(socketPath: string): Promise<void> {
    if (this.#server) throw new Error('the admin API server was already started');
    checkAdminSocketPath(socketPath, this.#o.workloadSocketPath);
    await prepareSocketPath(socketPath, this.#log);
    const server = new grpc.Server();
    addService(server, 'spire.agent.debug.v1.Debug', agentDebugService({ source: this.#o.source, log: this.#log, startedAt: this.#o.startedAt, ...(this.#o.now ? { now: this.#o.now } : {}) }));
    await new Promise<void>((ok, fail) => server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? fail(err) : ok())));
    try {
      chmodSync(socketPath, 0o770);
    } catch (err) {
      server.forceShutdown();
      throw new Error(`unable to change UDS permissions: ${(err as Error).message}`, { cause: err });
    }
    this.#server = server;
    this.#path = socketPath;
    this.#log.info('Starting Admin APIs', { address: socketPath, network: 'unix' });
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    this.#log.info('Stopping Admin APIs');
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
    this.#log.info('Admin APIs have stopped');
  }
}
