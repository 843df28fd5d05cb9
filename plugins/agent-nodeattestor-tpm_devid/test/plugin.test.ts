// The agent tpm_devid plugin served in-process over the real plugin wire,
// driving a fresh swtpm through tpm2-tools: configuration errors, the
// AttestationRequest it sends (EK certificate from NV, EK public matching it,
// a restricted AK, the DevID key certified by the AK), and its answers to a
// challenge made independently (tpm2_makecredential -T none, a random
// nonce), checked with node:crypto. Several attestations in a row must leave
// no transient object or session behind.
import { createHash, X509Certificate } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageReader } from '@spire-ts/common';
import { Status } from '@spire-ts/plugin-sdk';
import {
  provisionDevId,
  rejection,
  servePluginInProcess,
  startSwtpm,
  x509popTestCa,
  type InProcessPlugin,
  type ProvisionedDevId,
  type Swtpm,
  type X509popIssued,
} from '@spire-ts/conformance';
import type { agentNodeAttestorV1 } from '@spire-ts/proto';
import { parsePublic, TPMA_OBJECT, TPM_ALG, tpmDevIdAgentPlugin } from '../src/index.js';
import { b, devIdSignatureOk, makeChallenge, nameOf, parseRequest, rsaKeyOfPublic, tpmGate } from './helpers.js';

type Msg = agentNodeAttestorV1.PayloadOrChallengeResponse__Output;
type SERVICE = 'spire.plugin.agent.nodeattestor.v1.NodeAttestor';

const gate = await tpmGate();
const dir = mkdtempSync(join(tmpdir(), 'tpm-devid-agent-'));
const hcl = (o: Record<string, string>): string => Object.entries(o).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join('\n');

let plugin: InProcessPlugin<SERVICE>;
let tpm: Swtpm;
let tpm2: Swtpm;
let manufacturer: X509popIssued;
let devIdRoot: X509popIssued;
let devIdInter: X509popIssued;
let rsa: ProvisionedDevId;
let ecc: ProvisionedDevId;

const dataFor = (p: ProvisionedDevId, t: Swtpm, extra: Record<string, string> = {}): string =>
  hcl({ devid_cert_path: p.devIdCertPath, devid_priv_path: p.devIdPrivPath, devid_pub_path: p.devIdPubPath, tcti: t.tcti, ...extra });

/** A scratch directory as a plugin process killed mid-attestation leaves it (its pid is gone). */
const stale = ((): string => {
  const deadPid = spawnSync(process.execPath, ['-e', '0']).pid;
  const p = join(tmpdir(), `spire-tpm-devid-${deadPid}-AbC123`);
  mkdirSync(p, { recursive: true, mode: 0o700 });
  writeFileSync(join(p, 'devid.auth'), 'secret');
  return p;
})();

beforeAll(async () => {
  plugin = await servePluginInProcess(tpmDevIdAgentPlugin());
  if (gate.skip) return;
  manufacturer = await x509popTestCa('test TPM manufacturer');
  devIdRoot = await x509popTestCa('test DevID root');
  devIdInter = await x509popTestCa('test DevID intermediate', devIdRoot);
  tpm = await startSwtpm({ dir });
  rsa = await provisionDevId(tpm, { dir: join(dir, 'rsa'), manufacturer, devIdCa: { root: devIdRoot, intermediate: devIdInter }, commonName: 'node-rsa' });
  tpm2 = await startSwtpm({ dir });
  ecc = await provisionDevId(tpm2, {
    dir: join(dir, 'ecc'),
    manufacturer,
    devIdCa: { root: devIdRoot },
    keyType: 'ec',
    commonName: 'node-ecc',
    devIdPassword: 'devid secret',
    ownerPassword: 'owner-pw',
    endorsementPassword: 'endorse-pw',
  });
}, 120_000);

