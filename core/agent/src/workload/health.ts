/**
 * `grpc.health.v1.Health` on the Workload API socket, as SPIRE's agent
 * serves it for `spire-agent healthcheck`: only the overall health ("")
 * may be asked, and the agent is SERVING when a Workload API call on its
 * own socket answers — with SVIDs, or PermissionDenied (the checker itself
 * is rarely a registered workload). `List` and `Watch` are UNIMPLEMENTED,
 * as in SPIRE.
 *
 * @module
 */

import * as grpc from '@grpc/grpc-js';
import { unixSocketTarget } from '@spire-ts/common';
import type { Logger } from '@spire-ts/common';
import { PluginError, Status, addService } from '@spire-ts/plugin-sdk';
import type { ServiceImpl, ServiceRegistrar } from '@spire-ts/plugin-sdk';
import { createClient } from '@spire-ts/proto';

/** What the health service needs. */
export interface WorkloadHealthOptions {
  /** The Workload API socket to probe (the one the service is served on). */
  readonly socketPath: string;
  /** When the Workload API is not served on the socket, report SERVING without probing. */
  readonly disableWorkloadApi?: boolean;
  /** Longest a probe may take; default 10 s. */
  readonly probeTimeoutMs?: number;
  readonly log?: Logger;
}

type Probe = () => Promise<number>;

/** One FetchX509SVID on the socket: resolves with the status code of its first answer (0 for a message). */
function probeSocket(socketPath: string, timeoutMs: number): Probe {
  return () =>
    new Promise<number>((resolve) => {
      const client = createClient('SpiffeWorkloadAPI', unixSocketTarget(socketPath), grpc.credentials.createInsecure());
      const md = new grpc.Metadata();
      md.set('workload.spiffe.io', 'true');
      const stream = client.FetchX509SVID({}, md, { deadline: Date.now() + timeoutMs });
      let done = false;
      const finish = (code: number): void => {
        if (done) return;
        done = true;
        stream.cancel();
        client.close();
        resolve(code);
      };
      stream.on('data', () => finish(Status.OK));
      stream.on('error', (err: grpc.ServiceError) => finish(err.code));
      stream.on('end', () => finish(Status.UNAVAILABLE));
    });
}

/**
 * The health service's handlers.
 *
 * @example
 * ```ts
 * const impl = workloadHealthService({ socketPath: '/tmp/spire-agent/public/api.sock' });
 * ```
 */
export function workloadHealthService(options: WorkloadHealthOptions): ServiceImpl<'grpc.health.v1.Health'> {
  const probe = probeSocket(options.socketPath, options.probeTimeoutMs ?? 10_000);
  return {
    async Check(req) {
      if (req.service !== '') throw new PluginError(Status.INVALID_ARGUMENT, 'per-service health is not supported');
      if (options.disableWorkloadApi) return { status: 'SERVING' };
      const code = await probe();
      if (code === Status.OK || code === Status.PERMISSION_DENIED) return { status: 'SERVING' };
      options.log?.warn('Health check failed', { reason: 'unable to fetch X.509 context from Workload API', code });
      return { status: 'NOT_SERVING' };
    },
  };
}

/**
 * Registers `grpc.health.v1.Health` on the Workload API's grpc server; pass
 * it as the server's `addServices` hook.
 *
 * @example
 * ```ts
 * new WorkloadApiServer({ ..., addServices: (s) => addWorkloadHealthService(s, { socketPath, log }) });
 * ```
 */
export function addWorkloadHealthService(server: ServiceRegistrar, options: WorkloadHealthOptions): void {
  addService(server, 'grpc.health.v1.Health', workloadHealthService(options));
}
