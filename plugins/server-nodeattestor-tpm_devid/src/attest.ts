/**
 * The tpm_devid verification steps (SPIRE's pkg/server/plugin/nodeattestor/
 * tpmdevid), independent of the transport:
 *
 * 1. the DevID certificate chains to `devid_ca_path`;
 * 2. residency: the EK certificate chains to `endorsement_ca_path` and holds
 *    the EK public key the agent sent; the AK is a restricted, TPM-resident
 *    signing key; the AK certified (TPM2_Certify) a TPM-resident (fixedTPM)
 *    signing key whose public key is the DevID certificate's;
 * 3. challenges: sign a fresh nonce with the DevID key (possession) and
 *    recover a credential made for the AK's Name under the EK (credential
 *    activation: AK and EK are in the same TPM).
 *
 * Beyond SPIRE, the TPM's DevID public key must equal the certificate's and
 * the certified key must be fixedTPM; without these, a software key with a
 * valid certificate could ride along with a genuine TPM. Failed checks are
 * PERMISSION_DENIED (SPIRE says InvalidArgument), malformed input
 * INVALID_ARGUMENT; messages keep SPIRE's wording.
 */
import { createHash, randomBytes, verify, type KeyObject } from 'node:crypto';
import { nameValues, parseCertificate, parseSpiffeId, publicKeyObject, type Certificate } from '@spire-ts/common';
import { tpm } from '@spire-ts/nodeattestor-kit';
import { PluginError, Status } from '@spire-ts/plugin-sdk';
import { ChainError, verifyChain } from '@spire-ts/server-nodeattestor-x509pop';
import type { TpmDevIdConfig } from './config.js';
import { WireError, encodeChallengeRequest, parseAttestationRequest, parseChallengeResponse, type AttestationRequest } from './wire.js';

export const PLUGIN_NAME = 'tpm_devid';
/** Largest payload accepted: a DevID chain, an EK certificate and three RSA-2048 publics are ~6 KiB. */
export const MAX_PAYLOAD_BYTES = 128 << 10;
/** Largest challenge response accepted (an RSA-4096 signature and a digest, in JSON, is under 1 KiB). */
export const MAX_RESPONSE_BYTES = 16 << 10;
/** SPIRE's DevID challenge nonce size. */
export const DEVID_NONCE_SIZE = 32;

const SAN_OID = '2.5.29.17';
const AK_ATTRIBUTES: readonly tpm.ObjectAttribute[] = ['sign', 'restricted', 'fixedTPM', 'fixedParent', 'sensitiveDataOrigin'];
const DEVID_ATTRIBUTES: readonly tpm.ObjectAttribute[] = ['sign', 'fixedTPM'];

const denied = (msg: string): PluginError => new PluginError(Status.PERMISSION_DENIED, msg);
const invalid = (msg: string): PluginError => PluginError.invalidArgument(msg);

export interface Pending {
  readonly devIdCert: Certificate;
  readonly chains: Certificate[][];
  readonly devIdNonce: Buffer;
  readonly credNonce: Buffer;
  /** The challenge message to send. */
  readonly challenge: Buffer;
}

function parse(der: Buffer, what: string): Certificate {
  try {
    return parseCertificate(der);
  } catch (err) {
    throw invalid(`unable to parse ${what}: ${(err as Error).message}`);
  }
}

function decodePub(blob: Buffer, what: string): tpm.TpmPublic {
  try {
    return tpm.decodePublic(blob);
  } catch (err) {
    throw invalid(`cannot decode ${what} public blob: ${(err as Error).message}`);
  }
}

function keyOf(pub: tpm.TpmPublic, what: string): KeyObject {
  try {
    return tpm.publicKeyOf(pub);
  } catch (err) {
    throw invalid(`cannot decode ${what} public blob: ${(err as Error).message}`);
  }
}

/** Steps 1 and 2: the trusted DevID certificate and the challenge to send. */
export function verifyPayload(config: TpmDevIdConfig, payload: Uint8Array, now = new Date()): Pending {
  if (payload.length > MAX_PAYLOAD_BYTES) throw invalid(`attestation payload is ${payload.length} bytes, larger than the ${MAX_PAYLOAD_BYTES} allowed`);
  let data: AttestationRequest;
  try {
    data = parseAttestationRequest(payload);
  } catch (err) {
    if (err instanceof WireError) throw invalid(`unable to unmarshall attestation data: ${err.message} (is the agent using the tpm_devid NodeAttestor?)`);
    throw err;
  }
  const [leafDer, ...interDers] = data.devIdCert;
  if (!leafDer) throw invalid('no DevID certificate to attest');
  const devIdCert = parse(leafDer, 'DevID certificate');
  const intermediates = interDers.map((der, i) => parse(der, `DevID intermediate certificate ${i}`));

  let chains: Certificate[][];
  try {
    chains = verifyChain(devIdCert, intermediates, config.devIdRoots, now);
  } catch (err) {
    if (err instanceof ChainError) throw denied(`unable to verify DevID signature: verification failed: ${err.message}`);
    throw err;
  }

  const { credential, secret, nonce } = verifyResidency(config, data, devIdCert, now);
  const devIdNonce = randomBytes(DEVID_NONCE_SIZE);
  return {
    devIdCert,
    chains,
    devIdNonce,
    credNonce: nonce,
    challenge: encodeChallengeRequest({ devId: devIdNonce, credential, secret }),
  };
}

