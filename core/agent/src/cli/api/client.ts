/**
 * The agent CLI's connection to the Workload API socket: which socket
 * (`-socketPath`, `-instance` with SPIRE_AGENT_PUBLIC_SOCKET_TEMPLATE,
 * SPIRE_AGENT_PUBLIC_SOCKET, then SPIFFE_ENDPOINT_SOCKET, then the
 * default), calls with the `workload.spiffe.io: true` header and the
 * `-timeout` deadline, and gRPC failures worded as grpc-go prints them.
 *
 * @module
 */

import { isAbsolute, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { isServiceError, rpcErrorText, selectSocketPath, unixSocketTarget } from '@spire-ts/common';
import type { CliEnv, SocketRules } from '@spire-ts/common';
import { createClient } from '@spire-ts/proto';
import type { ServiceClientOf } from '@spire-ts/proto';

/** SPIRE's default Workload API socket. */
export const DEFAULT_SOCKET_PATH = '/tmp/spire-agent/public/api.sock';

/** The SPIFFE Workload Endpoint address variable. */
export const ENDPOINT_ENV = 'SPIFFE_ENDPOINT_SOCKET';

/** An error already worded for the user: printed as it is, exit 1. */
export class ApiCliError extends Error {
  override readonly name = 'ApiCliError';
  /** The gRPC status code and message when the error is an RPC failure. */
  readonly rpc: { readonly code: number; readonly details: string } | undefined;

  constructor(message: string, rpc?: { readonly code: number; readonly details: string }) {
    super(message);
    this.rpc = rpc;
  }
}

/**
 * The socket path of a SPIFFE_ENDPOINT_SOCKET value (`unix:///path` or
 * `unix:/path`), with go-spiffe's errors for anything else.
 *
 * @example
 * ```ts
 * endpointSocketPath('unix:///run/spire/api.sock'); // '/run/spire/api.sock'
 * endpointSocketPath('unix:api.sock'); // throws: workload endpoint unix socket URI must not be opaque
 * ```
 */
export function endpointSocketPath(value: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(value);
  const scheme = m?.[1]?.toLowerCase();
  if (scheme === 'tcp') {
    throw new ApiCliError('workload endpoint tcp sockets are not supported here: spire-agent serves the Workload API on a Unix socket (use unix:///path)');
  }
  if (!m || scheme !== 'unix') throw new ApiCliError('workload endpoint socket URI must have a "tcp" or "unix" scheme');
  let rest = m[2]!;
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    if (hash < rest.length - 1) throw new ApiCliError('workload endpoint unix socket URI must not include a fragment');
    rest = rest.slice(0, hash);
  }
  const q = rest.indexOf('?');
  if (q >= 0) {
    if (q < rest.length - 1) throw new ApiCliError('workload endpoint unix socket URI must not include query values');
    rest = rest.slice(0, q);
  }
  let path: string;
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    const authority = slash < 0 ? rest.slice(2) : rest.slice(2, slash);
    path = slash < 0 ? '' : rest.slice(slash);
    if (authority.includes('@')) throw new ApiCliError('workload endpoint unix socket URI must not include user info');
    if (authority !== '') throw new ApiCliError(`workload endpoint unix socket URI must not include a host (got ${JSON.stringify(authority)}; use unix:///path)`);
  } else if (rest.startsWith('/')) {
    path = rest;
  } else {
    throw new ApiCliError(rest === '' ? 'workload endpoint unix socket URI must include a path' : 'workload endpoint unix socket URI must not be opaque');
  }
  if (path === '') throw new ApiCliError('workload endpoint unix socket URI must include a path');
  try {
    return decodeURIComponent(path);
  } catch {
    throw new ApiCliError(`workload endpoint socket is not a valid URI: invalid escape in ${JSON.stringify(path)}`);
  }
}

const SOCKET_RULES: SocketRules = {
  templateEnv: 'SPIRE_AGENT_PUBLIC_SOCKET_TEMPLATE',
  socketEnv: 'SPIRE_AGENT_PUBLIC_SOCKET',
  defaultPath: DEFAULT_SOCKET_PATH,
  missingTemplate: (v) => `${v} environment variable must be defined when using the instance flag`,
  fallback: (get) => {
    const endpoint = get(ENDPOINT_ENV);
    if (endpoint === '') return undefined;
    try {
      return endpointSocketPath(endpoint);
    } catch (err) {
      throw new ApiCliError(`invalid ${ENDPOINT_ENV} ${JSON.stringify(endpoint)}: ${(err as Error).message}`);
    }
  },
};

