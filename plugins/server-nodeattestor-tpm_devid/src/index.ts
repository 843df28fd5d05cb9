export { tpmDevIdServerPlugin, NODE_ATTESTOR_SERVICE } from './plugin.js';
export { buildTpmDevIdConfig, configSchema, loadBundle } from './config.js';
export type { RawConfig, TpmDevIdConfig } from './config.js';
export { verifyPayload, checkResponse, agentAttributes, fingerprint, PLUGIN_NAME, MAX_PAYLOAD_BYTES, MAX_RESPONSE_BYTES, DEVID_NONCE_SIZE } from './attest.js';
export type { Pending } from './attest.js';
export {
  WireError,
  MAX_DEVID_CERTS,
  parseAttestationRequest,
  encodeAttestationRequest,
  parseChallengeRequest,
  encodeChallengeRequest,
  parseChallengeResponse,
  encodeChallengeResponse,
} from './wire.js';
export type { AttestationRequest, ChallengeRequest, ChallengeResponse } from './wire.js';