function verifyResidency(config: TpmDevIdConfig, data: AttestationRequest, devIdCert: Certificate, now: Date): { credential: Buffer; secret: Buffer; nonce: Buffer } {
  if (data.akPub.length === 0) throw invalid('missing attestation key public blob');
  if (data.devIdPub.length === 0) throw invalid('missing DevID key public blob');
  if (data.ekCert.length === 0) throw invalid('missing endorsement certificate');
  if (data.ekPub.length === 0) throw invalid('missing endorsement key public blob');
  if (data.certifiedDevId.length === 0) throw invalid('missing DevID certification data');
  if (data.certificationSignature.length === 0) throw invalid('missing DevID certification signature');

  const ekCert = parse(data.ekCert, 'endorsement certificate');
  const devIdPub = decodePub(data.devIdPub, 'DevID key');
  const akPub = decodePub(data.akPub, 'attestation key');
  const ekPub = decodePub(data.ekPub, 'endorsement key');

  // The EK the agent regenerated from the template is the one the manufacturer certified.
  if (ekPub.type !== tpm.TPM_ALG.RSA || ekCert.publicKey.keyType !== 'rsa') {
    throw invalid('public key in EK certificate differs from public key created via EK template: only RSA endorsement keys are supported');
  }
  if (!tpm.sameKey(publicKeyObject(ekCert.publicKey), keyOf(ekPub, 'endorsement key'))) {
    throw denied('public key in EK certificate differs from public key created via EK template: modulus or exponent mismatch');
  }
  verifyEkCertificate(ekCert, config.ekRoots, now);

  // The DevID key sits in the same TPM as the AK.
  verifyCertification(akPub, devIdPub, data.devIdPub, data.certifiedDevId, data.certificationSignature);
  if (!tpm.sameKey(publicKeyObject(devIdCert.publicKey), keyOf(devIdPub, 'DevID key'))) {
    throw denied('cannot verify that DevID is in the same TPM than AK: the DevID certificate key is not the certified TPM key');
  }

  // Credential activation: the AK is in the same TPM as the EK.
  const h = tpm.hashInfo(ekPub.nameAlg);
  if (!h) throw invalid(`cannot generate credential activation challenge: unsupported EK nameAlg ${tpm.algName(ekPub.nameAlg)}`);
  const nonce = randomBytes(h.size);
  try {
    const made = tpm.makeCredential(ekPub, tpm.publicName(data.akPub), nonce);
    return { credential: made.credentialBlob, secret: made.secret, nonce };
  } catch (err) {
    if (err instanceof tpm.TpmError) throw invalid(`cannot generate credential activation challenge: ${err.message}`);
    throw err;
  }
}

/**
 * The EK certificate chain to a manufacturer root (no intermediates sent;
 * the bundle holds them, as in SPIRE). A critical SAN — TCG EK certificates
 * carry the TPM model in a critical directoryName SAN — is accepted, as
 * SPIRE does; any other unhandled critical extension is not.
 */
function verifyEkCertificate(ekCert: Certificate, roots: readonly Certificate[], now: Date): void {
  const tolerant: Certificate = {
    ...ekCert,
    extensions: { ...ekCert.extensions, unhandledCritical: ekCert.extensions.unhandledCritical.filter((oid) => oid !== SAN_OID) },
  };
  try {
    verifyChain(tolerant, [], roots, now);
  } catch (err) {
    if (err instanceof ChainError) throw denied(`cannot verify EK signature: endorsement certificate verification failed: ${err.message}`);
    throw err;
  }
}

