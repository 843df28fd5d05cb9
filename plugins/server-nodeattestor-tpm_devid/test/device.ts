// A TPM "device" for the server tests: a private swtpm with an EK (and its
// certificate from a test manufacturer), an AK and a DevID key generated in
// the TPM (with its certificate from a test DevID CA), and the agent's half
// of the tpm_devid exchange done with tpm2-tools (reference for the agent
// plugin: what SPIRE's agent sends and answers, byte for byte).
import { tpm, encodeTLV } from '@spire-ts/nodeattestor-kit';
import type { Certificate } from '@spire-ts/common';
import { Swtpm, TpmAgent, type DevIdKeyType } from '../../nodeattestor-kit/test/tpm-swtpm.js';
import { encodeAttestationRequest, encodeChallengeResponse, parseChallengeRequest, type AttestationRequest } from '../src/index.js';
import { devIdCertificate, ekCertificate, type TestCa } from './pki.js';

export interface Device {
  readonly sw: Swtpm;
  readonly agent: TpmAgent;
  readonly ekPub: Buffer;
  readonly akPub: Buffer;
  readonly devIdPub: Buffer;
  readonly ekCert: Certificate;
  readonly devIdCert: Certificate;
}

export async function device(opts: { keyType: DevIdKeyType; manufacturer: TestCa; devIdIssuer: TestCa; cn: string }): Promise<Device> {
  const sw = await Swtpm.start();
  try {
    const agent = new TpmAgent(sw);
    const ekPub = await agent.createEk();
    const akPub = await agent.createAk();
    const devIdPub = await agent.createDevId(opts.keyType);
    const ekCert = await ekCertificate(tpm.publicKeyOf(tpm.decodePublic(ekPub)), opts.manufacturer);
    const devIdCert = await devIdCertificate(tpm.publicKeyOf(tpm.decodePublic(devIdPub)), opts.devIdIssuer, opts.cn);
    return { sw, agent, ekPub, akPub, devIdPub, ekCert, devIdCert };
  } catch (err) {
    await sw.stop(); // never leave a simulator behind
    throw err;
  }
}

/** Several devices; if one fails to come up, the others are stopped too. */
export async function devices(...specs: Array<Parameters<typeof device>[0]>): Promise<Device[]> {
  const settled = await Promise.allSettled(specs.map((s) => device(s)));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(settled.map((r) => (r.status === 'fulfilled' ? r.value.sw.stop() : undefined)));
    throw failed.reason;
  }
  return settled.map((r) => (r as PromiseFulfilledResult<Device>).value);
}

/** The attestation payload as SPIRE's agent builds it (TPM2_Certify of the DevID key by the AK). */
export async function payloadOf(d: Device, chain: readonly Certificate[], over: Partial<AttestationRequest> = {}): Promise<Buffer> {
  const [certifiedDevId, certificationSignature] = await d.agent.certify();
  return encodeAttestationRequest({
    devIdCert: [d.devIdCert, ...chain].map((c) => Buffer.from(c.der)),
    devIdPub: d.devIdPub,
    ekCert: Buffer.from(d.ekCert.der),
    ekPub: d.ekPub,
    akPub: d.akPub,
    certifiedDevId,
    certificationSignature,
    ...over,
  });
}

function derInteger(v: Buffer): Buffer {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const body = v.subarray(i);
  return encodeTLV(0x02, (body[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), body]) : body);
}

/** TPM2_Sign output as SPIRE's agent sends it: RSA signature bytes, or ECDSA as ASN.1 DER. */
export function signatureBytes(tpmtSignature: Buffer): Buffer {
  const sig = tpm.decodeSignature(tpmtSignature);
  if (sig.sigAlg === tpm.TPM_ALG.ECDSA) return encodeTLV(0x30, Buffer.concat([derInteger(sig.r), derInteger(sig.s)]));
  return sig.sig;
}

/** The agent's answer: the DevID nonce signed in the TPM, the credential activated in the TPM. */
export async function answer(d: Device, challenge: Uint8Array): Promise<Buffer> {
  const c = parseChallengeRequest(challenge);
  const devId = signatureBytes(await d.agent.sign(c.devId));
  const credActivation = await d.agent.activateCredential(c.credential, c.secret);
  return encodeChallengeResponse({ devId, credActivation });
}

/** The DevID half of the answer only (for answers whose activation cannot succeed). */
export async function signOnly(d: Device, challenge: Uint8Array, credActivation: Buffer): Promise<Buffer> {
  const c = parseChallengeRequest(challenge);
  return encodeChallengeResponse({ devId: signatureBytes(await d.agent.sign(c.devId)), credActivation });
}
