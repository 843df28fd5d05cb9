export { tpmDevIdAgentPlugin, configSchema, NODE_ATTESTOR_SERVICE, autodetectTpmPath, tctiFor } from './plugin.js';
export type { TpmDevIdAgentConfig } from './plugin.js';
export { TpmSession, EK_CERT_NV_INDEX, rawBlob, checkDevIdPublic, leadingDer } from './session.js';
export type { AttestationData, SessionConfig, TpmPasswords } from './session.js';
export { attestationRequest, parseChallenge, challengeResponse, MAX_CHALLENGE_BYTES } from './wire.js';
export type { Challenge } from './wire.js';
export { parsePublic, signatureBytes, credentialFile, stripTpm2b, addTpm2b, TPM_ALG, TPMA_OBJECT } from './structures.js';
export type { PublicArea } from './structures.js';
export { Tpm2Tools, TpmToolError } from './tools.js';
