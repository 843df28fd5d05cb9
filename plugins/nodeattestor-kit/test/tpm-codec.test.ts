// The TPM codec against blobs from a real TPM (swtpm driven by tpm2-tools):
// TPMT_PUBLIC round trips and Names equal to what the TPM reports, keys equal
// to tpm2_readpublic's PEM, TPM2_Certify output decoded and verified, and a
// software MakeCredential that a real TPM2_ActivateCredential accepts.
// Hostile input (every truncation, trailing bytes, oversized sizes) fails
// with a TpmError naming the field.
import { createPublicKey, generateKeyPairSync, randomBytes, sign as nodeSign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tpm } from '../src/index.js';
import { HAVE_SWTPM, Swtpm, TpmAgent } from './tpm-swtpm.js';

const { TPM_ALG, TPMA_OBJECT, TpmError } = tpm;

// A public key's JWK, exported from a copy re-imported from DER: Node 20 can deadlock JWK-exporting a generated KeyObject.
function publicJwkViaDer(key: KeyObject): JsonWebKey {
  return createPublicKey({ key: key.export({ type: 'spki', format: 'der' }), format: 'der', type: 'spki' }).export({ format: 'jwk' });
}

function tpmError(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TpmError);
    return err as Error;
  }
  throw new Error('expected a TpmError');
}

