/**
 * @spire-ts/nodeattestor-kit: the pieces the NodeAttestor plugins share —
 * a bounds-checked BER reader, a PKCS#7 SignedData verifier, the
 * `agent_path_template` engine, JWS signature checks, and the Attest /
 * AidAttestation stream plumbing.
 * Plugins depend on it; core must not.
 */
import * as tpm from './tpm/index.js';
import * as azure from './azure/index.js';

export { BerError, TAG, decodeBer, expectTag, oidOf, octetsOf, derLength, encodeTLV, definiteContent } from './ber.js';
export type { BerNode } from './ber.js';
export { SignatureError, verifyPkcs7, issuerAndSerial, MAX_EMBEDDED_CERTS } from './pkcs7.js';
export type { Pkcs7Options, VerifiedPkcs7 } from './pkcs7.js';
export { PathTemplate, TemplateError, templateUsage, validateAgentPath } from './template.js';
export type { TemplateMap, TemplateSpec } from './template.js';
export { answerAttestation, answerSingleChallenge, firstPayload } from './stream.js';
export type { AnswerOptions, AttestedAgent, AttestMessage, AttestReader, ServerAttestCall, SingleChallenge } from './stream.js';
export { JWS_ALGORITHMS, verifyJws } from './jws.js';
export { nextChallenge, runAidAttestation, sendPayloadOnly } from './agent-stream.js';
export type { AgentAidCall } from './agent-stream.js';
export { decodeJsonPayload } from './payload.js';
export { pemCertificates } from './pem.js';
export { AGENT_STORE_SERVICE, TofuGuard } from './tofu.js';
export type { AttestedLookup, TofuOptions } from './tofu.js';
/** TPM 2.0 structures and credential activation (the tpm_devid attestor). */
export { tpm };
/** Azure Resource Manager client and credentials (the azure_msi / azure_imds server attestors). */
export { azure };