function verifyCertification(akPub: tpm.TpmPublic, devIdPub: tpm.TpmPublic, devIdBlob: Buffer, attestBytes: Buffer, sigBytes: Buffer): void {
  const fail = (why: string): PluginError => denied(`cannot verify that DevID is in the same TPM than AK: ${why}`);
  const missing = (pub: tpm.TpmPublic, want: readonly tpm.ObjectAttribute[]): string[] => want.filter((a) => !tpm.hasAttributes(pub, [a]));
  const akMissing = missing(akPub, AK_ATTRIBUTES);
  if (akMissing.length > 0) throw fail(`attestation key is not a restricted TPM-resident signing key (lacks ${akMissing.join(', ')})`);
  const akKey = keyOf(akPub, 'attestation key');
  let attest: ReturnType<typeof tpm.decodeAttest>;
  let sig: tpm.TpmSignature;
  try {
    sig = tpm.decodeSignature(sigBytes);
    attest = tpm.decodeAttest(attestBytes);
  } catch (err) {
    if (err instanceof tpm.TpmError) throw invalid(`cannot verify that DevID is in the same TPM than AK: ${err.message}`);
    throw err;
  }
  const why = tpm.verifySignature(akKey, attestBytes, sig);
  if (why) throw fail(`certification signature: ${why}`);
  if (!attest.certify) throw fail('missing certify info');
  if (!attest.certify.name.equals(tpm.publicName(devIdBlob))) throw fail('certify failed: the certified name is not the DevID key name');
  const devMissing = missing(devIdPub, DEVID_ATTRIBUTES);
  if (devMissing.length > 0) throw fail(`DevID key is not a TPM-resident signing key (lacks ${devMissing.join(', ')})`);
}

/** Step 3: the agent's answers to both challenges. */
export function checkResponse(p: Pending, response: Uint8Array | undefined): void {
  if (!response || response.length === 0) throw invalid('unable to unmarshall challenges response: missing challenge response');
  if (response.length > MAX_RESPONSE_BYTES) throw invalid(`unable to unmarshall challenges response: ${response.length} bytes, larger than the ${MAX_RESPONSE_BYTES} allowed`);
  let r;
  try {
    r = parseChallengeResponse(response);
  } catch (err) {
    if (err instanceof WireError) throw invalid(`unable to unmarshall challenges response: ${err.message}`);
    throw err;
  }
  const why = verifyDevIdSignature(p.devIdCert, p.devIdNonce, r.devId);
  if (why) throw denied(`devID challenge verification failed: ${why}`);
  if (r.credActivation.length !== p.credNonce.length || !r.credActivation.equals(p.credNonce)) {
    throw denied('credential activation failed: nonces are different');
  }
}

/** SPIRE's VerifyDevIDChallenge: SHA-256, RSA PKCS#1 v1.5 or ASN.1 DER ECDSA (Go's CheckSignature). */
function verifyDevIdSignature(cert: Certificate, nonce: Buffer, signature: Buffer): string | undefined {
  const key = publicKeyObject(cert.publicKey);
  const type = key.asymmetricKeyType;
  if (type !== 'rsa' && type !== 'ec') return `unsupported private key type ${type ?? 'unknown'}`;
  if (signature.length === 0) return 'missing signature';
  try {
    const ok = type === 'rsa' ? verify('sha256', nonce, key, signature) : verify('sha256', nonce, { key, dsaEncoding: 'der' }, signature);
    return ok ? undefined : type === 'rsa' ? 'crypto/rsa: verification error' : 'x509: ECDSA verification failure';
  } catch {
    return type === 'rsa' ? 'crypto/rsa: verification error' : 'x509: ECDSA verification failure';
  }
}

/** SPIRE's Fingerprint: hex SHA-1 of the DER certificate. */
export function fingerprint(c: Certificate): string {
  return createHash('sha1').update(c.der).digest('hex');
}

const lastValue = (values: string[]): string => values.at(-1) ?? '';

/** The agent ID and selectors (SPIRE's selectors.go): subject:cn, issuer:cn, ca:fingerprint for every chain CA. */
export function agentAttributes(config: TpmDevIdConfig, p: Pending): { spiffeId: string; selectorValues: string[] } {
  const spiffeId = `spiffe://${config.trustDomain}/spire/agent/${PLUGIN_NAME}/${fingerprint(p.devIdCert)}`;
  try {
    parseSpiffeId(spiffeId);
  } catch (err) {
    throw PluginError.internal(`failed to create agent ID: ${(err as Error).message}`);
  }
  const values: string[] = [];
  const cn = lastValue(nameValues(p.devIdCert.subject, 'CN'));
  if (cn !== '') values.push(`subject:cn:${cn}`);
  const issuerCn = lastValue(nameValues(p.devIdCert.issuer, 'CN'));
  if (issuerCn !== '') values.push(`issuer:cn:${issuerCn}`);
  const seen = new Set<string>();
  for (const chain of p.chains) {
    for (const c of chain.slice(1)) {
      const fp = fingerprint(c);
      if (seen.has(fp)) continue;
      seen.add(fp);
      values.push(`ca:fingerprint:${fp}`);
    }
  }
  return { spiffeId, selectorValues: values };
}
