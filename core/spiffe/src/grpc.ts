/**
 * SPIFFE mTLS for grpc-js: channel and server credentials that follow the
 * source's rotations (through grpc-js certificate providers) and authorise
 * the peer by SPIFFE ID.
 */
import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { checkAuthorized, type Authorizer } from './authorize.js';
import { secureContextOptions, verifyPeer, type X509TlsSource } from './tls.js';
import { spiffeIdFromCertificate, verifyX509Svid } from './x509.js';
import type { SpiffeId } from './spiffeid.js';

type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdListener = grpc.experimental.IdentityCertificateUpdateListener;

/** A grpc-js certificate provider fed by a source: identity = the SVID, CA = every bundle. */
export class SourceCertificateProvider implements grpc.experimental.CertificateProvider {
  readonly #offs = new Map<CaListener | IdListener, () => void>();
  constructor(readonly source: X509TlsSource) {}

  // grpc-js registers its watcher after adding the listener, so the first
  // value is delivered on the next tick (as its own file watcher does).
  #subscribe(listener: CaListener | IdListener, send: () => void): void {
    this.#offs.get(listener)?.();
    const off = this.source.on('update', send);
    this.#offs.set(listener, off);
    process.nextTick(() => {
      if (this.#offs.get(listener) === off) send();
    });
  }

  addCaCertificateListener(listener: CaListener): void {
    this.#subscribe(listener, () => listener({ caCertificate: Buffer.from(secureContextOptions(this.source).ca.join('')) }));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#offs.get(listener)?.();
    this.#offs.delete(listener);
  }

  addIdentityCertificateListener(listener: IdListener): void {
    this.#subscribe(listener, () => {
      const o = secureContextOptions(this.source);
      listener({ certificate: Buffer.from(o.cert), privateKey: Buffer.from(o.key) });
    });
  }

  removeIdentityCertificateListener(listener: IdListener): void {
    this.#offs.get(listener)?.();
    this.#offs.delete(listener);
  }
}

/**
 * Channel credentials: present the current SVID, accept the server only if
 * its SVID chains to its trust domain's bundle and `authorizer` accepts its
 * SPIFFE ID (the target hostname is not checked).
 *
 * @example
 * ```ts
 * const client = new GreeterClient('10.0.0.5:50051', grpcChannelCredentials(source, authorizeId('spiffe://example.org/greeter')));
 * ```
 */
export function grpcChannelCredentials(source: X509TlsSource, authorizer: Authorizer): grpc.ChannelCredentials {
  const provider = new SourceCertificateProvider(source);
  return grpc.experimental.createCertificateProviderChannelCredentials(provider, provider, {
    checkServerIdentity: (_host, cert) => {
      try {
        verifyPeer(cert, source, authorizer);
        return undefined;
      } catch (err) {
        return err as Error;
      }
    },
  });
}

/** The SPIFFE ID of the client of a grpc-js server call (from its verified TLS certificate), or `undefined`. */
export function grpcCallerId(call: { getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } } }): SpiffeId | undefined {
  const raw = call.getAuthContext().sslPeerCertificate?.raw;
  if (!raw) return undefined;
  try {
    return spiffeIdFromCertificate(new X509Certificate(raw));
  } catch {
    return undefined;
  }
}

/**
 * Server credentials: require a client SVID chaining to a trusted bundle,
 * serve the current SVID, and answer calls from peers `authorizer` rejects
 * with PERMISSION_DENIED (UNAUTHENTICATED when the peer's leaf is not a
 * valid SVID of a trust domain we hold a bundle for).
 *
 * Note: grpc-js exposes only the peer's leaf to the server, so the chain is
 * checked by OpenSSL against every trusted bundle and the leaf here against
 * its own trust domain's bundle when it is issued directly by an authority.
 *
 * @example
 * ```ts
 * server.bindAsync('0.0.0.0:50051', grpcServerCredentials(source, authorizeMemberOf('example.org')), cb);
 * ```
 */
export function grpcServerCredentials(source: X509TlsSource, authorizer: Authorizer): grpc.ServerCredentials {
  const provider = new SourceCertificateProvider(source);
  const creds = grpc.experimental.createCertificateProviderServerCredentials(provider, provider, true);
  const interceptor: grpc.ServerInterceptor = (_method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, mdNext) => {
            const reject = (code: grpc.status, details: string): void => call.sendStatus({ code, details, metadata: new grpc.Metadata() });
            const raw = call.getAuthContext().sslPeerCertificate?.raw;
            if (!raw) return reject(grpc.status.UNAUTHENTICATED, 'spiffe: the peer presented no certificate');
            let id: SpiffeId;
            try {
              const leaf = new X509Certificate(raw);
              id = spiffeIdFromCertificate(leaf);
              const bundle = source.getX509Bundle(id.trustDomain);
              if (!bundle) throw new Error(`x509svid: no X.509 bundle for trust domain "${id.trustDomain.name}"`);
              // Issued directly by an authority: it must be one of its own trust domain's.
              const direct = source.getX509Bundles().some((b) => b.authorities.some((a) => leaf.checkIssued(a) && leaf.verify(a.publicKey)));
              if (direct) verifyX509Svid([leaf], source);
            } catch (err) {
              return reject(grpc.status.UNAUTHENTICATED, (err as Error).message);
            }
            const denied = checkAuthorized(authorizer, id);
            if (denied) return reject(grpc.status.PERMISSION_DENIED, denied.message);
            mdNext(metadata);
          },
        });
      },
    });
  return grpc.experimental.createServerCredentialsWithInterceptors(creds, [interceptor]);
}
