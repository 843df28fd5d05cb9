/**
 * The SPIFFE Workload API endpoint: a Unix socket whose connections are
 * accepted here, identified by SO_PEERCRED (pid, uid, gid and the pid's start
 * time, read before any byte of the connection), tagged, and handed to an
 * HTTP/2 server that serves gRPC with the plugin SDK's lean server (grpc-js's
 * per-call machinery was most of the cost of a Workload API call). Handlers
 * find the caller from the call's connection; nothing the client sends can
 * change who it is.
 */
import { chmodSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import type { Logger } from '@spire-ts/common';
import { ConnectionRegistry, peerCredentialsOf, processStartTime } from '@spire-ts/peercred';
import { LeanGrpcServer, toGrpcHandlers, type ServiceRegistrar } from '@spire-ts/plugin-sdk';
import { serviceCodecs } from '@spire-ts/proto/codec';
import type { WorkloadCache } from './cache.js';
import type { CallerProcess, WorkloadAttestation } from './attestation.js';
import { reuseEncodings } from './encoded.js';
import { workloadApiHandlers } from './handlers.js';
import { prepareSocketPath } from './socket.js';
import { addSdsService, type SdsOptions } from './sds.js';

export interface WorkloadApiServerOptions {
  cache: WorkloadCache;
  attestation: WorkloadAttestation;
  /** The agent's trust domain (bare name). */
  trustDomain: string;
  log: Logger;
  /** SPIRE `allowed_foreign_jwt_claims`. */
  allowedForeignJwtClaims?: readonly string[];
  /** SPIRE `allow_unauthenticated_verifiers`. */
  allowUnauthenticatedVerifiers?: boolean;
  /**
   * Envoy SDS v3 on the same socket (SPIRE serves it unless `disable_sds_api`):
   * its resource names, or `false` not to serve it. Default: served with SPIRE's names.
   */
  sds?: SdsOptions | false;
  /** Registers more services on the same socket (health, ...); they find callers with {@link WorkloadApiServer.callerOf}. */
  addServices?: (server: ServiceRegistrar) => void;
  /** How long close() lets calls finish before cutting connections; default 5 s. */
  shutdownGraceMs?: number;
}

/** Largest request message accepted: Workload API requests are a few hundred bytes. */
const MAX_REQUEST_BYTES = 4 << 20;

/** `SpiffeWorkloadAPI`'s methods, with X.509-SVID responses encoded once per set of SVIDs (see encoded.ts). */
function workloadApiDefinition(): Record<string, ReturnType<typeof serviceCodecs>[string]> {
  const codecs = serviceCodecs('SpiffeWorkloadAPI');
  const x509 = codecs.FetchX509SVID;
  if (!x509) throw new Error('proto: SpiffeWorkloadAPI has no FetchX509SVID');
  return { ...codecs, FetchX509SVID: { ...x509, responseSerialize: reuseEncodings(x509.responseSerialize) } };
}

/** The connection a lean call arrived on (HTTP/2's proxy of the accepted socket). */
function connectionOf(call: object): { remoteAddress?: string | undefined } | undefined {
  return (call as { connection?: { remoteAddress?: string | undefined } }).connection;
}

/**
 * @example
 * ```ts
 * const api = new WorkloadApiServer({ cache, attestation, trustDomain: 'example.org', log });
 * await api.start('/tmp/spire-agent/public/api.sock');
 * // ...
 * await api.close();
 * ```
 */
export class WorkloadApiServer {
  readonly #options: WorkloadApiServerOptions;
  readonly #log: Logger;
  readonly #callers = new ConnectionRegistry<CallerProcess>();
  readonly #streams = new Set<() => void>();
  #grpc: LeanGrpcServer | undefined;
  #listener: net.Server | undefined;
  #socketPath: string | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: WorkloadApiServerOptions) {
    this.#options = options;
    this.#log = options.log.with({ subsystem_name: 'endpoints' });
  }

  /** The socket being served, once started. */
  get socketPath(): string | undefined {
    return this.#socketPath;
  }

  /** Open Workload API connections with known credentials. */
  get connectionCount(): number {
    return this.#callers.size;
  }

  /**
   * The caller of a call on this server's socket (SO_PEERCRED at accept);
   * undefined for anything else. The connection's tag was set server-side
   * at accept, so a client cannot choose it.
   */
  callerOf(call: { getPeer(): string }): CallerProcess | undefined {
    const tag = connectionOf(call)?.remoteAddress;
    return tag === undefined ? undefined : this.#callers.get(tag);
  }

  /**
   * Serves the Workload API on `socketPath` (see `prepareSocketPath` for the
   * directory and stale-socket rules; the socket itself is mode 0777).
   */
  async start(socketPath: string): Promise<void> {
    if (this.#listener || this.#closing) throw new Error('the Workload API server was already started');
    await prepareSocketPath(socketPath, this.#log);

    const server = new LeanGrpcServer({ maxMessageBytes: MAX_REQUEST_BYTES });
    server.addService(
      workloadApiDefinition(),
      toGrpcHandlers('SpiffeWorkloadAPI', workloadApiHandlers({
        cache: this.#options.cache,
        attestation: this.#options.attestation,
        callerOf: (call) => this.callerOf(call),
        trustDomain: this.#options.trustDomain,
        log: this.#log,
        allowedForeignJwtClaims: new Set(this.#options.allowedForeignJwtClaims ?? []),
        allowUnauthenticatedVerifiers: this.#options.allowUnauthenticatedVerifiers ?? false,
        trackStream: (end) => {
          this.#streams.add(end);
          return () => this.#streams.delete(end);
        },
      })),
    );
    if (this.#options.sds !== false) {
      addSdsService(server, {
        cache: this.#options.cache,
        attestation: this.#options.attestation,
        callerOf: (call) => this.callerOf(call),
        log: this.#log,
        ...(this.#options.sds ? { options: this.#options.sds } : {}),
        trackStream: (end) => {
          this.#streams.add(end);
          return () => this.#streams.delete(end);
        },
      });
    }
    this.#options.addServices?.(server);
    // Never listens itself: it only speaks HTTP/2 on the sockets accepted below.
    // Requests are a few hundred bytes: HTTP/2's default 64 KiB stream window is plenty.
    const h2 = http2.createServer({ settings: { enablePush: false } });
    server.attach(h2);

    // Runs before any byte is read: credentials, registration, hand-over, all synchronous.
    const listener = net.createServer((socket) => {
      try {
        const creds = peerCredentialsOf(socket);
        this.#callers.register(socket, { ...creds, startTime: processStartTime(creds.pid) });
      } catch (err) {
        this.#log.warn('Rejected Workload API connection: caller credentials unavailable', { error: (err as Error).message });
        socket.destroy();
        return;
      }
      h2.emit('connection', socket);
    });
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(socketPath, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    listener.on('error', (err) => this.#log.error('Workload API listener error', { error: err.message }));
    try {
      chmodSync(socketPath, 0o777);
    } catch (err) {
      await new Promise((resolve) => listener.close(resolve));
      throw new Error(`unable to change UDS permissions: ${(err as Error).message}`, { cause: err });
    }
    this.#grpc = server;
    this.#listener = listener;
    this.#socketPath = socketPath;
    this.#log.info('Starting Workload and SDS APIs', { address: socketPath, network: 'unix' });
  }

  /** Stops accepting, ends open streams (UNAVAILABLE), lets unary calls finish within the grace period, removes the socket. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const listener = this.#listener;
    const server = this.#grpc;
    if (!listener || !server) return;
    const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
    for (const end of [...this.#streams]) end();
    await server.closeSessions(this.#options.shutdownGraceMs ?? 5000);
    await closed;
    this.#log.info('Workload API stopped', { address: this.#socketPath });
  }
}
