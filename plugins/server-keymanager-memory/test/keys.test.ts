import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  getHashes,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  HASH_ALGORITHMS,
  KEY_TYPES,
  SignError,
  exportPrivateKey,
  generateKey,
  importPrivateKey,
  parseHashAlgorithm,
  signDigest,
  type HashAlgorithmName,
  type KeyType,
  type SigningKey,
} from '../src/keys.js';
import { HASH_SPECS } from '../src/digestinfo.js';

const message = new TextEncoder().encode('spire-ts keymanager test message');
const nodeHashes = new Set(getHashes());
const hashes = HASH_ALGORITHMS.filter((h) => nodeHashes.has(HASH_SPECS[h].nodeName));

const keys = {} as Record<KeyType, SigningKey>;
const publicKeys = {} as Record<KeyType, KeyObject>;

beforeAll(async () => {
  const generated = await Promise.all(KEY_TYPES.map((t) => generateKey(t)));
  KEY_TYPES.forEach((t, i) => {
    keys[t] = generated[i]!;
    publicKeys[t] = createPublicKey({ key: Buffer.from(generated[i]!.publicKeyDer), format: 'der', type: 'spki' });
  });
});

function digestOf(hash: HashAlgorithmName, data: Uint8Array = message): Uint8Array {
  return createHash(HASH_SPECS[hash].nodeName).update(data).digest();
}

function emLen(type: KeyType): number {
  return Math.ceil(((type === 'RSA_2048' ? 2048 : 4096) - 1) / 8);
}

function expectSignError(fn: () => unknown, pattern?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SignError);
  expect((caught as SignError).kind).toBe('invalid-argument');
  if (pattern) expect((caught as SignError).message).toMatch(pattern);
}

