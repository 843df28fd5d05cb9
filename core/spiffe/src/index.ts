/**
 * `@spire-ts/spiffe`: the SPIFFE SDK for Node.js. A Workload API client and
 * sources that stay current (X.509-SVIDs, JWT-SVIDs, bundles); SPIFFE ID
 * parsing and authorizers; mTLS helpers for node:tls, node:https,
 * node:http2, grpc-js and undici that authenticate peers by SPIFFE ID and
 * follow SVID rotations; JWT-SVID bearer helpers for HTTP.
 *
 * @example
 * ```ts
 * import { X509Source, createHttpsServer, authorizeMemberOf } from '@spire-ts/spiffe';
 * const source = await X509Source.create(); // SPIFFE_ENDPOINT_SOCKET=unix:///run/spire/agent.sock
 * createHttpsServer(source, authorizeMemberOf('example.org'), (req, res) => res.end('hi')).listen(8443);
 * ```
 */
export { SpiffeId, SpiffeIdError, TrustDomain, validatePath, validatePathSegment, type SpiffeIdErrorReason } from './spiffeid.js';
export { AuthorizationError, authorizeAny, authorizeId, authorizeIf, authorizeMemberOf, authorizeOneOf, checkAuthorized, type Authorizer } from './authorize.js';
export { X509Bundle, X509BundleSet, parseX509Svid, pemCertificates, spiffeIdFromCertificate, splitDer, uriSans, verifyX509Svid, type X509BundleSource, type X509Svid } from './x509.js';
export { JwtBundle, JwtBundleSet, JwtSvidError, parseJwtSvidInsecure, validateJwtSvid, type JwtBundleSource, type JwtSvid, type ValidateJwtOptions } from './jwt.js';
export { ENDPOINT_SOCKET_ENV, endpointFromEnv, workloadApiTarget } from './address.js';
export type { BackoffOptions } from './backoff.js';
export { WorkloadApiClient, x509ContextFromResponse, type Watch, type Watcher, type WorkloadApiClientOptions, type WorkloadApiError, type X509Context } from './client.js';
export { BundleSource, JwtSource, X509Source, type SourceOptions, type SvidPicker } from './sources.js';
export { createTlsServer, currentSecureContext, keepServerCurrent, peerChain, peerSpiffeId, secureContextOptions, tlsClientOptions, tlsServerOptions, verifyPeer, type X509TlsSource } from './tls.js';
export { connectHttp2, createHttp2SecureServer, createHttpsServer, requestSpiffeId, sendBearerChallenge, spiffeDispatcher, spiffeHttpsAgent, type SpiffeDispatcherOptions } from './http.js';
export { SourceCertificateProvider, grpcCallerId, grpcChannelCredentials, grpcServerCredentials } from './grpc.js';
export { authenticateBearer, bearerHeaders, bearerToken, withBearerAuth, type BearerOptions, type JwtSvidFetcher } from './bearer.js';
