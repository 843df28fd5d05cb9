// Shared by the tpm_devid agent tests: the swtpm availability gate (fail in
// CI, skip locally), and the server side's challenge made independently of
// the plugin with `tpm2_makecredential -T none` (software MakeCredential)
// plus checks of the plugin's answers with node:crypto.
import { createHash, createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { swtpmUnavailable, tpmTool } from '@spire-ts/conformance';

/** Why swtpm tests cannot run; in CI (CI=true) a missing tool is a failure, not a skip. */
export async function tpmGate(): Promise<{ skip: boolean; reason?: string }> {
  const reason = await swtpmUnavailable();
  if (!reason) return { skip: false };
  if (process.env.CI === 'true') throw new Error(`swtpm/tpm2-tools are required in CI: ${reason}`);
  console.warn(`skipping tpm_devid TPM tests: ${reason}`);
  return { skip: true, reason };
}

export interface AttestationRequestJson {
  DevIDCert: string[];
  DevIDPub: string;
  EKCert: string;
  EKPub: string;
  AKPub: string;
  CertifiedDevID: string;
  CertificationSignature: string;
}

export const b = (s: string): Buffer => Buffer.from(s, 'base64');

export function parseRequest(payload: Uint8Array): AttestationRequestJson {
  return JSON.parse(Buffer.from(payload).toString('utf8')) as AttestationRequestJson;
}

/** The RSA public key of an RSA TPMT_PUBLIC (exponent 0 = 65537; the modulus is the trailing TPM2B). */
export function rsaKeyOfPublic(pub: Uint8Array): KeyObject {
  const buf = Buffer.from(pub);
  if (buf.readUInt16BE(0) !== 0x0001) throw new Error('not an RSA TPMT_PUBLIC');
  const keyBits = buf.readUInt16BE(buf.length - 2 - 256 - 4 - 2);
  const exponent = buf.readUInt32BE(buf.length - 2 - 256 - 4) || 65537;
  const n = buf.subarray(buf.length - 256);
  if (keyBits !== 2048 || buf.readUInt16BE(buf.length - 258) !== 256) throw new Error('expected an RSA-2048 TPMT_PUBLIC');
  const e = Buffer.alloc(4);
  e.writeUInt32BE(exponent);
  return createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: e.subarray(e.findIndex((x) => x !== 0)).toString('base64url') }, format: 'jwk' });
}

/** The TPM Name of a public area with nameAlg SHA-256. */
export function nameOf(pub: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([0x00, 0x0b]), createHash('sha256').update(pub).digest()]);
}

/** A challenge as SPIRE's server makes it: a DevID nonce and a credential for the AK under the EK. */
export async function makeChallenge(req: AttestationRequestJson, akPub: Uint8Array = b(req.AKPub)): Promise<{ json: Uint8Array; nonce: Buffer; secret: Buffer }> {
  const dir = await mkdtemp(join(tmpdir(), 'tpm-devid-mc-'));
  try {
    const ekPub = b(req.EKPub);
    const prefixed = Buffer.alloc(ekPub.length + 2);
    prefixed.writeUInt16BE(ekPub.length);
    ekPub.copy(prefixed, 2);
    await writeFile(join(dir, 'ek.pub'), prefixed);
    const secret = randomBytes(32);
    await writeFile(join(dir, 'secret'), secret);
    await tpmTool('none', 'tpm2_makecredential', ['-T', 'none', '-u', join(dir, 'ek.pub'), '-s', join(dir, 'secret'), '-n', nameOf(akPub).toString('hex'), '-o', join(dir, 'cred')]);
    const file = await readFile(join(dir, 'cred'));
    // magic, version, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET
    const credLen = file.readUInt16BE(8);
    const credential = file.subarray(10, 10 + credLen);
    const secretLen = file.readUInt16BE(10 + credLen);
    const encSecret = file.subarray(12 + credLen, 12 + credLen + secretLen);
    const nonce = randomBytes(32);
    const json = Buffer.from(JSON.stringify({ DevID: nonce.toString('base64'), CredActivation: { Credential: credential.toString('base64'), Secret: encSecret.toString('base64') } }));
    return { json, nonce, secret };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Whether a DevID answer verifies as Go's x509 CheckSignature would (SHA256WithRSA or ECDSAWithSHA256, DER). */
export function devIdSignatureOk(certKey: KeyObject, nonce: Uint8Array, signature: Uint8Array): boolean {
  return verify('sha256', nonce, certKey, signature);
}