describe('generateKey', () => {
  it('OpenSSL supports every hash this module supports', () => {
    // Not required for correctness, but otherwise the matrix below silently shrinks.
    expect(hashes).toEqual(HASH_ALGORITHMS);
  });

  it.each(KEY_TYPES)('%s: PKIX public key, fingerprint and parameters', (type) => {
    const key = keys[type];
    expect(key.type).toBe(type);
    expect(key.fingerprint).toBe(createHash('sha256').update(key.publicKeyDer).digest('hex'));
    expect(key.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    const pub = publicKeys[type];
    const details = pub.asymmetricKeyDetails!;
    switch (type) {
      case 'EC_P256':
      case 'EC_P384':
        expect(pub.asymmetricKeyType).toBe('ec');
        expect(details.namedCurve).toBe(type === 'EC_P256' ? 'prime256v1' : 'secp384r1');
        // Uncompressed point, as Go's MarshalPKIXPublicKey writes it.
        expect(key.publicKeyDer.length).toBe(type === 'EC_P256' ? 91 : 120);
        break;
      case 'RSA_2048':
      case 'RSA_4096':
        expect(pub.asymmetricKeyType).toBe('rsa');
        expect(details.modulusLength).toBe(type === 'RSA_2048' ? 2048 : 4096);
        expect(details.publicExponent).toBe(65537n);
        break;
    }
  });

  it('keeps the private key off the object', () => {
    const key = keys.EC_P256;
    expect(Object.keys(key).sort()).toEqual(['fingerprint', 'publicKeyDer', 'type']);
    expect(Object.isFrozen(key)).toBe(true);
  });

  it('generates distinct keys', async () => {
    const other = await generateKey('EC_P256');
    expect(other.fingerprint).not.toBe(keys.EC_P256.fingerprint);
  });

  it('rejects an unknown key type', async () => {
    await expect(generateKey('RSA_1024' as KeyType)).rejects.toBeInstanceOf(SignError);
  });
});

describe.each(['EC_P256', 'EC_P384'] as const)('ECDSA %s', (type) => {
  it.each(hashes)('signs a %s digest verifiable by OpenSSL', (hash) => {
    const sig = signDigest(keys[type], digestOf(hash), { hash });
    expect(sig[0]).toBe(0x30);
    const nodeName = HASH_SPECS[hash].nodeName;
    expect(nodeVerify(nodeName, message, { key: publicKeys[type], dsaEncoding: 'der' }, sig)).toBe(true);
    expect(nodeVerify(nodeName, Buffer.from('other'), { key: publicKeys[type], dsaEncoding: 'der' }, sig)).toBe(false);
  });

  it('uses fresh nonces', () => {
    const d = digestOf('SHA256');
    const a = signDigest(keys[type], d, { hash: 'SHA256' });
    const b = signDigest(keys[type], d, { hash: 'SHA256' });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });

  it('signature of a tampered digest does not verify', () => {
    const d = digestOf('SHA256');
    d[0] ^= 1;
    const sig = signDigest(keys[type], d, { hash: 'SHA256' });
    expect(nodeVerify('sha256', message, { key: publicKeys[type], dsaEncoding: 'der' }, sig)).toBe(false);
  });

  it('refuses PSS options', () => {
    expectSignError(() => signDigest(keys[type], digestOf('SHA256'), { hash: 'SHA256', pss: { saltLength: -1 } }), /PSS/);
  });
});

describe('ECDSA digest truncation', () => {
  it.each(['SHA384', 'SHA512', 'SHA3_512'] as const)('P-256 with %s uses the leftmost 256 bits', (hash) => {
    const d = digestOf(hash);
    const sig = signDigest(keys.EC_P256, d, { hash });
    expect(nodeVerify(HASH_SPECS[hash].nodeName, message, { key: publicKeys.EC_P256, dsaEncoding: 'der' }, sig)).toBe(true);
    // Same signature is valid for the digest truncated by hand.
    const pub = new Uint8Array(publicKeys.EC_P256.export({ format: 'der', type: 'spki' }).subarray(-65));
    expect(p256.verify(sig, d.subarray(0, 32), pub, { prehash: false, format: 'der', lowS: false })).toBe(true);
  });
});

describe.each(['RSA_2048', 'RSA_4096'] as const)('RSA %s', (type) => {
  let privateKey: KeyObject;
  beforeAll(() => {
    privateKey = createPrivateKey({ key: Buffer.from(exportPrivateKey(keys[type])), format: 'der', type: 'pkcs8' });
  });

  it.each(hashes)('PKCS#1 v1.5 over a %s digest is byte-identical to OpenSSL and verifies', (hash) => {
    const nodeName = HASH_SPECS[hash].nodeName;
    const sig = signDigest(keys[type], digestOf(hash), { hash });
    const pubOpts = { key: publicKeys[type], padding: constants.RSA_PKCS1_PADDING };
    expect(nodeVerify(nodeName, message, pubOpts, sig)).toBe(true);
    // PKCS#1 v1.5 is deterministic, so this pins the DigestInfo encoding exactly.
    const expected = nodeSign(nodeName, message, { key: privateKey, padding: constants.RSA_PKCS1_PADDING });
    expect(Buffer.from(sig).toString('hex')).toBe(expected.toString('hex'));
  });

  it.each(hashes)('PSS over a %s digest with Go salt lengths 0, -1 and 20', (hash) => {
    const { nodeName, size } = HASH_SPECS[hash];
    const d = digestOf(hash);
    const verifyWith = (sig: Uint8Array, saltLength: number): boolean =>
      nodeVerify(nodeName, message, { key: publicKeys[type], padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, sig);

    const auto = signDigest(keys[type], d, { hash, pss: { saltLength: 0 } });
    const max = emLen(type) - size - 2;
    expect(verifyWith(auto, max)).toBe(true);
    expect(verifyWith(auto, constants.RSA_PSS_SALTLEN_AUTO)).toBe(true);
    expect(verifyWith(auto, size)).toBe(false);

    const equalsHash = signDigest(keys[type], d, { hash, pss: { saltLength: -1 } });
    expect(verifyWith(equalsHash, size)).toBe(true);
    expect(verifyWith(equalsHash, constants.RSA_PSS_SALTLEN_AUTO)).toBe(true);
    expect(verifyWith(equalsHash, max)).toBe(false);

    const twenty = signDigest(keys[type], d, { hash, pss: { saltLength: 20 } });
    expect(verifyWith(twenty, 20)).toBe(true);
  });

  it('signatures of a tampered digest do not verify', () => {
    const d = digestOf('SHA256');
    d[31] ^= 0x80;
    const pkcs1 = signDigest(keys[type], d, { hash: 'SHA256' });
    expect(nodeVerify('sha256', message, { key: publicKeys[type], padding: constants.RSA_PKCS1_PADDING }, pkcs1)).toBe(false);
    const pss = signDigest(keys[type], d, { hash: 'SHA256', pss: { saltLength: -1 } });
    const pssOpts = { key: publicKeys[type], padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO };
    expect(nodeVerify('sha256', message, pssOpts, pss)).toBe(false);
  });

  it('PSS salt length at the maximum is accepted, one more is not', () => {
    const max = emLen(type) - 64 - 2;
    const sig = signDigest(keys[type], digestOf('SHA512'), { hash: 'SHA512', pss: { saltLength: max } });
    expect(
      nodeVerify('sha512', message, { key: publicKeys[type], padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: max }, sig),
    ).toBe(true);
    expectSignError(() => signDigest(keys[type], digestOf('SHA512'), { hash: 'SHA512', pss: { saltLength: max + 1 } }), /too large/);
  });

  it.each([-2, -100, 1.5, Number.NaN])('rejects PSS salt length %s', (saltLength) => {
    expectSignError(() => signDigest(keys[type], digestOf('SHA256'), { hash: 'SHA256', pss: { saltLength } }), /salt/);
  });
});

describe('argument validation', () => {
  it.each(KEY_TYPES)('%s: digest length must match the hash', (type) => {
    expectSignError(() => signDigest(keys[type], digestOf('SHA256'), { hash: 'SHA384' }), /32 bytes/);
    expectSignError(() => signDigest(keys[type], new Uint8Array(0), { hash: 'SHA256' }));
    if (type.startsWith('RSA')) {
      expectSignError(() => signDigest(keys[type], digestOf('SHA512'), { hash: 'SHA256', pss: { saltLength: 0 } }));
    }
  });

  it.each([0, 'UNSPECIFIED_HASH_ALGORITHM'] as const)('rejects unspecified hash %s', (hash) => {
    expectSignError(() => signDigest(keys.RSA_2048, digestOf('SHA256'), { hash }), /required/);
  });

  it.each([3, 2, 8, 16, 99, -1, 'SHA1', 'MD5', 'sha256', 'toString'])('rejects unsupported hash %s', (hash) => {
    expectSignError(() => signDigest(keys.EC_P256, new Uint8Array(32), { hash: hash as HashAlgorithmName }), /unsupported/);
    expectSignError(() => parseHashAlgorithm(hash));
  });

  it('accepts Go crypto.Hash numbers', () => {
    const numbers: Record<HashAlgorithmName, number> = {
      SHA224: 4, SHA256: 5, SHA384: 6, SHA512: 7, SHA3_224: 10, SHA3_256: 11,
      SHA3_384: 12, SHA3_512: 13, SHA512_224: 14, SHA512_256: 15,
    };
    for (const [name, n] of Object.entries(numbers)) expect(parseHashAlgorithm(n)).toBe(name);
    const sig = signDigest(keys.RSA_2048, digestOf('SHA384'), { hash: 6, pss: { saltLength: -1 } });
    const opts = { key: publicKeys.RSA_2048, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 };
    expect(nodeVerify('sha384', message, opts, sig)).toBe(true);
  });

  it('rejects objects that are not keys from this module', () => {
    const fake = { ...keys.EC_P256 };
    expect(() => signDigest(fake, digestOf('SHA256'), { hash: 'SHA256' })).toThrow(TypeError);
  });
});

describe('exportPrivateKey / importPrivateKey', () => {
  it.each(KEY_TYPES)('%s round-trips through PKCS#8 DER', (type) => {
    const der = exportPrivateKey(keys[type]);
    expect(der[0]).toBe(0x30);
    const imported = importPrivateKey(type, der);
    expect(imported.fingerprint).toBe(keys[type].fingerprint);
    expect(Buffer.from(imported.publicKeyDer).equals(Buffer.from(keys[type].publicKeyDer))).toBe(true);
    const sig = signDigest(imported, digestOf('SHA256'), { hash: 'SHA256' });
    const opts = type.startsWith('EC')
      ? { key: publicKeys[type], dsaEncoding: 'der' as const }
      : { key: publicKeys[type], padding: constants.RSA_PKCS1_PADDING };
    expect(nodeVerify('sha256', message, opts, sig)).toBe(true);
  });

  it('rejects a key of another type', () => {
    expect(() => importPrivateKey('EC_P384', exportPrivateKey(keys.EC_P256))).toThrow(/expected EC_P384/);
    expect(() => importPrivateKey('RSA_4096', exportPrivateKey(keys.RSA_2048))).toThrow(/expected RSA_4096/);
    expect(() => importPrivateKey('RSA_2048', exportPrivateKey(keys.EC_P256))).toThrow(/expected RSA_2048/);
  });

  it('rejects garbage', () => {
    expect(() => importPrivateKey('EC_P256', new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]))).toThrow(/PKCS#8/);
  });
});
