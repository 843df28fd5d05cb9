/**
 * mTLS with SPIFFE identities for node:tls (and node:https and node:http2,
 * which take the same options): peers are authenticated by their X.509-SVID
 * chaining to the bundle of their trust domain and authorised by SPIFFE ID,
 * never by hostname; the SVID presented and the bundles trusted follow the
 * source's rotations without a restart.
 */
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import { checkAuthorized, type Authorizer } from './authorize.js';
import type { SpiffeId } from './spiffeid.js';
import { verifyX509Svid, type X509Bundle, type X509BundleSource, type X509Svid } from './x509.js';

/**
 * What the TLS helpers read: the SVID to present, the bundles to trust, and
 * update notifications. An {@link X509Source} is one.
 */
export interface X509TlsSource extends X509BundleSource {
  getX509Svid(): X509Svid;
  getX509Bundles(): X509Bundle[];
  on(event: 'update', listener: () => void): () => void;
}

/** The PEM key, certificate chain and trusted authorities (every bundle) for a secure context. */
export function secureContextOptions(source: X509TlsSource): { key: string; cert: string; ca: string[] } {
  const svid = source.getX509Svid();
  return {
    key: svid.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    cert: svid.certificates.map((c) => c.toString()).join(''),
    ca: source.getX509Bundles().flatMap((b) => b.authorities.map((c) => c.toString())),
  };
}

interface CachedContext {
  svid: X509Svid;
  bundles: X509Bundle[];
  context: tls.SecureContext;
}
const contexts = new WeakMap<X509TlsSource, CachedContext>();

/** A secure context for the source's current SVID and bundles (built once per rotation). */
export function currentSecureContext(source: X509TlsSource): tls.SecureContext {
  const svid = source.getX509Svid();
  const bundles = source.getX509Bundles();
  const cached = contexts.get(source);
  if (cached && cached.svid === svid && cached.bundles.length === bundles.length && cached.bundles.every((b, i) => b === bundles[i])) return cached.context;
  const context = tls.createSecureContext(secureContextOptions(source));
  contexts.set(source, { svid, bundles, context });
  return context;
}

/** The peer's chain (leaf first) as node:tls reports it (`getPeerCertificate(true)`). */
export function peerChain(cert: tls.PeerCertificate | tls.DetailedPeerCertificate): X509Certificate[] {
  const out: X509Certificate[] = [];
  const seen = new Set<string>();
  let c: tls.PeerCertificate | undefined = cert;
  while (c?.raw && c.raw.length > 0) {
    const key = c.raw.toString('base64');
    if (seen.has(key)) break;
    seen.add(key);
    out.push(new X509Certificate(c.raw));
    c = (c as Partial<tls.DetailedPeerCertificate>).issuerCertificate;
  }
  return out;
}

/**
 * Verifies a peer certificate (as node:tls gives it) against the bundles and
 * runs the authorizer on its SPIFFE ID. Returns the ID, or throws why not.
 */
export function verifyPeer(cert: tls.PeerCertificate | tls.DetailedPeerCertificate, bundles: X509BundleSource, authorizer: Authorizer): SpiffeId {
  const chain = peerChain(cert);
  if (chain.length === 0) throw new Error('spiffe: the peer presented no certificate');
  const id = verifyX509Svid(chain, bundles);
  const denied = checkAuthorized(authorizer, id);
  if (denied) throw denied;
  return id;
}

/** The verified SPIFFE ID of the peer of an established TLS socket, or `undefined`. */
export function peerSpiffeId(socket: tls.TLSSocket, bundles: X509BundleSource): SpiffeId | undefined {
  try {
    return verifyX509Svid(peerChain(socket.getPeerCertificate(true)), bundles);
  } catch {
    return undefined;
  }
}

/**
 * Options for `tls.connect`, `https.request` or `http2.connect`: present the
 * current SVID, trust the current bundles, and accept the server only if its
 * SVID verifies against its trust domain's bundle and `authorizer` accepts
 * its SPIFFE ID. The hostname is not checked. Call it for every connection
 * (it is cheap) to pick up rotations.
 *
 * @example
 * ```ts
 * const socket = tls.connect({ host: '10.0.0.5', port: 8443, ...tlsClientOptions(source, authorizeId('spiffe://example.org/api')) });
 * ```
 */
export function tlsClientOptions(source: X509TlsSource, authorizer: Authorizer): tls.ConnectionOptions {
  return {
    secureContext: currentSecureContext(source),
    rejectUnauthorized: true,
    checkServerIdentity: (_host, cert) => {
      try {
        verifyPeer(cert, source, authorizer);
        return undefined;
      } catch (err) {
        return err as Error;
      }
    },
  };
}

/**
 * Options for `tls.createServer`, `https.createServer` or
 * `http2.createSecureServer`: require a client SVID that chains to a trusted
 * bundle, and serve the current SVID (through `SNICallback` for clients that
 * send SNI). Pass the server to {@link keepServerCurrent} to authorise
 * clients by SPIFFE ID and keep the default context current; or use
 * {@link createTlsServer} / `createHttpsServer` / `createHttp2SecureServer`,
 * which do both.
 */
export function tlsServerOptions(source: X509TlsSource): tls.TlsOptions {
  return {
    ...secureContextOptions(source),
    requestCert: true,
    rejectUnauthorized: true,
    SNICallback: (_servername, cb) => {
      try {
        cb(null, currentSecureContext(source));
      } catch (err) {
        cb(err as Error, undefined);
      }
    },
  };
}

/**
 * Makes a TLS server (tls, https or http2 secure) SPIFFE-aware: every new
 * connection is checked (chain to the peer's trust domain bundle, then the
 * authorizer) before the server's own connection handling sees it, and
 * rejected ones are destroyed and reported through `tlsClientError`; the
 * default secure context follows the source's rotations. Call it right after
 * creating the server, before adding your own `secureConnection` listeners.
 * Returns a function that stops following rotations (also done on `close`).
 */
export function keepServerCurrent(server: tls.Server, source: X509TlsSource, authorizer: Authorizer): () => void {
  const inner = server.listeners('secureConnection') as ((socket: tls.TLSSocket) => void)[];
  server.removeAllListeners('secureConnection');
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    try {
      verifyPeer(socket.getPeerCertificate(true), source, authorizer);
    } catch (err) {
      const e = err as Error;
      socket.destroy(e);
      server.emit('tlsClientError', e, socket);
      return;
    }
    for (const l of inner) l.call(server, socket);
  });
  const off = source.on('update', () => {
    try {
      server.setSecureContext(secureContextOptions(source));
    } catch (err) {
      server.emit('error', err);
    }
  });
  server.once('close', off);
  return off;
}

/**
 * A node:tls server doing SPIFFE mTLS.
 *
 * @example
 * ```ts
 * const server = createTlsServer(source, authorizeMemberOf('example.org'), (socket) => socket.end('hi'));
 * server.listen(8443);
 * ```
 */
export function createTlsServer(source: X509TlsSource, authorizer: Authorizer, listener?: (socket: tls.TLSSocket) => void, options: tls.TlsOptions = {}): tls.Server {
  const server = tls.createServer({ ...options, ...tlsServerOptions(source) }, listener);
  keepServerCurrent(server, source, authorizer);
  return server;
}
