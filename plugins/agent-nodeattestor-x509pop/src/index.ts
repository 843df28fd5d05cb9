export { x509PopAgentPlugin, configSchema, NODE_ATTESTOR_SERVICE } from './plugin.js';
export type { X509PopAgentConfig } from './plugin.js';
export { attestationPayload, calculateResponse, parseChallenge, NONCE_LEN } from './pop.js';
export type { AttestationData, Challenge, Response } from './pop.js';
export { loadKeyPair } from './keypair.js';
export { pemCertificates } from '@spire-ts/nodeattestor-kit';
export type { KeyPair } from './keypair.js';