describe.skipIf(!HAVE_SWTPM)('TPM codec against swtpm', () => {
  let sw: Swtpm;
  let agent: TpmAgent;
  let ekPub: Buffer;
  let akPub: Buffer;
  let devIdPub: Buffer;

  beforeAll(async () => {
    sw = await Swtpm.start();
    agent = new TpmAgent(sw);
    ekPub = await agent.createEk();
    akPub = await agent.createAk();
    devIdPub = await agent.createDevId('ecc');
  }, 60_000);
  afterAll(async () => sw?.stop());

  it('decodes the default RSA EK template and re-encodes it byte for byte', () => {
    const ek = tpm.decodePublic(ekPub);
    expect(ek.type).toBe(TPM_ALG.RSA);
    if (ek.type !== TPM_ALG.RSA) return;
    expect(ek.nameAlg).toBe(TPM_ALG.SHA256);
    expect(tpm.attributeNames(ek.objectAttributes)).toEqual(['fixedTPM', 'fixedParent', 'sensitiveDataOrigin', 'adminWithPolicy', 'restricted', 'decrypt']);
    expect(ek.authPolicy.toString('hex')).toBe('837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa');
    expect(ek.symmetric).toEqual({ algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB });
    expect(ek.scheme.scheme).toBe(TPM_ALG.NULL);
    expect(ek.keyBits).toBe(2048);
    expect(ek.exponent).toBe(0);
    expect(ek.modulus).toHaveLength(256);
    expect(tpm.encodePublic(ek).equals(ekPub)).toBe(true);
  });

  it('computes the Name tpm2_createak reports and the key tpm2_readpublic exports', async () => {
    expect(tpm.publicName(akPub).equals(sw.read('ak.name'))).toBe(true);
    const ak = tpm.decodePublic(akPub);
    expect(tpm.hasAttributes(ak, ['sign', 'restricted', 'fixedTPM', 'fixedParent', 'sensitiveDataOrigin'])).toBe(true);
    expect(ak.scheme).toEqual({ scheme: TPM_ALG.RSASSA, hashAlg: TPM_ALG.SHA256 });
    expect(tpm.encodePublic(ak).equals(akPub)).toBe(true);
    for (const [ctx, blob] of [['ak.ctx', akPub], ['ek.ctx', ekPub], ['devid.ctx', devIdPub]] as const) {
      await sw.toolFlushed('tpm2_readpublic', ['-c', ctx, '-f', 'pem', '-o', 'key.pem']);
      const fromTool = createPublicKey(sw.read('key.pem'));
      expect(tpm.sameKey(tpm.publicKeyOf(tpm.decodePublic(blob)), fromTool)).toBe(true);
    }
  });

  it('decodes an ECC DevID key', () => {
    const d = tpm.decodePublic(devIdPub);
    expect(d.type).toBe(TPM_ALG.ECC);
    if (d.type !== TPM_ALG.ECC) return;
    expect(d.curveId).toBe(tpm.TPM_ECC_CURVE.NIST_P256);
    expect(d.scheme).toEqual({ scheme: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA256 });
    expect(d.kdf.scheme).toBe(TPM_ALG.NULL);
    expect(d.objectAttributes & TPMA_OBJECT.fixedTPM).toBe(TPMA_OBJECT.fixedTPM);
    expect(tpm.encodePublic(d).equals(devIdPub)).toBe(true);
  });

  it('decodes TPM2_Certify output and verifies it with the AK', async () => {
    const [attestBytes, sigBytes] = await agent.certify();
    const attest = tpm.decodeAttest(attestBytes);
    expect(attest.type).toBe(tpm.TPM_ST_ATTEST.CERTIFY);
    expect(attest.certify?.name.equals(tpm.publicName(devIdPub))).toBe(true);
    expect(attest.qualifiedSigner.subarray(0, 2).toString('hex')).toBe('000b');
    const sig = tpm.decodeSignature(sigBytes);
    expect(sig.sigAlg).toBe(TPM_ALG.RSASSA);
    const akKey = tpm.publicKeyOf(tpm.decodePublic(akPub));
    expect(tpm.verifySignature(akKey, attestBytes, sig)).toBeUndefined();
    const tampered = Buffer.from(attestBytes);
    tampered[tampered.length - 1] ^= 1;
    expect(tpm.verifySignature(akKey, tampered, sig)).toBe('signature verification failed');
    expect(tpm.verifySignature(akKey, attestBytes, sig, { hashes: [TPM_ALG.SHA384] })).toBe('signature hash sha256 is not accepted');
    expect(tpm.verifySignature(tpm.publicKeyOf(tpm.decodePublic(devIdPub)), attestBytes, sig)).toBe('an RSA signature cannot be made by a ec key');
  });

  it('verifies an ECDSA TPM2_Sign signature', async () => {
    const nonce = randomBytes(32);
    const sig = tpm.decodeSignature(await agent.sign(nonce));
    expect(sig.sigAlg).toBe(TPM_ALG.ECDSA);
    const key = tpm.publicKeyOf(tpm.decodePublic(devIdPub));
    expect(tpm.verifySignature(key, nonce, sig)).toBeUndefined();
    expect(tpm.verifySignature(key, randomBytes(32), sig)).toBe('signature verification failed');
  });

  it('makes a credential that TPM2_ActivateCredential recovers, for the AK only', async () => {
    const ek = tpm.decodePublic(ekPub);
    const secret = randomBytes(32);
    const made = tpm.makeCredential(ek, tpm.publicName(akPub), secret);
    expect(made.secret).toHaveLength(256);
    expect(made.credentialBlob).toHaveLength(2 + 32 + 2 + 32);
    expect((await agent.activateCredential(made.credentialBlob, made.secret)).equals(secret)).toBe(true);
    // bound to another object's name: the TPM's integrity check fails
    const wrong = tpm.makeCredential(ek, tpm.publicName(devIdPub), secret);
    await expect(agent.activateCredential(wrong.credentialBlob, wrong.secret)).rejects.toThrow(/tpm2_activatecredential/);
    // a shorter credential round-trips too
    const short = tpm.makeCredential(ek, tpm.publicName(akPub), Buffer.from('hello'));
    expect((await agent.activateCredential(short.credentialBlob, short.secret)).toString()).toBe('hello');
  });

  it('tpm2_makecredential offline output is the same structure', async () => {
    const name = sw.read('ak.name').toString('hex');
    sw.write('secret.bin', Buffer.from('0123456789abcdef'));
    await sw.tool('tpm2_makecredential', ['-T', 'none', '-u', 'ek.pub', '-s', 'secret.bin', '-n', name, '-o', 'tool.cred']);
    const file = sw.read('tool.cred');
    expect(file.readUInt32BE(0)).toBe(0xbadcc0de);
    const r = new tpm.TpmReader(file.subarray(8), 'credential file');
    const idObject = r.tpm2b('credential', 0xffff);
    const encSecret = r.tpm2b('secret', 0xffff);
    r.end();
    expect(idObject).toHaveLength(2 + 32 + 2 + 16);
    expect(encSecret).toHaveLength(256);
    expect((await agent.activateCredential(idObject, encSecret)).toString()).toBe('0123456789abcdef');
  });

  it('refuses every truncation and trailing bytes of real blobs', async () => {
    const [attestBytes, sigBytes] = await agent.certify();
    for (const [blob, decode] of [
      [ekPub, tpm.decodePublic],
      [akPub, tpm.decodePublic],
      [devIdPub, tpm.decodePublic],
      [attestBytes, tpm.decodeAttest],
      [sigBytes, tpm.decodeSignature],
    ] as Array<[Buffer, (b: Uint8Array) => unknown]>) {
      for (let n = 0; n < blob.length; n++) expect(tpmError(() => decode(blob.subarray(0, n))).message).toMatch(/truncated at |magic is/);
      expect(tpmError(() => decode(Buffer.concat([blob, Buffer.from([0])]))).message).toMatch(/1 trailing bytes after the structure$/);
    }
  });
});

