export { x509PopServerPlugin, NODE_ATTESTOR_SERVICE, CLIENT_IP_METADATA } from './plugin.js';
export { buildX509PopConfig, configSchema } from './config.js';
export type { RawConfig, X509PopConfig } from './config.js';
export { verifyPayload, checkResponse, agentAttributes, serialNumberHex, uriSanSelectors, PLUGIN_NAME, MAX_PAYLOAD_BYTES, MAX_RESPONSE_BYTES } from './attest.js';
export type { Verified } from './attest.js';
export { verifyChain, ChainError, sha1Hex } from './chain.js';
export { AgentPathTemplate, TemplateError, DEFAULT_TEMPLATE_EXTERNAL_PKI, DEFAULT_TEMPLATE_SPIFFE } from './template.js';
export type { X509PopPathData } from './template.js';
export { NONCE_LEN, PayloadError, encodeChallenge, parseAttestationData, verifyResponse } from './pop.js';
