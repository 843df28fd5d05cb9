/**
 * Credential activation, the verifier's half (TPM 2.0 Part 1 §24, as
 * TPM2_MakeCredential computes it, without a TPM): protect a secret so that
 * only the TPM holding the EK's private key, and only for the object named
 * `objectName` loaded in it, can recover it with TPM2_ActivateCredential.
 *
 * seed       = random(digest size of the EK's nameAlg)
 * encSecret  = RSA-OAEP(EK, hash = EK nameAlg, label "IDENTITY\0", seed)
 * symKey     = KDFa(nameAlg, seed, "STORAGE", objectName, ∅, EK symmetric key bits)
 * encIdentity= AES-CFB(symKey, IV = 0, TPM2B(secret))
 * hmacKey    = KDFa(nameAlg, seed, "INTEGRITY", ∅, ∅, digest bits)
 * outerHMAC  = HMAC(hmacKey, encIdentity ‖ objectName)
 * idObject   = TPM2B(outerHMAC) ‖ encIdentity
 *
 * Only RSA EKs are supported (as SPIRE's server does); the symmetric
 * algorithm must be AES in CFB mode, as the EK templates specify.
 */
import { constants, createCipheriv, createHmac, publicEncrypt, randomBytes } from 'node:crypto';
import { TPM_ALG, algName, hashInfo } from './constants.js';
import { publicKeyOf, type TpmPublic } from './public.js';
import { TpmError, TpmWriter } from './wire.js';

/**
 * KDFa (TPM 2.0 Part 1 §11.4.10.2; SP 800-108 counter mode with HMAC):
 * `bits` of key material from `key`, `label` (a NUL is appended), and the
 * two contexts.
 */
export function kdfa(hashAlg: number, key: Uint8Array, label: string, contextU: Uint8Array, contextV: Uint8Array, bits: number): Buffer {
  const h = hashInfo(hashAlg);
  if (!h) throw new TpmError(`KDFa: unsupported hash ${algName(hashAlg)}`);
  if (!Number.isInteger(bits) || bits <= 0 || bits > 0xffff * 8) throw new TpmError(`KDFa: invalid key size ${bits} bits`);
  const bytes = Math.ceil(bits / 8);
  const out: Buffer[] = [];
  const lbl = Buffer.concat([Buffer.from(label, 'latin1'), Buffer.from([0])]);
  const bitsBuf = Buffer.alloc(4);
  bitsBuf.writeUInt32BE(bits);
  for (let i = 1, got = 0; got < bytes; i++) {
    const ctr = Buffer.alloc(4);
    ctr.writeUInt32BE(i);
    const block = createHmac(h.name, key).update(ctr).update(lbl).update(contextU).update(contextV).update(bitsBuf).digest();
    out.push(block);
    got += block.length;
  }
  const result = Buffer.concat(out).subarray(0, bytes);
  if (bits % 8 !== 0) result[0] = result[0]! & ((1 << (bits % 8)) - 1);
  return result;
}

export interface MadeCredential {
  /** TPM2B_ID_OBJECT content (no size prefix): TPM2B(outerHMAC) ‖ encIdentity. */
  readonly credentialBlob: Buffer;
  /** TPM2B_ENCRYPTED_SECRET content (no size prefix): the OAEP-encrypted seed. */
  readonly secret: Buffer;
}

export interface MakeCredentialOptions {
  /** Source of randomness for the seed (tests); default node:crypto randomBytes. */
  readonly random?: (size: number) => Buffer;
}

/**
 * TPM2_MakeCredential in software for an RSA EK: protects `credential` (at
 * most the EK nameAlg's digest size) for the object named `objectName`.
 */
export function makeCredential(ek: TpmPublic, objectName: Uint8Array, credential: Uint8Array, opts: MakeCredentialOptions = {}): MadeCredential {
  if (ek.type !== TPM_ALG.RSA) throw new TpmError('MakeCredential: only RSA endorsement keys are supported');
  const h = hashInfo(ek.nameAlg);
  if (!h) throw new TpmError(`MakeCredential: unsupported EK nameAlg ${algName(ek.nameAlg)}`);
  if (ek.symmetric.algorithm !== TPM_ALG.AES || ek.symmetric.mode !== TPM_ALG.CFB) {
    throw new TpmError(`MakeCredential: EK symmetric algorithm must be AES-CFB, got ${algName(ek.symmetric.algorithm)}-${algName(ek.symmetric.mode)}`);
  }
  const symBits = ek.symmetric.keyBits;
  if (symBits !== 128 && symBits !== 192 && symBits !== 256) throw new TpmError(`MakeCredential: unsupported EK AES key size ${symBits}`);
  if (credential.length === 0 || credential.length > h.size) {
    throw new TpmError(`MakeCredential: credential must be 1 to ${h.size} bytes, got ${credential.length}`);
  }
  const nameHash = objectName.length >= 2 ? hashInfo(Buffer.from(objectName).readUInt16BE(0)) : undefined;
  if (!nameHash || objectName.length !== 2 + nameHash.size) {
    throw new TpmError('MakeCredential: object name is not a hash algorithm followed by its digest');
  }
  const seed = (opts.random ?? randomBytes)(h.size);
  const ekKey = publicKeyOf(ek);
  const secret = publicEncrypt({ key: ekKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: h.name, oaepLabel: Buffer.from('IDENTITY\0', 'latin1') }, seed);

  const symKey = kdfa(ek.nameAlg, seed, 'STORAGE', objectName, Buffer.alloc(0), symBits);
  const cipher = createCipheriv(`aes-${symBits}-cfb`, symKey, Buffer.alloc(16));
  const plain = new TpmWriter().tpm2b(credential).finish();
  const encIdentity = Buffer.concat([cipher.update(plain), cipher.final()]);
  const hmacKey = kdfa(ek.nameAlg, seed, 'INTEGRITY', Buffer.alloc(0), Buffer.alloc(0), h.size * 8);
  const outerHmac = createHmac(h.name, hmacKey).update(encIdentity).update(objectName).digest();
  return { credentialBlob: new TpmWriter().tpm2b(outerHmac).bytes(encIdentity).finish(), secret };
}
