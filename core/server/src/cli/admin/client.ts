/**
 * The admin commands' connection to spire-server's private API socket:
 * where the socket is (`-socketPath`, `-instance` with
 * SPIRE_SERVER_PRIVATE_SOCKET_TEMPLATE, SPIRE_SERVER_PRIVATE_SOCKET), one
 * grpc-js channel shared by the service clients, and gRPC errors worded as
 * grpc-go prints them (`rpc error: code = NotFound desc = ...`; see
 * @spire-ts/common's cli/rpc.ts).
 *
 * @module
 */

import { credentials } from '@grpc/grpc-js';
import type * as grpc from '@grpc/grpc-js';
import { rpcErrorText, selectSocketPath, unary, unixSocketTarget } from '@spire-ts/common';
import type { CliEnv, RequestOf, ResponseOf, SocketRules } from '@spire-ts/common';
import { createClient } from '@spire-ts/proto';
import type { ServiceClientOf, ServiceName } from '@spire-ts/proto';

/** SPIRE's default admin socket. */
export const DEFAULT_SOCKET_PATH = '/tmp/spire-server/private/api.sock';

const SOCKET_RULES: SocketRules = {
  templateEnv: 'SPIRE_SERVER_PRIVATE_SOCKET_TEMPLATE',
  socketEnv: 'SPIRE_SERVER_PRIVATE_SOCKET',
  defaultPath: DEFAULT_SOCKET_PATH,
  missingTemplate: (v) => `you must define ${v} to use the instance flag`,
};

/**
 * The socket to dial, as SPIRE chooses it: an explicit `-socketPath`, then
 * `-instance` in the template, then the environment, then the default.
 *
 * @example
 * ```ts
 * socketPathFor({ socketPath: DEFAULT_SOCKET_PATH, instance: 'a' }, { SPIRE_SERVER_PRIVATE_SOCKET_TEMPLATE: '/run/%i.sock' }); // '/run/a.sock'
 * ```
 */
export function socketPathFor(flags: { readonly socketPath: string; readonly instance: string }, env: CliEnv): string {
  return selectSocketPath({ socketPath: flags.socketPath === DEFAULT_SOCKET_PATH ? '' : flags.socketPath, instance: flags.instance }, env, SOCKET_RULES);
}

/** An RPC failure in grpc-go's words; connection failures also say which socket was dialled. */
export function adminRpcErrorText(err: unknown, socketPath: string): string {
  return rpcErrorText(err, ` (is spire-server running with its API socket at ${socketPath}? set -socketPath to the server's socket_path)`);
}

/** An error already worded for the user: printed as `Error: <message>`. */
export class AdminError extends Error {
  override readonly name = 'AdminError';
}

/**
 * One admin connection: typed unary calls on the services behind the socket.
 *
 * @example
 * ```ts
 * const conn = new AdminConnection('/tmp/spire-server/private/api.sock');
 * const count = await conn.call('spire.api.server.entry.v1.Entry', 'CountEntries', { filter: {} });
 * conn.close();
 * ```
 */
export class AdminConnection {
  private readonly clients = new Map<string, grpc.Client>();

  constructor(readonly socketPath: string) {}

  private client<N extends ServiceName>(name: N): ServiceClientOf<N> {
    let c = this.clients.get(name);
    if (!c) {
      const first = this.clients.values().next().value;
      const options: grpc.ClientOptions = first ? { channelOverride: first.getChannel() } : {};
      c = createClient(name, unixSocketTarget(this.socketPath), credentials.createInsecure(), options) as unknown as grpc.Client;
      this.clients.set(name, c);
    }
    return c as unknown as ServiceClientOf<N>;
  }

  /** Calls `method` of `service`; a failure is rethrown as an {@link AdminError} in grpc-go's words, prefixed with `context`. */
  async call<N extends ServiceName, M extends keyof ServiceClientOf<N> & string>(
    service: N,
    method: M,
    request: RequestOf<ServiceClientOf<N>[M]>,
    context?: string,
  ): Promise<ResponseOf<ServiceClientOf<N>[M]>> {
    const client = this.client(service) as unknown as grpc.Client & ServiceClientOf<N>;
    try {
      const res: unknown = await unary(client, method as keyof typeof client & string, request as never);
      return res as ResponseOf<ServiceClientOf<N>[M]>;
    } catch (err) {
      const text = adminRpcErrorText(err, this.socketPath);
      throw new AdminError(context ? `${context}: ${text}` : text);
    }
  }

  /** Closes the channel. */
  close(): void {
    const first = this.clients.values().next().value;
    for (const c of this.clients.values()) c.close();
    first?.getChannel().close();
    this.clients.clear();
  }
}
