// The byte work of the agent tpm_devid plugin, without a TPM: TPMT_PUBLIC
// parsing and the DevID key checks SPIRE makes, TPMT_SIGNATURE → the bytes
// Go's CheckSignature wants (checked against node:crypto signatures), the
// tpm2-tools credential file, TPM2B prefixes, EK certificates padded in NV,
// and the challenge JSON as Go's encoding/json writes and reads it.
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  addTpm2b,
  attestationRequest,
  challengeResponse,
  checkDevIdPublic,
  credentialFile,
  leadingDer,
  parseChallenge,
  parsePublic,
  rawBlob,
  signatureBytes,
  stripTpm2b,
  TPM_ALG,
  TPMA_OBJECT,
} from '../src/index.js';

const u16 = (v: number): Buffer => Buffer.from([v >> 8, v & 0xff]);
const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};
const t2b = (b: Uint8Array): Buffer => Buffer.concat([u16(b.length), b]);

const SIGN_ATTRS = TPMA_OBJECT.sign | TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.userWithAuth;

function rsaPublic(o: { attrs?: number; scheme?: number; hash?: number; modulus?: Buffer } = {}): Buffer {
  const scheme = o.scheme ?? TPM_ALG.RSASSA;
  return Buffer.concat([
    u16(TPM_ALG.RSA),
    u16(TPM_ALG.SHA256),
    u32(o.attrs ?? SIGN_ATTRS),
    t2b(Buffer.alloc(0)),
    u16(TPM_ALG.NULL),
    u16(scheme),
    ...(scheme === TPM_ALG.NULL ? [] : [u16(o.hash ?? TPM_ALG.SHA256)]),
    u16(2048),
    u32(0),
    t2b(o.modulus ?? Buffer.alloc(256, 0xab)),
  ]);
}

function eccPublic(): Buffer {
  return Buffer.concat([
    u16(TPM_ALG.ECC),
    u16(TPM_ALG.SHA256),
    u32(SIGN_ATTRS),
    t2b(Buffer.alloc(0)),
    u16(TPM_ALG.NULL),
    u16(TPM_ALG.ECDSA),
    u16(TPM_ALG.SHA256),
    u16(0x0003), // NIST P-256
    u16(TPM_ALG.NULL), // kdf
    t2b(Buffer.alloc(32, 1)),
    t2b(Buffer.alloc(32, 2)),
  ]);
}

describe('TPMT_PUBLIC', () => {
  it('parses RSA and ECC signing keys', () => {
    expect(parsePublic(rsaPublic())).toEqual({ type: TPM_ALG.RSA, nameAlg: TPM_ALG.SHA256, attributes: SIGN_ATTRS, scheme: TPM_ALG.RSASSA, schemeHash: TPM_ALG.SHA256, keyBitsOrCurve: 2048 });
    expect(parsePublic(eccPublic())).toMatchObject({ type: TPM_ALG.ECC, scheme: TPM_ALG.ECDSA, schemeHash: TPM_ALG.SHA256, keyBitsOrCurve: 3 });
  });

  it('refuses truncated, padded and unknown areas', () => {
    const pub = rsaPublic();
    expect(() => parsePublic(pub.subarray(0, pub.length - 1))).toThrow(/truncated at byte \d+/);
    expect(() => parsePublic(Buffer.concat([pub, Buffer.from([0])]))).toThrow('1 trailing bytes');
    expect(() => parsePublic(Buffer.concat([u16(0x0008), pub.subarray(2)]))).toThrow('bad key type: 0x0008');
    // A huge TPM2B size cannot read past the end.
    expect(() => parsePublic(Buffer.concat([u16(TPM_ALG.RSA), u16(TPM_ALG.SHA256), u32(0), u16(0xffff)]))).toThrow(/truncated/);
  });

  it('accepts only DevID keys SPIRE can use', () => {
    expect(() => checkDevIdPublic(rsaPublic())).not.toThrow();
    expect(() => checkDevIdPublic(eccPublic())).not.toThrow();
    expect(() => checkDevIdPublic(rsaPublic({ attrs: TPMA_OBJECT.decrypt | TPMA_OBJECT.fixedTPM }))).toThrow('DevID public blob: not a signing key');
    expect(() => checkDevIdPublic(rsaPublic({ scheme: TPM_ALG.NULL }))).toThrow('signature hash algorithm is NULL');
    expect(() => checkDevIdPublic(rsaPublic({ scheme: TPM_ALG.RSAPSS }))).toThrow('must use the RSASSA scheme');
    expect(() => checkDevIdPublic(rsaPublic({ hash: 0x0012 }))).toThrow('unsupported signature hash algorithm 0x12');
  });
});

