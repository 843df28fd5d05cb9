/**
 * PKCS#10 certificate requests, as agents and the CLI send them to the
 * server: a subject, the public key, an optional extensionRequest with URI
 * and DNS SANs, signed with the private key (ECDSA or RSA PKCS#1 v1.5).
 */
import { sign as cryptoSign, createPublicKey, type KeyObject } from 'node:crypto';
import { defaultSignatureAlgorithm, encodeSignatureAlgorithm, SIGNATURE_ALGORITHMS } from './algorithms.js';
import { DER } from './der-encode.js';
import { encodeExtension, subjectAltNameExtension } from './extensions.js';
import { encodeName, type NameSpec } from './name.js';
import { OID } from './oids.js';

export interface CsrOptions {
  /** Default: empty subject. */
  subject?: NameSpec;
  uris?: readonly string[];
  dnsNames?: readonly string[];
}

/**
 * A DER CSR for `privateKey` (EC P-256/P-384/P-521 or RSA).
 *
 * @example
 * ```ts
 * const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
 * const der = buildCSR(privateKey, { uris: ['spiffe://example.org/web'] });
 * ```
 */
export function buildCSR(privateKey: KeyObject, options: CsrOptions = {}): Uint8Array {
  const spki = new Uint8Array(createPublicKey(privateKey).export({ type: 'spki', format: 'der' }));
  const alg = defaultSignatureAlgorithm(spki);
  const san = subjectAltNameExtension({ uris: options.uris ?? [], dnsNames: options.dnsNames ?? [] }, false);
  const attributes = san
    ? DER.tlv(0xa0, DER.sequence(DER.oid(OID.extensionRequest), DER.set(DER.sequence(encodeExtension(san)))))
    : DER.tlv(0xa0);
  const info = DER.sequence(DER.integer(0), encodeName(options.subject ?? {}), spki, attributes);
  const hash = SIGNATURE_ALGORITHMS[alg].hash;
  const signature = cryptoSign(hash, info, privateKey);
  return DER.sequence(info, encodeSignatureAlgorithm(alg), DER.bitString(new Uint8Array(signature)));
}
