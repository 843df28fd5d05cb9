/**
 * The server's API endpoints: gRPC over TLS on bind_address:bind_port (the
 * server presents its own X.509-SVID; a client certificate is requested, not
 * required, and verified against the trust bundle) and the same services on
 * the admin Unix socket, where every caller is "local". Before a handler
 * runs, the transport identifies the caller from the connection and checks
 * the method-level policy ({@link authorize}).
 */
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, rmSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { TLSSocket, createServer as createTlsServer, type PeerCertificate, type Server as TlsServer } from 'node:tls';
import { makeDirectories, validateX509Svid, type Logger } from '@spire-ts/common';
import { LeanGrpcServer, toGrpcHandlers, toServiceError, Status, type ServiceImpl } from '@spire-ts/plugin-sdk';
import type { ServiceName } from '@spire-ts/proto';
import { serviceCodecs } from '@spire-ts/proto/codec';
import { authorize, DEFAULT_POLICY, type Rule } from './authz.js';
import { setCaller, type Caller } from './caller.js';
import type { ApiDeps } from './deps.js';
import { apiError } from './errors.js';
import { RateLimits, callCount, ipOf, type RateLimitConfig } from './ratelimit.js';

/** The server's TLS identity: its SVID chain (leaf first) and private key, PEM. */
export interface TlsIdentity {
  readonly certChainPem: string;
  readonly keyPem: string;
}

/** One service to serve: its name and implementation. */
export interface ServiceRegistration<N extends ServiceName = ServiceName> {
  readonly name: N;
  readonly impl: ServiceImpl<N>;
}

/** Binds a service name to its implementation with the types checked. */
export function service<N extends ServiceName>(name: N, impl: ServiceImpl<N>): ServiceRegistration {
  return { name, impl } as unknown as ServiceRegistration;
}

export interface EndpointsOptions {
  readonly deps: ApiDeps;
  readonly services: readonly ServiceRegistration[];
  /** TCP listener (TLS); omitted = none. Port 0 picks a free port. */
  readonly tcp?: { readonly host: string; readonly port: number };
  /** The admin Unix socket; omitted = none. */
  readonly adminSocketPath?: string;
  /** The server's TLS identity (needed with `tcp`). */
  readonly identity?: TlsIdentity;
  readonly policy?: ReadonlyMap<string, Rule>;
  readonly log?: Logger;
  /** SPIRE's per-IP rate limits on the TCP endpoint (`server.ratelimit`); omitted = none. */
  readonly rateLimit?: RateLimitConfig;
}

type AnyHandler = (call: object, callback?: (err: unknown, value?: unknown) => void) => unknown;

interface PeerState {
  readonly bundleSequence: number;
  readonly roots: readonly Uint8Array[];
  readonly result: Caller | Error;
}

