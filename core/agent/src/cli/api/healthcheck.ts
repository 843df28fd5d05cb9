/**
 * `spire-agent healthcheck`, as SPIRE's: `grpc.health.v1.Health/Check` on
 * the agent's Workload API socket; `Agent is healthy.` and exit 0 when it
 * answers SERVING, else `Agent is unhealthy: ...` on stderr and exit 1.
 * `-shallow` is accepted (SPIRE does nothing more with it either).
 *
 * @module
 */

import * as grpc from '@grpc/grpc-js';
import { HEALTHCHECK_FLAGS, unixSocketTarget } from '@spire-ts/common';
import { createClient } from '@spire-ts/proto';
import type { healthV1 } from '@spire-ts/proto';
import { agentRpcErrorText } from './client.js';
import type { ApiCommand } from './command.js';

/** One Check call; resolves with the status name, rejects with the RPC error. */
function check(socketPath: string): Promise<string> {
  const client = createClient('grpc.health.v1.Health', unixSocketTarget(socketPath), grpc.credentials.createInsecure());
  return new Promise<string>((resolve, reject) => {
    client.Check({ service: '' }, (err: grpc.ServiceError | null, res?: healthV1.HealthCheckResponse__Output) => {
      client.close();
      if (err) reject(err);
      else resolve(String(res!.status));
    });
  });
}

export const healthcheck: ApiCommand = {
  name: 'healthcheck',
  synopsis: 'Determines agent health status',
  socketUsage: 'Path to the SPIRE Agent API socket',
  flags: HEALTHCHECK_FLAGS,
  async run(ctx) {
    const verbose = ctx.flags.bool('verbose');
    if (verbose) ctx.io.stdout('Checking agent health...\n');
    let status: string;
    try {
      status = await check(ctx.socketPath);
    } catch (err) {
      if (verbose) ctx.io.stderr(`Failed to check health: ${agentRpcErrorText(err, ctx.socketPath)}\n`);
      ctx.io.stderr('Agent is unhealthy: unable to determine health\n');
      return 1;
    }
    if (status !== 'SERVING') {
      ctx.io.stderr(`Agent is unhealthy: agent returned status ${JSON.stringify(status)}\n`);
      return 1;
    }
    ctx.io.stdout('Agent is healthy.\n');
    return 0;
  },
};
