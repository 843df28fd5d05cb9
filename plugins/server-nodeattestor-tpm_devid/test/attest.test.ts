// The tpm_devid server checks against real TPMs (swtpm, driven by tpm2-tools
// as SPIRE's agent drives its TPM): the full exchange, and every negative
// case the server can detect — untrusted EK or DevID CA, a DevID key that
// is not in the TPM, answers from another TPM, replayed answers, and
// malformed payloads and responses.
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tpm } from '@spire-ts/nodeattestor-kit';
import { Status, type PluginError } from '@spire-ts/plugin-sdk';
import { HAVE_SWTPM } from '../../nodeattestor-kit/test/tpm-swtpm.js';
import {
  agentAttributes,
  buildTpmDevIdConfig,
  checkResponse,
  encodeChallengeResponse,
  fingerprint,
  parseChallengeRequest,
  verifyPayload,
  type RawConfig,
  type TpmDevIdConfig,
} from '../src/index.js';
import { answer, device, devices, payloadOf, signOnly, type Device } from './device.js';
import { ca, devIdCertificate, ekCertificate, writeBundle, type TestCa } from './pki.js';

const TD = 'example.org';

async function failure(fn: () => unknown): Promise<PluginError> {
  try {
    await fn();
  } catch (err) {
    return err as PluginError;
  }
  throw new Error('expected a failure');
}

let dir: string;
let manufacturer: TestCa;
let devIdRoot: TestCa;
let devIdInter: TestCa;
let rogue: TestCa;
let config: TpmDevIdConfig;
let raw: RawConfig;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tpm-devid-server-'));
  manufacturer = await ca('Test TPM Manufacturer EK Root', undefined, 'rsa');
  devIdRoot = await ca('DevID Root CA');
  devIdInter = await ca('DevID Intermediate CA', devIdRoot);
  rogue = await ca('Rogue CA');
  raw = { devid_ca_path: writeBundle(dir, 'devid.pem', devIdRoot), endorsement_ca_path: writeBundle(dir, 'ek.pem', manufacturer) };
  config = buildTpmDevIdConfig(raw, TD);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('configuration', () => {
  it.each([
    [{ devid_ca_path: '' }, 'devid_ca_path is required'],
    [{ endorsement_ca_path: '' }, 'endorsement_ca_path is required'],
    [{ devid_ca_path: '', endorsement_ca_path: '' }, 'devid_ca_path is required; endorsement_ca_path is required'],
    [{ devid_ca_path: '/nonexistent/devid.pem' }, 'unable to load DevID trust bundle: cannot read "/nonexistent/devid.pem": ENOENT'],
    [{ endorsement_ca_path: '/nonexistent/ek.pem' }, 'unable to load endorsement trust bundle: cannot read "/nonexistent/ek.pem": ENOENT'],
  ] as Array<[Partial<RawConfig>, string]>)('%j is refused', async (over, msg) => {
    const err = await failure(() => buildTpmDevIdConfig({ ...raw, ...over }, TD));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.message).toContain(msg);
  });

  it('refuses a bundle without certificates', async () => {
    const empty = join(dir, 'empty.pem');
    writeFileSync(empty, 'no PEM here\n');
    expect((await failure(() => buildTpmDevIdConfig({ ...raw, endorsement_ca_path: empty }, TD))).message).toBe(
      `unable to load endorsement trust bundle: "${empty}": no CERTIFICATE PEM block found`,
    );
  });
});

