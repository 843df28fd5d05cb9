/**
 * The federation bundle endpoint (SPIRE's pkg/server/endpoints/bundle): an
 * HTTPS listener answering `GET /` with this trust domain's bundle in the
 * SPIFFE bundle format and the configured refresh hint. TLS is either the
 * server's own X509-SVID (`https_spiffe`, following its rotation) or a Web
 * PKI certificate and key read from files and re-read periodically
 * (`https_web` with `serving_cert_file`). ACME is not supported.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { encodeSpiffeBundle, type Bundle, type Logger } from '@spire-ts/common';

/** The TLS identity the endpoint serves: certificate chain (leaf first) and key, PEM. */
export interface EndpointIdentity {
  readonly certChainPem: string;
  readonly keyPem: string;
}

export type BundleEndpointAuth =
  | { readonly kind: 'https_spiffe'; readonly identity: EndpointIdentity }
  | { readonly kind: 'https_web'; readonly certFilePath: string; readonly keyFilePath: string; readonly fileSyncIntervalMs: number };

export interface BundleEndpointOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Refresh hint advertised in served bundles, ms (whole seconds are served). */
  readonly refreshHintMs: number;
  /** The trust domain's current bundle; throws or resolves undefined when there is none. */
  readonly getBundle: () => Promise<Bundle | undefined>;
  readonly auth: BundleEndpointAuth;
  readonly log: Logger;
}

/** How long a fetched bundle is served before the getter is asked again (SPIRE caches for 1 s too). */
const BUNDLE_CACHE_MS = 1_000;
/** Time allowed for a client to send its request headers (SPIRE: ReadHeaderTimeout 10 s). */
const HEADERS_TIMEOUT_MS = 10_000;
/** Idle connections are closed after this. */
const IDLE_TIMEOUT_MS = 30_000;

/** Reads and checks a PEM certificate chain and its key (the key must match the leaf). */
export function loadServingCert(certFilePath: string, keyFilePath: string): EndpointIdentity {
  let certChainPem: string;
  let keyPem: string;
  try {
    certChainPem = readFileSync(certFilePath, 'utf8');
  } catch (err) {
    throw new Error(`unable to read bundle endpoint certificate file ${certFilePath}: ${(err as Error).message}`, { cause: err });
  }
  try {
    keyPem = readFileSync(keyFilePath, 'utf8');
  } catch (err) {
    throw new Error(`unable to read bundle endpoint key file ${keyFilePath}: ${(err as Error).message}`, { cause: err });
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certChainPem);
  } catch (err) {
    throw new Error(`bundle endpoint certificate file ${certFilePath} has no valid PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new Error(`bundle endpoint key file ${keyFilePath} has no valid PEM private key: ${(err as Error).message}`, { cause: err });
  }
  if (!leaf.checkPrivateKey(key)) throw new Error(`the key in ${keyFilePath} does not match the certificate in ${certFilePath}`);
  return { certChainPem, keyPem };
}

/** The bundle endpoint server. */
export class BundleEndpointServer {
  readonly #o: BundleEndpointOptions;
  #server: https.Server | undefined;
  #cache: { at: number; body: string } | undefined;
  #syncTimer: NodeJS.Timeout | undefined;
  #served: EndpointIdentity | undefined;

  constructor(options: BundleEndpointOptions) {
    this.#o = options;
  }

  /** Starts listening; rejects if the address cannot be bound or the serving certificate cannot be loaded. */
  async start(): Promise<void> {
    if (this.#server) throw new Error('bundle endpoint already started');
    const auth = this.#o.auth;
    const identity = auth.kind === 'https_spiffe' ? auth.identity : loadServingCert(auth.certFilePath, auth.keyFilePath);
    this.#served = identity;
    const server = https.createServer(
      { cert: identity.certChainPem, key: identity.keyPem, minVersion: 'TLSv1.2', requestTimeout: HEADERS_TIMEOUT_MS * 3, headersTimeout: HEADERS_TIMEOUT_MS },
      (req, res) => void this.#handle(req, res),
    );
    server.keepAliveTimeout = 5_000;
    server.setTimeout(IDLE_TIMEOUT_MS, (socket: { destroy(): void }) => socket.destroy());
    server.on('tlsClientError', () => undefined);
    server.on('clientError', (_err, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#o.port, this.#o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    if (auth.kind === 'https_web') {
      this.#syncTimer = setInterval(() => this.#syncFiles(auth.certFilePath, auth.keyFilePath), Math.max(1_000, auth.fileSyncIntervalMs));
      this.#syncTimer.unref();
    }
    const a = this.address;
    this.#o.log.info('Serving bundle endpoint', { addr: `${this.#o.host}:${a?.port ?? this.#o.port}`, profile: auth.kind, refresh_hint: `${Math.round(this.#o.refreshHintMs / 1000)}s` });
  }

  /** The listener's address once started. */
  get address(): AddressInfo | undefined {
    const a = this.#server?.address();
    return a && typeof a === 'object' ? a : undefined;
  }

  /** Serves a new identity to new connections (server SVID rotation, `https_spiffe`). */
  setIdentity(identity: EndpointIdentity): void {
    if (!this.#server) return;
    this.#server.setSecureContext({ cert: identity.certChainPem, key: identity.keyPem });
    this.#served = identity;
  }

  #syncFiles(certFilePath: string, keyFilePath: string): void {
    let next: EndpointIdentity;
    try {
      next = loadServingCert(certFilePath, keyFilePath);
    } catch (err) {
      this.#o.log.error('Failed to reload the bundle endpoint serving certificate; keeping the current one', { error: (err as Error).message });
      return;
    }
    if (this.#served && next.certChainPem === this.#served.certChainPem && next.keyPem === this.#served.keyPem) return;
    this.setIdentity(next);
    this.#o.log.info('Bundle endpoint serving certificate reloaded', { cert_file_path: certFilePath });
  }

  async #body(): Promise<string> {
    const now = Date.now();
    if (this.#cache && now - this.#cache.at < BUNDLE_CACHE_MS) return this.#cache.body;
    const bundle = await this.#o.getBundle();
    if (!bundle) throw new Error('trust domain bundle not found');
    const body = encodeSpiffeBundle(bundle, { refreshHint: Math.round(this.#o.refreshHintMs / 1000) });
    this.#cache = { at: now, body };
    return body;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    if (req.method !== 'GET') {
      res.writeHead(405, { 'Content-Type': 'text/plain; charset=utf-8', Allow: 'GET' }).end('405 method not allowed\n');
      req.resume();
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/') {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
      return;
    }
    let body: string;
    try {
      body = await this.#body();
    } catch (err) {
      this.#o.log.error('Unable to retrieve local bundle', { error: (err as Error).message });
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('500 unable to retrieve local bundle\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }).end(body);
  }

  /** Stops listening and closes open connections. */
  async close(): Promise<void> {
    if (this.#syncTimer) clearInterval(this.#syncTimer);
    this.#syncTimer = undefined;
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