describe('TPM2B and blobs', () => {
  it('adds and strips size prefixes, checking them', () => {
    const data = Buffer.from('hello');
    expect(Buffer.from(addTpm2b(data, 'x'))).toEqual(Buffer.from([0, 5, ...data]));
    expect(Buffer.from(stripTpm2b(addTpm2b(data, 'x'), 'x'))).toEqual(data);
    expect(() => stripTpm2b(Buffer.from([0, 9, 1]), 'thing')).toThrow('thing: TPM2B size 9 does not match its 1 bytes');
    expect(() => addTpm2b(Buffer.alloc(0x10000), 'big')).toThrow('do not fit a TPM2B');
  });

  it('reads SPIRE blobs (no prefix) and tpm2-tools files (prefixed) alike', () => {
    const pub = rsaPublic();
    expect(Buffer.from(rawBlob(pub))).toEqual(pub);
    expect(Buffer.from(rawBlob(addTpm2b(pub, 'pub')))).toEqual(pub);
  });

  it("writes tpm2-tools' credential file", () => {
    const f = Buffer.from(credentialFile(Buffer.from([1, 2, 3]), Buffer.from([4, 5])));
    expect(f.toString('hex')).toBe('badcc0de00000001' + '0003010203' + '00020405');
  });

  it('cuts the EK certificate out of a padded NV read', () => {
    const der = Buffer.concat([Buffer.from([0x30, 0x82, 0x01, 0x00]), Buffer.alloc(256, 7)]);
    expect(Buffer.from(leadingDer(Buffer.concat([der, Buffer.alloc(40, 0xff)]), 'nv'))).toEqual(der);
    expect(() => leadingDer(Buffer.alloc(10, 0xff), 'nv')).toThrow('nv: not a DER SEQUENCE');
    expect(() => leadingDer(der.subarray(0, 100), 'nv')).toThrow('exceeds the 100 bytes read');
    expect(() => leadingDer(Buffer.from([0x30, 0x85, 1, 1, 1, 1, 1]), 'nv')).toThrow('bad DER length');
  });
});

describe('TPMT_SIGNATURE to Go encodings', () => {
  const data = Buffer.from('nonce to sign');

  it('RSASSA: the PKCS#1 v1.5 signature bytes', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const sig = sign('sha256', data, privateKey);
    const tpmt = Buffer.concat([u16(TPM_ALG.RSASSA), u16(TPM_ALG.SHA256), t2b(sig)]);
    expect(verify('sha256', data, publicKey, signatureBytes(tpmt))).toBe(true);
  });

  it('ECDSA: (r, s) as a DER ECDSA-Sig-Value, including high-bit and short values', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    for (let i = 0; i < 30; i++) {
      const msg = Buffer.concat([data, Buffer.from([i])]);
      const p1363 = sign('sha256', msg, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      // The TPM returns r and s as fixed 32-byte big-endian values.
      const tpmt = Buffer.concat([u16(TPM_ALG.ECDSA), u16(TPM_ALG.SHA256), t2b(p1363.subarray(0, 32)), t2b(p1363.subarray(32))]);
      const der = Buffer.from(signatureBytes(tpmt));
      expect(der[0]).toBe(0x30);
      expect(verify('sha256', msg, { key: publicKey, dsaEncoding: 'der' }, der)).toBe(true);
    }
    const fixed = Buffer.concat([u16(TPM_ALG.ECDSA), u16(TPM_ALG.SHA256), t2b(Buffer.from([0, 0, 0x80])), t2b(Buffer.from([0x01]))]);
    expect(Buffer.from(signatureBytes(fixed)).toString('hex')).toBe('3007' + '02020080' + '020101');
    expect(() => signatureBytes(Buffer.concat([u16(0x0010)]))).toThrow('unrecognized TPMT_SIGNATURE algorithm 0x0010');
    expect(() => signatureBytes(Buffer.concat([u16(TPM_ALG.ECDSA), u16(TPM_ALG.SHA256), u16(40)]))).toThrow(/truncated/);
  });
});

describe('wire JSON', () => {
  it("writes the AttestationRequest with Go's field names and base64", () => {
    const bytes = (n: number): Uint8Array => Buffer.alloc(2, n);
    const json = JSON.parse(
      Buffer.from(
        attestationRequest([bytes(1), bytes(2)], { devIdPub: bytes(3), ekCert: bytes(4), ekPub: bytes(5), akPub: bytes(6), certifiedDevId: bytes(7), certificationSignature: bytes(8) }),
      ).toString(),
    ) as Record<string, unknown>;
    expect(json).toEqual({ DevIDCert: ['AQE=', 'AgI='], DevIDPub: 'AwM=', EKCert: 'BAQ=', EKPub: 'BQU=', AKPub: 'BgY=', CertifiedDevID: 'Bwc=', CertificationSignature: 'CAg=' });
    expect(JSON.parse(Buffer.from(challengeResponse(bytes(9), bytes(10))).toString())).toEqual({ DevID: 'CQk=', CredActivation: 'Cgo=' });
  });

  it('reads the ChallengeRequest like encoding/json (case-insensitive keys, null parts)', () => {
    const c = parseChallenge(Buffer.from('{"devid":"AQID","credactivation":{"credential":"BAU=","SECRET":"Bg=="}}'));
    expect([Buffer.from(c.devId), Buffer.from(c.credActivation!.credential), Buffer.from(c.credActivation!.secret)]).toEqual([Buffer.from([1, 2, 3]), Buffer.from([4, 5]), Buffer.from([6])]);
    expect(parseChallenge(Buffer.from('{"DevID":"AQID","CredActivation":null}')).credActivation).toBeUndefined();
    expect(Buffer.from(parseChallenge(Buffer.from('{"DevID":null}')).devId)).toEqual(Buffer.alloc(0));
  });

  it('refuses malformed and oversized challenges precisely', () => {
    expect(() => parseChallenge(Buffer.from('[]'))).toThrow('not a JSON object');
    expect(() => parseChallenge(Buffer.from('{"DevID":"***"}'))).toThrow('DevID is not valid base64');
    expect(() => parseChallenge(Buffer.from('{"DevID":"","CredActivation":"x"}'))).toThrow('CredActivation is not a JSON object');
    expect(() => parseChallenge(Buffer.from(`{"DevID":"","CredActivation":{"Credential":"${'A'.repeat(2000)}"}}`))).toThrow('CredActivation.Credential is 1500 bytes, more than 1024');
    expect(() => parseChallenge(Buffer.alloc(20_000, 0x20))).toThrow('challenge is 20000 bytes, more than 16384');
  });
});