/** The TLS client's chain as presented: leaf first. */
function presentedChain(socket: TLSSocket): Uint8Array[] {
  const leaf = socket.getPeerCertificate(true) as PeerCertificate & { issuerCertificate?: PeerCertificate };
  if (!leaf || !leaf.raw) return [];
  const chain: Uint8Array[] = [];
  const seen = new Set<PeerCertificate>();
  let cur: (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined = leaf;
  while (cur && cur.raw && !seen.has(cur) && chain.length < 16) {
    seen.add(cur);
    chain.push(new Uint8Array(cur.raw));
    cur = cur.issuerCertificate;
  }
  return chain;
}

function formatAddress(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  const a = socket.remoteAddress ?? '';
  return a.includes(':') ? `[${a}]:${socket.remotePort ?? 0}` : `${a}:${socket.remotePort ?? 0}`;
}

/** Serves the API services on TLS and on the admin socket. */
export class Endpoints {
  readonly #o: EndpointsOptions;
  readonly #tlsGrpc = new LeanGrpcServer();
  readonly #localGrpc = new LeanGrpcServer();
  #tls: TlsServer | undefined;
  readonly #peers = new WeakMap<TLSSocket, PeerState>();
  readonly #limits: RateLimits | undefined;
  #started = false;

  constructor(options: EndpointsOptions) {
    this.#o = options;
    this.#limits = options.rateLimit ? new RateLimits(options.rateLimit) : undefined;
    for (const s of options.services) {
      this.#register(this.#tlsGrpc, s, (call) => this.#identifyTls(call));
      this.#register(this.#localGrpc, s, () => ({ kind: 'local' }));
    }
  }

  get #log(): Logger | undefined {
    return this.#o.log;
  }

  #register(server: LeanGrpcServer, reg: ServiceRegistration, identify: (call: { connection?: unknown }) => Caller): void {
    const codecs = serviceCodecs(reg.name);
    const handlers = toGrpcHandlers(reg.name, reg.impl as never) as Record<string, AnyHandler>;
    const wrapped: Record<string, AnyHandler> = {};
    const policy = this.#o.policy ?? DEFAULT_POLICY;
    for (const [method, handler] of Object.entries(handlers)) {
      const codec = codecs[method];
      if (!codec) continue;
      const path = codec.path;
      const streaming = codec.requestStream || codec.responseStream;
      wrapped[method] = (call, callback) => {
        const fail = (err: unknown): void => {
          if (!streaming && callback) callback(toServiceError(err));
          else (call as { emit(e: string, err: unknown): void }).emit('error', err);
        };
        let caller: Caller;
        try {
          caller = identify(call as { connection?: unknown });
        } catch (err) {
          fail(err);
          return;
        }
        setCaller(call, caller);
        const run = (): void => {
          try {
            const r = handler(call, callback);
            if (r && typeof (r as Promise<unknown>).catch === 'function') (r as Promise<unknown>).catch(fail);
          } catch (err) {
            fail(err);
          }
        };
        const limited = this.#limits && caller.kind !== 'local' ? RateLimits.methodOf(path) : undefined;
        authorize(this.#o.deps, path, caller, policy).then(
          () => {
            if (!limited || !this.#limits || caller.kind === 'local') return run();
            const c = call as { request?: unknown; on?(e: 'cancelled', fn: () => void): unknown };
            this.#limits.wait(limited, ipOf(caller.address), callCount(limited, c.request), (onCancel) => c.on?.('cancelled', onCancel)).then(run, fail);
          },
          (err: unknown) => {
            this.#log?.debug('Call denied', { method: path, caller: caller.kind === 'x509' ? caller.spiffeId : caller.kind, error: (err as Error).message });
            fail(err);
          },
        );
      };
    }
    server.addService(codecs as never, wrapped as never);
  }

  #identifyTls(call: { connection?: unknown; getPeer?: () => string }): Caller {
    const socket = call.connection;
    if (!(socket instanceof TLSSocket)) throw apiError(Status.UNAUTHENTICATED, 'not a TLS connection');
    const address = formatAddress(socket);
    const bundle = this.#o.deps.bundle();
    const prev = this.#peers.get(socket);
    let result: Caller | Error;
    if (prev && prev.bundleSequence === bundle.sequenceNumber && prev.roots.length === bundle.x509Authorities.length) result = prev.result;
    else {
      result = this.#verifyPeer(socket, address, bundle.x509Authorities);
      this.#peers.set(socket, { bundleSequence: bundle.sequenceNumber, roots: bundle.x509Authorities, result });
    }
    if (result instanceof Error) throw apiError(Status.UNAUTHENTICATED, `client certificate rejected: ${result.message}`);
    if (result.kind === 'x509' && this.#o.deps.clock.now().getTime() / 1000 > result.notAfter) {
      // The SVID expired while the connection stayed open: only what anyone may do.
      return { kind: 'anonymous', address };
    }
    return result;
  }

  #verifyPeer(socket: TLSSocket, address: string, roots: readonly Uint8Array[]): Caller | Error {
    const chain = presentedChain(socket);
    const [leaf, ...rest] = chain;
    if (!leaf) return { kind: 'anonymous', address };
    try {
      const v = validateX509Svid(leaf, rest, roots, this.#o.deps.clock.now());
      const cert = v.chain[0];
      if (!cert) return new Error('empty verified chain');
      return {
        kind: 'x509',
        address,
        spiffeId: v.spiffeId,
        serialNumber: cert.serialNumber.toString(10),
        notAfter: Math.floor(cert.notAfter.getTime() / 1000),
        chain,
      };
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /**
   * Starts the listeners; resolves when both accept connections. If one
   * cannot start (the TCP port is taken), what did start is closed again,
   * so no admin socket is left behind.
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error('endpoints already started');
    this.#started = true;
    try {
      await this.#listen();
    } catch (err) {
      await this.close(0);
      throw err;
    }
  }

  async #listen(): Promise<void> {
    if (this.#o.adminSocketPath) await this.#listenAdmin(this.#o.adminSocketPath);
    if (this.#o.tcp) {
      const id = this.#o.identity;
      if (!id) throw new Error('a TLS identity is required to serve on TCP');
      const tls = createTlsServer({
        cert: id.certChainPem,
        key: id.keyPem,
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
        ALPNProtocols: ['h2'],
      });
      tls.on('tlsClientError', () => undefined);
      // gRPC is HTTP/2 only: a client that did not negotiate h2 (no ALPN, or HTTP/1.1) is disconnected.
      tls.on('secureConnection', (socket: TLSSocket) => {
        if (socket.alpnProtocol !== 'h2') {
          socket.destroy();
          return;
        }
        this.#tlsGrpc.serveConnection(socket);
      });
      this.#tls = tls;
      const { host, port } = this.#o.tcp;
      await new Promise<void>((resolve, reject) => {
        tls.once('error', reject);
        tls.listen(port, host, () => {
          tls.off('error', reject);
          resolve();
        });
      });
      this.#log?.info('Starting Server APIs', { address: `${host}:${this.tcpAddress?.port ?? port}` });
    }
  }

  /** The TCP listener's address once started. */
  get tcpAddress(): AddressInfo | undefined {
    const a = this.#tls?.address();
    return a && typeof a === 'object' ? a : undefined;
  }

  /** Presents a new server SVID to new connections (rotation). */
  setIdentity(identity: TlsIdentity): void {
    this.#tls?.setSecureContext({ cert: identity.certChainPem, key: identity.keyPem });
  }

  async #listenAdmin(path: string): Promise<void> {
    const dir = dirname(path);
    if (!existsSync(dir)) {
      makeDirectories(dir, 0o700);
    }
    if (existsSync(path)) {
      if (!lstatSync(path).isSocket()) throw new Error(`admin socket path ${path} exists and is not a socket; remove it or set socket_path`);
      if (await socketAnswers(path)) throw new Error(`another process is serving the admin socket ${path}; stop it or set a different socket_path`);
      this.#log?.warn('Removing stale admin socket', { path });
      rmSync(path, { force: true });
    }
    await this.#localGrpc.listen(path);
    chmodSync(path, 0o770);
    this.#log?.info('Starting Server APIs', { address: path, network: 'unix' });
  }

  /** Stops accepting; calls in flight get up to `graceMs` to finish. */
  async close(graceMs = 1000): Promise<void> {
    const tls = this.#tls;
    const closing: Promise<void>[] = [this.#localGrpc.close(graceMs)];
    if (tls) {
      closing.push(new Promise<void>((r) => tls.close(() => r())));
      closing.push(this.#tlsGrpc.closeSessions(graceMs));
    }
    await Promise.all(closing);
  }
}

/** True if something accepts connections on the Unix socket at `path`. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (v: boolean): void => {
      s.destroy();
      resolve(v);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    setTimeout(() => done(false), 1000).unref();
  });
}

/** A certificate's serial as SPIRE stores it (decimal). */
export function serialOf(der: Uint8Array): string {
  return BigInt(`0x${new X509Certificate(der).serialNumber}`).toString(10);
}
