/**
 * The tpm_devid wire format (SPIRE's pkg/common/plugin/tpmdevid), as Go's
 * encoding/json writes it: field names as JSON keys, byte slices as
 * standard padded base64, nil slices as null; keys are matched as Go
 * matches them (exact, else case-insensitive) and unknown keys ignored.
 *
 *   payload   {DevIDCert: [b64...], DevIDPub, EKCert, EKPub, AKPub, CertifiedDevID, CertificationSignature}
 *   challenge {DevID: b64 nonce, CredActivation: {Credential, Secret}}
 *   response  {DevID: b64 signature, CredActivation: b64 recovered nonce}
 *
 * DevIDPub/EKPub/AKPub are TPMT_PUBLIC, CertifiedDevID a TPMS_ATTEST,
 * CertificationSignature a TPMT_SIGNATURE; Credential and Secret are a
 * TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET without their size prefix.
 * Parsing is strict: this is attacker input.
 */

export class WireError extends Error {
  override readonly name = 'WireError';
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Most certificates accepted in DevIDCert (the leaf and its intermediates). */
export const MAX_DEVID_CERTS = 16;

/** A Go []byte field: null/absent is empty, else a padded standard base64 string. */
function b64(v: unknown, what: string): Buffer {
  if (v === undefined || v === null) return Buffer.alloc(0);
  if (typeof v !== 'string') throw new WireError(`${what} must be a base64 string, got ${Array.isArray(v) ? 'an array' : typeof v}`);
  if (!B64.test(v)) throw new WireError(`${what} is not valid base64`);
  return Buffer.from(v, 'base64');
}

/** A key as Go's encoding/json finds it: the exact name, else a case-insensitive match. */
function field(obj: Record<string, unknown>, key: string): unknown {
  if (Object.hasOwn(obj, key)) return obj[key];
  const lower = key.toLowerCase();
  const k = Object.keys(obj).find((x) => x.toLowerCase() === lower);
  return k === undefined ? undefined : obj[k];
}

const bytes = (obj: Record<string, unknown>, key: string): Buffer => b64(field(obj, key), key);

function object(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new WireError(`${what} must be a JSON object, got ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}`);
  }
  return v as Record<string, unknown>;
}

function parseJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data)) as unknown;
  } catch (err) {
    throw new WireError((err as Error).message);
  }
}

export interface AttestationRequest {
  readonly devIdCert: Buffer[];
  readonly devIdPub: Buffer;
  readonly ekCert: Buffer;
  readonly ekPub: Buffer;
  readonly akPub: Buffer;
  readonly certifiedDevId: Buffer;
  readonly certificationSignature: Buffer;
}

export function parseAttestationRequest(data: Uint8Array): AttestationRequest {
  const obj = object(parseJson(data), 'attestation data');
  const certs = field(obj, 'DevIDCert');
  let devIdCert: Buffer[] = [];
  if (certs !== undefined && certs !== null) {
    if (!Array.isArray(certs)) throw new WireError('DevIDCert must be an array of base64 strings');
    if (certs.length > MAX_DEVID_CERTS) throw new WireError(`DevIDCert holds ${certs.length} certificates, more than the ${MAX_DEVID_CERTS} allowed`);
    devIdCert = certs.map((c: unknown, i) => b64(c, `DevIDCert[${i}]`));
    devIdCert.forEach((c, i) => {
      if (c.length === 0) throw new WireError(`DevIDCert[${i}] is empty`);
    });
  }
  return {
    devIdCert,
    devIdPub: bytes(obj, 'DevIDPub'),
    ekCert: bytes(obj, 'EKCert'),
    ekPub: bytes(obj, 'EKPub'),
    akPub: bytes(obj, 'AKPub'),
    certifiedDevId: bytes(obj, 'CertifiedDevID'),
    certificationSignature: bytes(obj, 'CertificationSignature'),
  };
}

export interface ChallengeRequest {
  readonly devId: Buffer;
  readonly credential: Buffer;
  readonly secret: Buffer;
}

export function encodeChallengeRequest(c: ChallengeRequest): Buffer {
  return Buffer.from(
    JSON.stringify({ DevID: c.devId.toString('base64'), CredActivation: { Credential: c.credential.toString('base64'), Secret: c.secret.toString('base64') } }),
    'utf8',
  );
}

/** The agent side's view of a challenge (also used by tests playing the agent). */
export function parseChallengeRequest(data: Uint8Array): ChallengeRequest {
  const obj = object(parseJson(data), 'challenge');
  const cred = object(field(obj, 'CredActivation'), 'CredActivation');
  return { devId: bytes(obj, 'DevID'), credential: bytes(cred, 'Credential'), secret: bytes(cred, 'Secret') };
}

export interface ChallengeResponse {
  readonly devId: Buffer;
  readonly credActivation: Buffer;
}

export function parseChallengeResponse(data: Uint8Array): ChallengeResponse {
  const obj = object(parseJson(data), 'challenge response');
  return { devId: bytes(obj, 'DevID'), credActivation: bytes(obj, 'CredActivation') };
}

export function encodeChallengeResponse(r: ChallengeResponse): Buffer {
  return Buffer.from(JSON.stringify({ DevID: r.devId.toString('base64'), CredActivation: r.credActivation.toString('base64') }), 'utf8');
}

export function encodeAttestationRequest(r: AttestationRequest): Buffer {
  const b = (x: Buffer): string | null => (x.length === 0 ? null : x.toString('base64'));
  return Buffer.from(
    JSON.stringify({
      DevIDCert: r.devIdCert.map((c) => c.toString('base64')),
      DevIDPub: b(r.devIdPub),
      EKCert: b(r.ekCert),
      EKPub: b(r.ekPub),
      AKPub: b(r.akPub),
      CertifiedDevID: b(r.certifiedDevId),
      CertificationSignature: b(r.certificationSignature),
    }),
    'utf8',
  );
}
