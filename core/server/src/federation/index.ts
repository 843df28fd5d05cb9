/** SPIFFE federation: the bundle endpoint server and the federated bundle refresher. */
export { BundleEndpointServer, loadServingCert, type BundleEndpointAuth, type BundleEndpointOptions, type EndpointIdentity } from './endpoint.js';
export { BundleFetchError, bundlesEqual, checkBundleTrustDomain, fetchFederatedBundle, MAX_BUNDLE_BYTES, type FetchBundleOptions } from './client.js';
export { BundleRefreshManager, type BundleManagerOptions, type TrustDomainConfig, type UpdateResult } from './manager.js';
