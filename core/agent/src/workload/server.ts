/**
 * The SPIFFE Workload API endpoint: a Unix socket whose connections are
 * accepted here, identified by SO_PEERCRED (pid, uid, gid and the pid's start
 * time, read before any byte of the connection), tagged, and handed to an
 * HTTP/2 server that serves gRPC with the plugin SDK's lean server (grpc-js's
 * per-call machinery was most of the cost of a Workload API call). Handlers
 * find the caller from the call's connection; nothing the client sends can
 * change who it is.
 */
import type { Logger } from '@spire-ts/common';
import { toGrpcHandlers, type ServiceRegistrar } from '@spire-ts/plugin-sdk';
import { serviceCodecs } from '@spire-ts/proto/codec';
import type { WorkloadCache } from './cache.js';
import type { CallerProcess, WorkloadAttestation } from './attestation.js';
import { reuseEncodings } from './encoded.js';
import { workloadApiHandlers } from './handlers.js';
import { addSdsService, type SdsOptions } from './sds.js';
import { PeerCredGrpcServer } from './uds-server.js';

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

/** `SpiffeWorkloadAPI`'s methods, with X.509- and JWT-SVID responses encoded once per set of SVIDs (see encoded.ts). */
function workloadApiDefinition(): Record<string, ReturnType<typeof serviceCodecs>[string]> {
  const codecs = serviceCodecs('SpiffeWorkloadAPI');
  const x509 = codecs.FetchX509SVID;
  const jwt = codecs.FetchJWTSVID;
  if (!x509 || !jwt) throw new Error('proto: SpiffeWorkloadAPI has no FetchX509SVID or FetchJWTSVID');
  return {
    ...codecs,
    FetchX509SVID: { ...x509, responseSerialize: reuseEncodings(x509.responseSerialize) },
    FetchJWTSVID: { ...jwt, responseSerialize: reuseEncodings(jwt.responseSerialize) },
  };
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
  readonly #server: PeerCredGrpcServer;
  #closing: Promise<void> | undefined;

  constructor(options: WorkloadApiServerOptions) {
    this.#options = options;
    this.#log = options.log.with({ subsystem_name: 'endpoints' });
    this.#server = new PeerCredGrpcServer({ log: this.#log, what: 'Workload API', maxMessageBytes: MAX_REQUEST_BYTES });
  }

  /** The socket being served, once started. */
  get socketPath(): string | undefined {
    return this.#server.socketPath;
  }

  /** Open Workload API connections with known credentials. */
  get connectionCount(): number {
    return this.#server.connectionCount;
  }

  /**
   * The caller of a call on this server's socket (SO_PEERCRED at accept);
   * undefined for anything else. The connection's tag was set server-side
   * at accept, so a client cannot choose it.
   */
  callerOf(call: { getPeer(): string }): CallerProcess | undefined {
    return this.#server.callerOf(call);
  }

  /**
   * Serves the Workload API on `socketPath` (see `prepareSocketPath` for the
   * directory and stale-socket rules; the socket itself is mode 0777).
   */
  async start(socketPath: string): Promise<void> {
    if (this.#server.started) throw new Error('the Workload API server was already started');
    const server = this.#server.grpc;
    const trackStream = (end: () => void): (() => void) => this.#server.trackStream(end);
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
        trackStream,
      })),
    );
    if (this.#options.sds !== false) {
      addSdsService(server, {
        cache: this.#options.cache,
        attestation: this.#options.attestation,
        callerOf: (call) => this.callerOf(call),
        log: this.#log,
        ...(this.#options.sds ? { options: this.#options.sds } : {}),
        trackStream,
      });
    }
    this.#options.addServices?.(server);
    await this.#server.listen(socketPath, 0o777);
    this.#log.info('Starting Workload and SDS APIs', { address: socketPath, network: 'unix' });
  }

  /** Stops accepting, ends open streams (UNAVAILABLE), lets unary calls finish within the grace period, removes the socket. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const path = this.#server.socketPath;
      if (path === undefined) return;
      await this.#server.close(this.#options.shutdownGraceMs ?? 5000);
      this.#log.info('Workload API stopped', { address: path });
    })();
    return this.#closing;
  }
}
