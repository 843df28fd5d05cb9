export { K8sWorkloadAttestor, K8S_OBJECT_REFERENCE_TYPE, WORKLOAD_ATTESTOR_SERVICE, k8sWorkloadAttestorPlugin } from './plugin.js';
export type { K8sWorkloadAttestorOptions } from './plugin.js';
export {
  DEFAULT_KUBELET_CA_PATH,
  DEFAULT_KUBELET_REQUEST_TIMEOUT_MS,
  DEFAULT_MAX_POD_LIST_BYTES,
  DEFAULT_MAX_POLL_ATTEMPTS,
  DEFAULT_NODE_NAME_ENV,
  DEFAULT_POLL_RETRY_INTERVAL_MS,
  DEFAULT_RELOAD_INTERVAL_MS,
  DEFAULT_SECURE_KUBELET_PORT,
  DEFAULT_TOKEN_PATH,
  distilConfig,
} from './config.js';
export type { K8sConfig, K8sHclConfig, KubeletConfig } from './config.js';
export { KubeletClient, KubeletError, buildKubeletClient, loadCredentials, parseCertificates } from './kubelet.js';
export type { KubeletCredentials, KubeletErrorKind } from './kubelet.js';
export { PodListFetcher, FetcherClosedError, parsePodList } from './fetcher.js';
export type { FetchResult, VersionedPodList } from './fetcher.js';
export { containerIdOf, containerSelectors, decodePod, imageIdentifiers, lookUpContainer, podSelectors, PodDecodeError } from './pod.js';
export type { ContainerStatus, OwnerReference, Pod } from './pod.js';
