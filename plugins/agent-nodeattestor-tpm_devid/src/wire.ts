/**
 * SPIRE's tpm_devid wire format (pkg/common/plugin/tpmdevid): Go structs
 * marshalled by encoding/json, so the keys are the Go field names and every
 * []byte is a standard base64 string. Unmarshalling, like Go's, matches keys
 * case-insensitively.
 */
import type { AttestationData } from './session.js';

/** The largest challenge message accepted from the server. */
export const MAX_CHALLENGE_BYTES = 16 * 1024;
/** Bounds on the challenge's parts (a nonce, a TPM2B_ID_OBJECT, a TPM2B_ENCRYPTED_SECRET). */
const MAX_NONCE = 1024;
const MAX_CREDENTIAL = 1024;
const MAX_SECRET = 1024;

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

/** The attestation payload (SPIRE's AttestationRequest). */
export function attestationRequest(devIdCerts: readonly Uint8Array[], d: AttestationData): Uint8Array {
  return Buffer.from(
    JSON.stringify({
      DevIDCert: devIdCerts.map(b64),
      DevIDPub: b64(d.devIdPub),
      EKCert: b64(d.ekCert),
      EKPub: b64(d.ekPub),
      AKPub: b64(d.akPub),
      CertifiedDevID: b64(d.certifiedDevId),
      CertificationSignature: b64(d.certificationSignature),
    }),
    'utf8',
  );
}

export interface Challenge {
  readonly devId: Uint8Array;
  readonly credActivation: { readonly credential: Uint8Array; readonly secret: Uint8Array } | undefined;
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function field(obj: Record<string, unknown>, name: string): unknown {
  const lower = name.toLowerCase();
  let found: unknown;
  for (const [k, v] of Object.entries(obj)) {
    if (k === name) return v;
    if (k.toLowerCase() === lower) found = v;
  }
  return found;
}

function bytes(v: unknown, what: string, max: number): Uint8Array {
  if (v === undefined || v === null) return new Uint8Array();
  if (typeof v !== 'string') throw new Error(`${what} is not a base64 string`);
  if (!B64.test(v)) throw new Error(`${what} is not valid base64`);
  const out = Buffer.from(v, 'base64');
  if (out.length > max) throw new Error(`${what} is ${out.length} bytes, more than ${max}`);
  return out;
}

/** Parses the server's challenge (SPIRE's ChallengeRequest); throws an Error saying what is wrong. */
export function parseChallenge(msg: Uint8Array): Challenge {
  if (msg.length > MAX_CHALLENGE_BYTES) throw new Error(`challenge is ${msg.length} bytes, more than ${MAX_CHALLENGE_BYTES}`);
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(msg).toString('utf8'));
  } catch (err) {
    throw new Error(`not JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
  const o = v as Record<string, unknown>;
  const devId = bytes(field(o, 'DevID'), 'DevID', MAX_NONCE);
  const ca = field(o, 'CredActivation');
  if (ca === undefined || ca === null) return { devId, credActivation: undefined };
  if (typeof ca !== 'object' || Array.isArray(ca)) throw new Error('CredActivation is not a JSON object');
  const c = ca as Record<string, unknown>;
  return {
    devId,
    credActivation: {
      credential: bytes(field(c, 'Credential'), 'CredActivation.Credential', MAX_CREDENTIAL),
      secret: bytes(field(c, 'Secret'), 'CredActivation.Secret', MAX_SECRET),
    },
  };
}

/** The answer (SPIRE's ChallengeResponse). */
export function challengeResponse(devId: Uint8Array, credActivation: Uint8Array): Uint8Array {
  return Buffer.from(JSON.stringify({ DevID: b64(devId), CredActivation: b64(credActivation) }), 'utf8');
}
