/**
 * The admin commands' connection to spire-server's private API socket:
 * where the socket is (`-socketPath`, `-instance` with
 * SPIRE_SERVER_PRIVATE_SOCKET_TEMPLATE, SPIRE_SERVER_PRIVATE_SOCKET), one
 * grpc-js channel shared by the service clients, and gRPC errors worded as
 * grpc-go prints them (`rpc error: code = NotFound desc = ...`).
 *
 * @module
 */

import { credentials } from '@grpc/grpc-js';
import type * as grpc from '@grpc/grpc-js';
import { unary } from '@spire-ts/common';
import type { RequestOf, ResponseOf } from '@spire-ts/common';
import { createClient } from '@spire-ts/proto';
import type { ServiceClientOf, ServiceName } from '@spire-ts/proto';

/** SPIRE's default admin socket. */
export const DEFAULT_SOCKET_PATH = '/tmp/spire-server/private/api.sock';

const TEMPLATE_ENV = 'SPIRE_SERVER_PRIVATE_SOCKET_TEMPLATE';
const SOCKET_ENV = 'SPIRE_SERVER_PRIVATE_SOCKET';

/**
 * The socket to dial, as SPIRE chooses it: an explicit `-socketPath`, then
 * `-instance` in the template, then the environment, then the default.
 *
 * @example
 * ```ts
 * socketPathFor({ socketPath: DEFAULT_SOCKET_PATH, instance: 'a' }, { SPIRE_SERVER_PRIVATE_SOCKET_TEMPLATE: '/run/%i.sock' }); // '/run/a.sock'
 * ```
 */
export function socketPathFor(
  flags: { readonly socketPath: string; readonly instance: string },
  env: Readonly<Record<string, string | undefined>> | ((name: string) => string | undefined),
): string {
  const get = (name: string): string => (typeof env === 'function' ? env(name) : env[name]) ?? '';
  const tpl = get(TEMPLATE_ENV);
  const sock = get(SOCKET_ENV);
  if (flags.instance !== '') {
    if (tpl === '') throw new Error(`you must define ${TEMPLATE_ENV} to use the instance flag`);
    if (!tpl.includes('%i')) throw new Error(`failed to find %i in ${TEMPLATE_ENV}`);
  }
  if (flags.socketPath !== DEFAULT_SOCKET_PATH && flags.socketPath !== '') return flags.socketPath;
  if (flags.instance !== '') return tpl.replaceAll('%i', flags.instance);
  if (sock !== '') return sock;
  return DEFAULT_SOCKET_PATH;
}

const CODE_NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
] as const;

/**
 * A gRPC code as grpc-go's `codes.Code` prints it (`AlreadyExists`), which
 * SPIRE's CLI shows in per-item failures.
 *
 * @example
 * ```ts
 * goCodeName(6); // 'AlreadyExists'
 * ```
 */
export function goCodeName(code: number): string {
  return CODE_NAMES[code] ?? `Code(${code})`;
}

function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number' && 'details' in err;
}

/**
 * An RPC failure in grpc-go's words; connection failures also say which
 * socket was dialled and how to point elsewhere.
 *
 * @example
 * ```ts
 * rpcErrorText(err, '/tmp/api.sock'); // 'rpc error: code = NotFound desc = entry not found'
 * ```
 */
export function rpcErrorText(err: unknown, socketPath: string): string {
  if (!isServiceError(err)) return err instanceof Error ? err.message : String(err);
  if (err.code === 14) {
    // grpc-js: "No connection established. Last error: Error: connect ENOENT /x.sock. Resolution note: "
    const last = /Last error: (?:Error: )?(.*?)\.?\s*(?:Resolution note:.*)?$/s.exec(err.details)?.[1];
    const desc = last ? `connection error: ${last}` : err.details;
    return `rpc error: code = Unavailable desc = ${desc} (is spire-server running with its API socket at ${socketPath}? set -socketPath to the server's socket_path)`;
  }
  return `rpc error: code = ${goCodeName(err.code)} desc = ${err.details}`;
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
      c = createClient(name, `unix://${this.socketPath}`, credentials.createInsecure(), options) as unknown as grpc.Client;
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
      const text = rpcErrorText(err, this.socketPath);
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