afterAll(async () => {
  rmSync(stale, { recursive: true, force: true });
  await plugin.close();
  await tpm?.stop();
  await tpm2?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs one attestation; `challenge` builds the server's challenge from the payload. */
async function attest(challenge: (payload: Uint8Array) => Promise<Uint8Array> | Uint8Array, p: InProcessPlugin<SERVICE> = plugin): Promise<{ payload: Uint8Array; response: Uint8Array }> {
  const stream = p.client.AidAttestation();
  const reader = messageReader<Msg>(stream);
  try {
    const first = await reader.next();
    if (first?.data !== 'payload' || !first.payload) throw new Error(`want a payload first, got ${JSON.stringify(first)}`);
    stream.write({ challenge: await challenge(first.payload) });
    const second = await reader.next();
    if (second?.data !== 'challenge_response' || !second.challenge_response) throw new Error(`want a challenge_response, got ${JSON.stringify(second)}`);
    return { payload: first.payload, response: second.challenge_response };
  } finally {
    reader.close();
    stream.end();
  }
}

describe('configuration', () => {
  it('refuses to attest before Configure', async () => {
    const fresh = await servePluginInProcess(tpmDevIdAgentPlugin());
    try {
      const err = await rejection(attest(() => new Uint8Array(), fresh));
      expect([err.code, err.details]).toEqual([Status.FAILED_PRECONDITION, 'not configured']);
    } finally {
      await fresh.close();
    }
  });

  it.each([
    ['no devid_cert_path', { devid_priv_path: '/x', devid_pub_path: '/x', tcti: 'mssim' }, 'devid_cert_path is required'],
    ['no devid_priv_path', { devid_cert_path: '/x', devid_pub_path: '/x', tcti: 'mssim' }, 'devid_priv_path is required'],
    ['no devid_pub_path', { devid_cert_path: '/x', devid_priv_path: '/x', tcti: 'mssim' }, 'devid_pub_path is required'],
    ['both tcti and tpm_device_path', { devid_cert_path: '/x', devid_priv_path: '/x', devid_pub_path: '/x', tcti: 'mssim', tpm_device_path: '/dev/tpmrm0' }, 'tcti and tpm_device_path are mutually exclusive'],
    ['a malformed tcti', { devid_cert_path: '/x', devid_priv_path: '/x', devid_pub_path: '/x', tcti: ':port=1' }, 'is not of the form <name>[:<conf>]'],
  ])('refuses %s', async (_name, data, msg) => {
    const err = await rejection(plugin.configure(hcl(data)));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toContain(msg);
  });

  it('refuses an unknown key', async () => {
    const err = await rejection(plugin.configure('devid_cert_path = "/x"\nbogus = 1'));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toContain('bogus');
  });

  it('reports unreadable DevID files', async () => {
    const certPath = join(dir, 'not-a-cert.pem');
    writeFileSync(certPath, 'hello');
    const err = await rejection(plugin.configure(hcl({ devid_cert_path: join(dir, 'missing.pem'), devid_priv_path: '/x', devid_pub_path: '/x', tcti: 'mssim' })));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toMatch(/^unable to load DevID files: cannot load certificate\(s\): ENOENT/);
    const err2 = await rejection(plugin.configure(hcl({ devid_cert_path: certPath, devid_priv_path: '/x', devid_pub_path: '/x', tcti: 'mssim' })));
    expect(err2.details).toContain('no CERTIFICATE PEM block found');
  });

  it('autodetects no TPM in an empty /dev (the plugin reports it)', async () => {
    const { autodetectTpmPath } = await import('../src/index.js');
    const empty = mkdtempSync(join(dir, 'dev-'));
    await expect(autodetectTpmPath(empty)).rejects.toThrow('not found');
    writeFileSync(join(empty, 'tpm0'), '');
    writeFileSync(join(empty, 'tpmrm0'), '');
    await expect(autodetectTpmPath(empty)).resolves.toBe(join(empty, 'tpmrm0'));
    writeFileSync(join(empty, 'tpmrm1'), '');
    await expect(autodetectTpmPath(empty)).rejects.toThrow('more than one possible TPM device was found');
  });
});

describe.skipIf(gate.skip)('attestation against swtpm', () => {
  it('RSA DevID: the AttestationRequest holds genuine TPM evidence, and the answers verify', async () => {
    await plugin.configure(dataFor(rsa, tpm));
    let made: Awaited<ReturnType<typeof makeChallenge>> | undefined;
    const { payload, response } = await attest(async (p) => (made = await makeChallenge(parseRequest(p))).json);
    const req = parseRequest(payload);
    expect(Object.keys(req)).toEqual(['DevIDCert', 'DevIDPub', 'EKCert', 'EKPub', 'AKPub', 'CertifiedDevID', 'CertificationSignature']);
    // The chain: leaf then intermediate, as in devid_cert_path.
    expect(req.DevIDCert.map(b)).toEqual([Buffer.from(rsa.devIdCert.der), Buffer.from(devIdInter.cert.der)]);
    expect(b(req.DevIDPub)).toEqual(Buffer.from(rsa.key.pubBlob));
    // The EK certificate read back from NV, and the regenerated EK matching it.
    expect(b(req.EKCert)).toEqual(Buffer.from(rsa.endorsement!.ekCert.der));
    const ekCertKey = new X509Certificate(b(req.EKCert)).publicKey.export({ format: 'der', type: 'spki' });
    expect(rsaKeyOfPublic(b(req.EKPub)).export({ format: 'der', type: 'spki' })).toEqual(ekCertKey);
    // The AK: a restricted RSASSA-SHA256 signing key, fixed to the TPM.
    const ak = parsePublic(b(req.AKPub));
    expect([ak.type, ak.scheme, ak.schemeHash]).toEqual([TPM_ALG.RSA, TPM_ALG.RSASSA, TPM_ALG.SHA256]);
    expect(ak.attributes & (TPMA_OBJECT.restricted | TPMA_OBJECT.sign | TPMA_OBJECT.fixedTPM)).toBe(TPMA_OBJECT.restricted | TPMA_OBJECT.sign | TPMA_OBJECT.fixedTPM);
    // TPMS_ATTEST: TPM_GENERATED_VALUE, TPM_ST_ATTEST_CERTIFY, and the certified name is the DevID key's.
    const attested = b(req.CertifiedDevID);
    expect(attested.readUInt32BE(0)).toBe(0xff544347);
    expect(attested.readUInt16BE(4)).toBe(0x8017);
    expect(attested.includes(nameOf(b(req.DevIDPub)))).toBe(true);
    // TPMT_SIGNATURE (RSASSA, SHA-256) by the AK over the attestation.
    const sig = b(req.CertificationSignature);
    expect([sig.readUInt16BE(0), sig.readUInt16BE(2), sig.readUInt16BE(4)]).toEqual([TPM_ALG.RSASSA, TPM_ALG.SHA256, 256]);
    const { verify } = await import('node:crypto');
    expect(verify('sha256', attested, rsaKeyOfPublic(b(req.AKPub)), sig.subarray(6))).toBe(true);
    // The answers: the nonce signed by the DevID key (PKCS#1 v1.5), the credential's secret.
    const ans = JSON.parse(Buffer.from(response).toString()) as { DevID: string; CredActivation: string };
    expect(Object.keys(ans)).toEqual(['DevID', 'CredActivation']);
    expect(devIdSignatureOk(new X509Certificate(rsa.devIdCert.der).publicKey, made!.nonce, b(ans.DevID))).toBe(true);
    expect(b(ans.CredActivation)).toEqual(made!.secret);
    // The first session of this process swept the scratch directory a dead plugin process left.
    expect(existsSync(stale)).toBe(false);
  }, 60_000);

  it('ECC DevID with DevID and hierarchy passwords: DER ECDSA answer', async () => {
    await plugin.configure(dataFor(ecc, tpm2, { devid_password: 'devid secret', owner_hierarchy_password: 'owner-pw', endorsement_hierarchy_password: 'endorse-pw' }));
    let made: Awaited<ReturnType<typeof makeChallenge>> | undefined;
    const { payload, response } = await attest(async (p) => (made = await makeChallenge(parseRequest(p))).json);
    const req = parseRequest(payload);
    expect(req.DevIDCert).toHaveLength(1);
    expect(parsePublic(b(req.DevIDPub)).type).toBe(TPM_ALG.ECC);
    const ans = JSON.parse(Buffer.from(response).toString()) as { DevID: string; CredActivation: string };
    const sig = b(ans.DevID);
    expect(sig[0]).toBe(0x30); // DER ECDSA-Sig-Value
    expect(devIdSignatureOk(ecc.key.publicKey, made!.nonce, sig)).toBe(true);
    expect(b(ans.CredActivation)).toEqual(made!.secret);
  }, 60_000);

  it('ECC DevID with a wrong DevID password: certification fails with the tool error', async () => {
    await plugin.configure(dataFor(ecc, tpm2, { devid_password: 'wrong', owner_hierarchy_password: 'owner-pw', endorsement_hierarchy_password: 'endorse-pw' }));
    const err = await rejection(attest(() => new Uint8Array()));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toMatch(/^unable to certify DevID key: tpm2_certify failed: .*authorization|^unable to certify DevID key: tpm2_certify failed: .*0x9a2|^unable to certify DevID key: tpm2_certify failed/);
    expect(await tpm2.transientHandles()).toEqual([]);
  }, 60_000);

  it('a wrong endorsement hierarchy password is reported by the tool that failed', async () => {
    await plugin.configure(dataFor(ecc, tpm2, { devid_password: 'devid secret', owner_hierarchy_password: 'owner-pw', endorsement_hierarchy_password: 'nope' }));
    const err = await rejection(attest(() => new Uint8Array()));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toMatch(/^unable to start a new TPM session: cannot create endorsement key: tpm2_createek failed: /);
    expect(await tpm2.transientHandles()).toEqual([]);
  }, 60_000);

  it('runs attestations back to back without leaking transient objects or sessions', async () => {
    await plugin.configure(dataFor(rsa, tpm));
    for (let i = 0; i < 4; i++) {
      let made: Awaited<ReturnType<typeof makeChallenge>> | undefined;
      const { response } = await attest(async (p) => (made = await makeChallenge(parseRequest(p))).json);
      expect(b((JSON.parse(Buffer.from(response).toString()) as { CredActivation: string }).CredActivation)).toEqual(made!.secret);
      expect(await tpm.transientHandles()).toEqual([]);
      const sessions = await tpm.tool('tpm2_getcap', ['handles-saved-session']);
      const loaded = await tpm.tool('tpm2_getcap', ['handles-loaded-session']);
      expect((sessions + loaded).trim()).toBe('');
    }
  }, 120_000);

  it('attests concurrently (serialised on the TPM)', async () => {
    await plugin.configure(dataFor(rsa, tpm));
    const runs = await Promise.all(
      [0, 1].map(async () => {
        let made: Awaited<ReturnType<typeof makeChallenge>> | undefined;
        const { response } = await attest(async (p) => (made = await makeChallenge(parseRequest(p))).json);
        return b((JSON.parse(Buffer.from(response).toString()) as { CredActivation: string }).CredActivation).equals(made!.secret);
      }),
    );
    expect(runs).toEqual([true, true]);
    expect(await tpm.transientHandles()).toEqual([]);
  }, 120_000);

  it('refuses a challenge that is not SPIRE JSON', async () => {
    await plugin.configure(dataFor(rsa, tpm));
    const err = await rejection(attest(() => Buffer.from('{"DevID": 5}')));
    expect([err.code, err.details]).toEqual([Status.INVALID_ARGUMENT, 'unable to unmarshall challenges: DevID is not a base64 string']);
    const err2 = await rejection(attest(() => Buffer.from('not json')));
    expect(err2.details).toMatch(/^unable to unmarshall challenges: not JSON/);
    const err3 = await rejection(attest(() => Buffer.from(JSON.stringify({ DevID: 'A'.repeat(4000) }))));
    expect(err3.details).toBe('unable to unmarshall challenges: DevID is 3000 bytes, more than 1024');
    expect(await tpm.transientHandles()).toEqual([]);
  }, 60_000);

  it('refuses a challenge without a credential activation part', async () => {
    await plugin.configure(dataFor(rsa, tpm));
    const err = await rejection(attest(() => Buffer.from(JSON.stringify({ DevID: Buffer.alloc(32, 1).toString('base64'), CredActivation: null }))));
    expect([err.code, err.details]).toEqual([Status.INTERNAL, 'received empty credential activation challenge from server']);
  }, 60_000);

  it('cannot activate a credential made for another key (the TPM refuses)', async () => {
    await plugin.configure(dataFor(rsa, tpm));
    const err = await rejection(attest(async (p) => (await makeChallenge(parseRequest(p), b(parseRequest(p).DevIDPub))).json));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toMatch(/^unable to solve proof of residency challenge: failed to activate credential: tpm2_activatecredential failed: /);
    expect(await tpm.transientHandles()).toEqual([]);
    expect((await tpm.tool('tpm2_getcap', ['handles-saved-session'])).trim()).toBe('');
  }, 60_000);

  it('cannot load DevID blobs made by another TPM', async () => {
    await plugin.configure(hcl({ devid_cert_path: ecc.devIdCertPath, devid_priv_path: ecc.devIdPrivPath, devid_pub_path: ecc.devIdPubPath, tcti: tpm.tcti }));
    const err = await rejection(attest(() => new Uint8Array()));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toMatch(/^unable to start a new TPM session: cannot load DevID key on TPM: tpm2_load failed: /);
    expect(await tpm.transientHandles()).toEqual([]);
  }, 60_000);

  it('reports an unreachable TPM', async () => {
    await plugin.configure(dataFor(rsa, tpm, { tcti: 'swtpm:host=127.0.0.1,port=1' }));
    const err = await rejection(attest(() => new Uint8Array()));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toMatch(/^unable to start a new TPM session: .*tpm2_getcap failed: /);
  }, 60_000);

  it('the SHA-1 fingerprint SPIRE uses for the agent ID is the DevID certificate\'s', () => {
    expect(createHash('sha1').update(rsa.devIdCert.der).digest('hex')).toMatch(/^[0-9a-f]{40}$/);
  });
});