/**
 * The socket to dial: an explicit `-socketPath`, then `-instance` in the
 * template, then SPIRE_AGENT_PUBLIC_SOCKET, then SPIFFE_ENDPOINT_SOCKET,
 * then the default; made absolute against `cwd`.
 *
 * @example
 * ```ts
 * agentSocketPath({ socketPath: '', instance: '' }, { SPIFFE_ENDPOINT_SOCKET: 'unix:///run/api.sock' }, '/'); // '/run/api.sock'
 * ```
 */
export function agentSocketPath(flags: { readonly socketPath: string; readonly instance: string }, env: CliEnv, cwd: string): string {
  let path: string;
  try {
    path = selectSocketPath(flags, env, SOCKET_RULES);
  } catch (err) {
    throw err instanceof ApiCliError ? err : new ApiCliError((err as Error).message);
  }
  return isAbsolute(path) ? path : resolve(cwd, path);
}

/**
 * An RPC failure in grpc-go's words (`rpc error: code = PermissionDenied desc = no identity issued`);
 * a failure to connect also says which socket was dialled.
 */
export function agentRpcErrorText(err: unknown, socketPath: string): string {
  return rpcErrorText(err, ` (is spire-agent running with its Workload API socket at ${socketPath}? set -socketPath or ${ENDPOINT_ENV})`);
}

export type WorkloadClient = ServiceClientOf<'SpiffeWorkloadAPI'>;

/**
 * One connection to the Workload API socket.
 *
 * @example
 * ```ts
 * const conn = new WorkloadConnection('/tmp/spire-agent/public/api.sock', 5000);
 * const resp = await conn.first((c, md, opts) => c.FetchX509SVID({}, md, opts));
 * conn.close();
 * ```
 */
export class WorkloadConnection {
  readonly client: WorkloadClient;

  constructor(
    readonly socketPath: string,
    /** Deadline of each call, or 0 for none. */
    readonly timeoutMs: number,
  ) {
    this.client = createClient('SpiffeWorkloadAPI', unixSocketTarget(socketPath), grpc.credentials.createInsecure());
  }

  /** The security header SPIRE's agent requires. */
  metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set('workload.spiffe.io', 'true');
    return md;
  }

  /** Call options with the deadline, if any. */
  options(): grpc.CallOptions {
    return this.timeoutMs > 0 ? { deadline: Date.now() + this.timeoutMs } : {};
  }

  /** A unary call (callback style adapted), its failure in grpc-go's words with `context`. */
  unary<T>(call: (c: WorkloadClient, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: T) => void) => unknown, context?: string): Promise<T> {
    return new Promise<T>((resolveCall, reject) => {
      call(this.client, this.metadata(), this.options(), (err, res) => {
        if (err) reject(this.error(err, context));
        else resolveCall(res!);
      });
    });
  }

  /** The first message of a server stream (then cancelled), or its failure. */
  first<T>(open: (c: WorkloadClient, md: grpc.Metadata, opts: grpc.CallOptions) => grpc.ClientReadableStream<T>, context?: string): Promise<T> {
    return new Promise<T>((resolveCall, reject) => {
      const stream = open(this.client, this.metadata(), this.options());
      let done = false;
      stream.on('data', (msg: T) => {
        if (done) return;
        done = true;
        stream.cancel();
        resolveCall(msg);
      });
      stream.on('error', (err: grpc.ServiceError) => {
        if (done) return;
        done = true;
        reject(this.error(err, context));
      });
      stream.on('end', () => {
        if (done) return;
        done = true;
        reject(new ApiCliError(`${context ? `${context}: ` : ''}rpc error: code = Internal desc = the stream ended without a message`));
      });
    });
  }

  /** A failure as the user sees it. */
  error(err: unknown, context?: string): ApiCliError {
    const text = agentRpcErrorText(err, this.socketPath);
    return new ApiCliError(context ? `${context}: ${text}` : text, isServiceError(err) ? { code: err.code, details: err.details } : undefined);
  }

  close(): void {
    this.client.close();
  }
}