describe('TPM codec, hostile and synthetic input', () => {
  const eccPub = (): tpm.EccPublic => {
    const jwk = publicJwkViaDer(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey);
    return {
      type: TPM_ALG.ECC,
      nameAlg: TPM_ALG.SHA256,
      objectAttributes: TPMA_OBJECT.sign | TPMA_OBJECT.fixedTPM,
      authPolicy: Buffer.alloc(0),
      symmetric: { algorithm: TPM_ALG.NULL, keyBits: 0, mode: 0 },
      scheme: { scheme: TPM_ALG.ECDAA, hashAlg: TPM_ALG.SHA384, count: 7 },
      curveId: tpm.TPM_ECC_CURVE.NIST_P384,
      kdf: { scheme: TPM_ALG.KDF1_SP800_108, hashAlg: TPM_ALG.SHA256 },
      x: Buffer.from(jwk.x!, 'base64url'),
      y: Buffer.from(jwk.y!, 'base64url'),
    };
  };

  it('round-trips a P-384 key with ECDAA and KDF schemes and converts it to a KeyObject', () => {
    const p = eccPub();
    const enc = tpm.encodePublic(p);
    expect(tpm.decodePublic(enc)).toEqual(p);
    expect(tpm.publicKeyOf(p).asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
    expect(tpm.publicName(enc).subarray(0, 2).toString('hex')).toBe('000b');
  });

  it('names the field of an oversized TPM2B, an unknown type or algorithm', () => {
    const enc = tpm.encodePublic(eccPub());
    const big = Buffer.from(enc);
    big.writeUInt16BE(65, 8); // authPolicy size
    expect(tpmError(() => tpm.decodePublic(big)).message).toBe('TPMT_PUBLIC: authPolicy is 65 bytes, more than the 64 allowed');
    const keyed = Buffer.from(enc);
    keyed.writeUInt16BE(TPM_ALG.KEYEDHASH, 0);
    expect(tpmError(() => tpm.decodePublic(keyed)).message).toBe('TPMT_PUBLIC: unsupported object type keyedhash (want rsa or ecc)');
    const md5 = Buffer.from(enc);
    md5.writeUInt16BE(0x0003, 2);
    expect(tpmError(() => tpm.decodePublic(md5)).message).toBe('TPMT_PUBLIC: unsupported nameAlg 0x0003');
    const badCurve = { ...eccPub(), curveId: tpm.TPM_ECC_CURVE.BN_P256 };
    expect(tpmError(() => tpm.publicKeyOf(badCurve)).message).toBe('TPMT_PUBLIC: unsupported ECC curve 0x0010 (want NIST P-256, P-384 or P-521)');
    const offCurve = { ...eccPub(), y: Buffer.alloc(48, 1) };
    expect(tpmError(() => tpm.publicKeyOf(offCurve)).message).toMatch(/^TPMT_PUBLIC: invalid ECC point/);
  });

  it('checks TPMS_ATTEST magic and type, and TPMT_SIGNATURE algorithm', () => {
    const w = new tpm.TpmWriter().u32(0xff544347).u16(0x8017).tpm2b(Buffer.alloc(34)).tpm2b(Buffer.alloc(0)).u64(1n).u32(2).u32(3).u8(1).u64(4n);
    const certify = w.finish();
    const good = Buffer.concat([certify, new tpm.TpmWriter().tpm2b(Buffer.alloc(34, 1)).tpm2b(Buffer.alloc(34, 2)).finish()]);
    const a = tpm.decodeAttest(good);
    expect(a.clockInfo).toEqual({ clock: 1n, resetCount: 2, restartCount: 3, safe: true });
    expect(a.certify?.name).toEqual(Buffer.alloc(34, 1));
    const magic = Buffer.from(good);
    magic.writeUInt32BE(0xff544348, 0);
    expect(tpmError(() => tpm.decodeAttest(magic)).message).toBe('TPMS_ATTEST: magic is 0xff544348, not TPM_GENERATED_VALUE (0xff544347)');
    const type = Buffer.from(good);
    type.writeUInt16BE(0x8001, 4);
    expect(tpmError(() => tpm.decodeAttest(type)).message).toBe('TPMS_ATTEST: unknown attestation type 0x8001');
    const safe = Buffer.from(good);
    safe[4 + 2 + 36 + 2 + 16] = 2;
    expect(tpmError(() => tpm.decodeAttest(safe)).message).toBe('TPMS_ATTEST: clockInfo.safe is 2, not a TPMI_YES_NO');
    expect(tpmError(() => tpm.decodeSignature(Buffer.from([0, 5, 0, 0xb]))).message).toBe('TPMT_SIGNATURE: unsupported signature algorithm hmac (want rsassa, rsapss or ecdsa)');
  });

  it('verifies RSAPSS and ECDSA TPMT_SIGNATUREs built in software', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const msg = randomBytes(50);
    const pss = nodeSign('sha256', msg, { key: rsa.privateKey, padding: 6, saltLength: 32 });
    const sig = tpm.decodeSignature(new tpm.TpmWriter().u16(TPM_ALG.RSAPSS).u16(TPM_ALG.SHA256).tpm2b(pss).finish());
    expect(tpm.verifySignature(rsa.publicKey, msg, sig)).toBeUndefined();
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rs = nodeSign('sha384', msg, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
    // leading zeros stripped, as a TPM may
    const r = rs.subarray(0, 32);
    const s = rs.subarray(32);
    const ecSig = tpm.decodeSignature(new tpm.TpmWriter().u16(TPM_ALG.ECDSA).u16(TPM_ALG.SHA384).tpm2b(Buffer.concat([Buffer.alloc(0), r])).tpm2b(s).finish());
    expect(tpm.verifySignature(ec.publicKey, msg, ecSig)).toBeUndefined();
    if (ecSig.sigAlg !== TPM_ALG.ECDSA) throw new Error('want an ECDSA signature');
    expect(tpm.verifySignature(ec.publicKey, msg, { ...ecSig, r: Buffer.alloc(40, 1) })).toBe('signature verification failed');
  });

  it('KDFa matches known answers (SP 800-108 counter mode) and masks partial bytes', () => {
    // Vectors from an independent KDFa implementation (key 0x0b×32, contextU 0x01×16, contextV 0x02×16).
    const key = Buffer.alloc(32, 0x0b);
    const u = Buffer.alloc(16, 1);
    const v = Buffer.alloc(16, 2);
    expect(tpm.kdfa(TPM_ALG.SHA256, key, 'ATH', u, v, 256).toString('hex')).toBe('63591fea5c8a26cee98e509a3cd1ba3b4e3c079f7014fc56e5805175d15e292b');
    expect(tpm.kdfa(TPM_ALG.SHA256, key, 'CFB', u, v, 128).toString('hex')).toBe('102d8c3954fd6f1e1decad8fa4cc2180');
    // 521 bits: several HMAC blocks, and the first byte masked to its low bit
    expect(tpm.kdfa(TPM_ALG.SHA256, key, 'STORAGE', u, v, 521).toString('hex')).toBe(
      '010daf94829d8540d49264e166574cabb8956388fe1c8c7e494f432dc7057c4b75713e7aac5e6df4630ce6ab7a1cd21539a9c79364b8ba6d2b2b559c33e7b2e87cbc',
    );
    expect(() => tpm.kdfa(0x99, key, 'X', u, v, 8)).toThrow('KDFa: unsupported hash 0x0099');
    expect(() => tpm.kdfa(TPM_ALG.SHA256, key, 'X', u, v, 0)).toThrow('KDFa: invalid key size 0 bits');
  });

  it('refuses MakeCredential for unsupported EKs and oversized credentials', () => {
    expect(tpmError(() => tpm.makeCredential(eccPub(), Buffer.alloc(34), Buffer.alloc(32))).message).toBe('MakeCredential: only RSA endorsement keys are supported');
    const rsaJwk = publicJwkViaDer(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey);
    const ek: tpm.RsaPublic = {
      type: TPM_ALG.RSA,
      nameAlg: TPM_ALG.SHA256,
      objectAttributes: TPMA_OBJECT.decrypt | TPMA_OBJECT.restricted,
      authPolicy: Buffer.alloc(0),
      symmetric: { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB },
      scheme: { scheme: TPM_ALG.NULL, hashAlg: 0 },
      keyBits: 2048,
      exponent: 0,
      modulus: Buffer.from(rsaJwk.n!, 'base64url'),
    };
    const name = Buffer.concat([Buffer.from([0, 0xb]), Buffer.alloc(32)]);
    expect(tpmError(() => tpm.makeCredential(ek, name, Buffer.alloc(33))).message).toBe('MakeCredential: credential must be 1 to 32 bytes, got 33');
    expect(tpmError(() => tpm.makeCredential(ek, name.subarray(0, 20), Buffer.alloc(32))).message).toBe('MakeCredential: object name is not a hash algorithm followed by its digest');
    expect(tpmError(() => tpm.makeCredential({ ...ek, symmetric: { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CBC } }, name, Buffer.alloc(32))).message).toBe('MakeCredential: EK symmetric algorithm must be AES-CFB, got aes-cbc');
    expect(tpm.makeCredential(ek, name, Buffer.alloc(32)).secret).toHaveLength(256);
  });
});
