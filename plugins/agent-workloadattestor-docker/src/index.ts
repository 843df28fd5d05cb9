export {
  DockerWorkloadAttestor,
  WORKLOAD_ATTESTOR_SERVICE,
  DEFAULT_DOCKER_SOCKET_PATH,
  DEFAULT_PODMAN_SOCKET_PATH,
  DEFAULT_PODMAN_SOCKET_PATH_TEMPLATE,
  checkPodmanTemplate,
  dockerWorkloadAttestorPlugin,
} from './plugin.js';
export type { DockerConfig, DockerWorkloadAttestorOptions } from './plugin.js';
export {
  EngineClient,
  EngineError,
  EngineAddressError,
  parseEngineAddress,
  parseContainerInspect,
  normaliseApiVersion,
  compareApiVersions,
  CLIENT_MAX_API_VERSION,
  FALLBACK_API_VERSION,
  MAX_RESPONSE_BYTES,
} from './engine.js';
export type { ContainerInspect, EngineAddress } from './engine.js';
export { CgroupMatchers, MatcherError } from './matchers.js';