describe.skipIf(!HAVE_SWTPM)('attestation against swtpm', () => {
  let a: Device; // ECC DevID key
  let b: Device; // RSA DevID key

  beforeAll(async () => {
    [a, b] = (await devices(
      { keyType: 'ecc', manufacturer, devIdIssuer: devIdInter, cn: 'device-a' },
      { keyType: 'rsa', manufacturer, devIdIssuer: devIdRoot, cn: 'device-b' },
    )) as [Device, Device];
  }, 120_000);
  afterAll(async () => {
    await Promise.all([a?.sw.stop(), b?.sw.stop()]);
  });

  it('attests an ECC DevID under an intermediate: SPIRE agent ID and selectors', async () => {
    const pending = verifyPayload(config, await payloadOf(a, [devIdInter.cert]));
    const challenge = parseChallengeRequest(pending.challenge);
    expect(challenge.devId).toHaveLength(32);
    expect(challenge.credential).toHaveLength(2 + 32 + 2 + 32);
    expect(challenge.secret).toHaveLength(256);
    checkResponse(pending, await answer(a, pending.challenge));
    expect(agentAttributes(config, pending)).toEqual({
      spiffeId: `spiffe://${TD}/spire/agent/tpm_devid/${fingerprint(a.devIdCert)}`,
      selectorValues: ['subject:cn:device-a', 'issuer:cn:DevID Intermediate CA', `ca:fingerprint:${fingerprint(devIdInter.cert)}`, `ca:fingerprint:${fingerprint(devIdRoot.cert)}`],
    });
  });

  it('attests an RSA DevID directly under the root', async () => {
    const pending = verifyPayload(config, await payloadOf(b, []));
    checkResponse(pending, await answer(b, pending.challenge));
    expect(agentAttributes(config, pending).selectorValues).toEqual(['subject:cn:device-b', 'issuer:cn:DevID Root CA', `ca:fingerprint:${fingerprint(devIdRoot.cert)}`]);
  });

  it('refuses an EK certificate from an untrusted manufacturer', async () => {
    const ekCert = await ekCertificate(tpm.publicKeyOf(tpm.decodePublic(a.ekPub)), rogue);
    const err = await failure(async () => verifyPayload(config, await payloadOf(a, [devIdInter.cert], { ekCert: Buffer.from(ekCert.der) })));
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.message).toBe('cannot verify EK signature: endorsement certificate verification failed: x509: certificate signed by unknown authority');
  });

  it('refuses an EK certificate for another TPM', async () => {
    const err = await failure(async () => verifyPayload(config, await payloadOf(a, [devIdInter.cert], { ekCert: Buffer.from(b.ekCert.der) })));
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.message).toMatch(/^public key in EK certificate differs from public key created via EK template/);
  });

  it('refuses a DevID certificate from an untrusted CA', async () => {
    const cert = await devIdCertificate(tpm.publicKeyOf(tpm.decodePublic(a.devIdPub)), rogue, 'device-a');
    const err = await failure(async () => verifyPayload(config, await payloadOf(a, [], { devIdCert: [Buffer.from(cert.der)] })));
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.message).toBe('unable to verify DevID signature: verification failed: x509: certificate signed by unknown authority');
  });

  it('refuses a software DevID key with a valid certificate next to a genuine TPM', async () => {
    const soft = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const cert = await devIdCertificate(soft.publicKey, devIdInter, 'device-a');
    // The TPM certifies its own key; the certificate is for another one.
    const err = await failure(async () => verifyPayload(config, await payloadOf(a, [devIdInter.cert], { devIdCert: [Buffer.from(cert.der), Buffer.from(devIdInter.cert.der)] })));
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.message).toBe('cannot verify that DevID is in the same TPM than AK: the DevID certificate key is not the certified TPM key');
  });

  it('refuses a software DevID key forged into the certification', async () => {
    const soft = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const cert = await devIdCertificate(soft.publicKey, devIdInter, 'device-a');
    // JWK-exported from a DER copy: Node 20 can deadlock JWK-exporting a generated KeyObject.
    const jwk = createPublicKey({ key: soft.publicKey.export({ type: 'spki', format: 'der' }), format: 'der', type: 'spki' }).export({ format: 'jwk' });
    const real = tpm.decodePublic(a.devIdPub) as tpm.EccPublic;
    const forgedPub = tpm.encodePublic({ ...real, x: Buffer.from(jwk.x!, 'base64url'), y: Buffer.from(jwk.y!, 'base64url') });
    const [attest, sig] = await a.agent.certify();
    const decoded = tpm.decodeAttest(attest);
    const forgedAttest = Buffer.concat([attest.subarray(0, attest.length - 2 * (2 + 34)), tpm.tpm2bEncode(tpm.publicName(forgedPub)), tpm.tpm2bEncode(decoded.certify!.qualifiedName)]);
    const payload = await payloadOf(a, [devIdInter.cert], { devIdCert: [Buffer.from(cert.der), Buffer.from(devIdInter.cert.der)], devIdPub: forgedPub, certifiedDevId: forgedAttest, certificationSignature: sig });
    const err = await failure(() => verifyPayload(config, payload));
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.message).toBe('cannot verify that DevID is in the same TPM than AK: certification signature: signature verification failed');
    // Unsigned by the AK, the untouched certification still names the real TPM key.
    const err2 = await failure(async () => verifyPayload(config, await payloadOf(a, [devIdInter.cert], { devIdCert: [Buffer.from(cert.der), Buffer.from(devIdInter.cert.der)], devIdPub: forgedPub })));
    expect(err2.message).toBe('cannot verify that DevID is in the same TPM than AK: certify failed: the certified name is not the DevID key name');
  });

  it('refuses a software key loaded into the TPM (not fixedTPM) even when the AK certifies it', async () => {
    const c = await device({ keyType: 'ecc', manufacturer, devIdIssuer: devIdInter, cn: 'device-c' });
    try {
      const soft = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const pub = await c.agent.loadExternal(soft.privateKey.export({ format: 'pem', type: 'sec1' }).toString());
      const cert = await devIdCertificate(soft.publicKey, devIdInter, 'device-c');
      const err = await failure(async () => verifyPayload(config, await payloadOf(c, [devIdInter.cert], { devIdCert: [Buffer.from(cert.der), Buffer.from(devIdInter.cert.der)], devIdPub: pub })));
      expect(err.code).toBe(Status.PERMISSION_DENIED);
      expect(err.message).toBe('cannot verify that DevID is in the same TPM than AK: DevID key is not a TPM-resident signing key (lacks fixedTPM)');
    } finally {
      await c.sw.stop();
    }
  }, 60_000);

  it('refuses a challenge answered by a different TPM', async () => {
    const pending = verifyPayload(config, await payloadOf(a, [devIdInter.cert]));
    // B cannot recover A's credential...
    const c = parseChallengeRequest(pending.challenge);
    await expect(b.agent.activateCredential(c.credential, c.secret)).rejects.toThrow(/tpm2_activatecredential/);
    // ...and its DevID key is not A's.
    const err = await failure(async () => checkResponse(pending, await signOnly(b, pending.challenge, randomBytes(32))));
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.message).toMatch(/^devID challenge verification failed: /);
  });

  it('refuses an AK from another TPM than the EK (credential activation fails)', async () => {
    // A's DevID and AK, B's EK: the credential is sealed to B's EK, which A's TPM does not hold.
    const pending = verifyPayload(config, await payloadOf(a, [devIdInter.cert], { ekCert: Buffer.from(b.ekCert.der), ekPub: b.ekPub }));
    const c = parseChallengeRequest(pending.challenge);
    await expect(a.agent.activateCredential(c.credential, c.secret)).rejects.toThrow(/tpm2_activatecredential/);
    await expect(b.agent.activateCredential(c.credential, c.secret)).rejects.toThrow(/tpm2_activatecredential/);
    const err = await failure(async () => checkResponse(pending, await signOnly(a, pending.challenge, randomBytes(32))));
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.message).toBe('credential activation failed: nonces are different');
  });

  it('refuses a replayed answer', async () => {
    const payload = await payloadOf(a, [devIdInter.cert]);
    const first = verifyPayload(config, payload);
    const response = await answer(a, first.challenge);
    checkResponse(first, response);
    const second = verifyPayload(config, payload);
    const err = await failure(() => checkResponse(second, response));
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.message).toBe('devID challenge verification failed: x509: ECDSA verification failure');
    // Even with a fresh DevID signature, the old credential is not this one.
    const old = JSON.parse(response.toString()) as { CredActivation: string };
    const err2 = await failure(async () => checkResponse(second, await signOnly(a, second.challenge, Buffer.from(old.CredActivation, 'base64'))));
    expect(err2.message).toBe('credential activation failed: nonces are different');
  });

  it('refuses an AK that is not a restricted key and a tampered certification', async () => {
    const notRestricted = await failure(async () => verifyPayload(config, await payloadOf(a, [devIdInter.cert], { akPub: b.devIdPub })));
    expect(notRestricted.code).toBe(Status.PERMISSION_DENIED);
    expect(notRestricted.message).toBe('cannot verify that DevID is in the same TPM than AK: attestation key is not a restricted TPM-resident signing key (lacks restricted)');
    const otherAk = await failure(async () => verifyPayload(config, await payloadOf(a, [devIdInter.cert], { akPub: b.akPub })));
    expect(otherAk.message).toBe('cannot verify that DevID is in the same TPM than AK: certification signature: signature verification failed');
    const [attest] = await a.agent.certify();
    const truncated = await failure(async () => verifyPayload(config, await payloadOf(a, [devIdInter.cert], { certifiedDevId: attest.subarray(0, 40) })));
    expect(truncated.code).toBe(Status.INVALID_ARGUMENT);
    expect(truncated.message).toMatch(/^cannot verify that DevID is in the same TPM than AK: TPMS_ATTEST: truncated at /);
  });

  it.each([
    ['not JSON', () => Buffer.from('{'), /^unable to unmarshall attestation data: .* \(is the agent using the tpm_devid NodeAttestor\?\)$/],
    ['an array', () => Buffer.from('[]'), /^unable to unmarshall attestation data: attestation data must be a JSON object, got an array/],
    ['DevIDCert not an array', () => Buffer.from('{"DevIDCert":"AAAA"}'), /DevIDCert must be an array of base64 strings/],
    ['DevIDCert[0] a number', () => Buffer.from('{"DevIDCert":[1]}'), /DevIDCert\[0\] must be a base64 string, got number/],
    ['bad base64', () => Buffer.from('{"DevIDCert":["!!"]}'), /DevIDCert\[0\] is not valid base64/],
    ['too many certificates', () => Buffer.from(JSON.stringify({ DevIDCert: Array(17).fill('AAAA') })), /DevIDCert holds 17 certificates, more than the 16 allowed/],
    ['no certificate', () => Buffer.from('{"DevIDCert":null}'), /^no DevID certificate to attest$/],
    ['a non-certificate', () => Buffer.from('{"DevIDCert":["AAAA"]}'), /^unable to parse DevID certificate: /],
    ['an oversized payload', () => Buffer.alloc(200_000, 0x20), /^attestation payload is 200000 bytes, larger than the 131072 allowed$/],
  ] as Array<[string, () => Buffer, RegExp]>)('refuses a payload that is %s', async (_name, make, msg) => {
    const err = await failure(() => verifyPayload(config, make()));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.message).toMatch(msg);
  });

  it.each([
    ['no AKPub', { akPub: Buffer.alloc(0) }, 'missing attestation key public blob'],
    ['no DevIDPub', { devIdPub: Buffer.alloc(0) }, 'missing DevID key public blob'],
    ['no EKCert', { ekCert: Buffer.alloc(0) }, 'missing endorsement certificate'],
    ['no EKPub', { ekPub: Buffer.alloc(0) }, 'missing endorsement key public blob'],
    ['no certification', { certifiedDevId: Buffer.alloc(0) }, 'missing DevID certification data'],
    ['a garbage EK certificate', { ekCert: Buffer.from([0x30, 0x03, 2, 1, 1]) }, /^unable to parse endorsement certificate: /],
    ['a truncated DevIDPub', { devIdPub: Buffer.from([0, 0x23, 0, 0xb]) }, 'cannot decode DevID key public blob: TPMT_PUBLIC: truncated at objectAttributes (offset 4: need 4 bytes, 0 left)'],
    ['a one-byte AKPub', { akPub: Buffer.from([0]) }, /^cannot decode attestation key public blob: TPMT_PUBLIC: truncated at type/],
    ['a keyedhash EKPub', { ekPub: Buffer.from('0008000b0000000000000010000000000000', 'hex') }, 'cannot decode endorsement key public blob: TPMT_PUBLIC: unsupported object type keyedhash (want rsa or ecc)'],
    ['a truncated signature', { certificationSignature: Buffer.from([0, 0x14, 0, 0xb, 1]) }, /^cannot verify that DevID is in the same TPM than AK: TPMT_SIGNATURE: truncated at sig /],
  ] as Array<[string, Record<string, Buffer>, string | RegExp]>)('refuses a payload with %s', async (_name, over, msg) => {
    const err = await failure(async () => verifyPayload(config, await payloadOf(a, [devIdInter.cert], over)));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    if (typeof msg === 'string') expect(err.message).toBe(msg);
    else expect(err.message).toMatch(msg);
  });

  it('refuses malformed challenge responses', async () => {
    const pending = verifyPayload(config, await payloadOf(a, [devIdInter.cert]));
    for (const [resp, msg] of [
      [undefined, 'unable to unmarshall challenges response: missing challenge response'],
      [Buffer.from('nope'), /^unable to unmarshall challenges response: /],
      [Buffer.from('{"DevID":5}'), 'unable to unmarshall challenges response: DevID must be a base64 string, got number'],
      [Buffer.alloc(20_000, 0x20), 'unable to unmarshall challenges response: 20000 bytes, larger than the 16384 allowed'],
    ] as Array<[Buffer | undefined, string | RegExp]>) {
      const err = await failure(() => checkResponse(pending, resp));
      expect(err.code).toBe(Status.INVALID_ARGUMENT);
      if (typeof msg === 'string') expect(err.message).toBe(msg);
      else expect(err.message).toMatch(msg);
    }
    const empty = await failure(() => checkResponse(pending, encodeChallengeResponse({ devId: Buffer.alloc(0), credActivation: Buffer.alloc(0) })));
    expect(empty.code).toBe(Status.PERMISSION_DENIED);
    expect(empty.message).toBe('devID challenge verification failed: missing signature');
  });

  it('accepts the keys in any case, as Go does', async () => {
    const payload = JSON.parse((await payloadOf(b, [])).toString()) as Record<string, unknown>;
    const lower = Object.fromEntries(Object.entries(payload).map(([k, v]) => [k.toLowerCase(), v]));
    const pending = verifyPayload(config, Buffer.from(JSON.stringify(lower)));
    checkResponse(pending, await answer(b, pending.challenge));
  });
});
