// The test PKI for tpm_devid, built with the repo's certificate builder: a
// TPM manufacturer CA issuing EK certificates in the TCG shape (empty
// subject, critical directoryName SAN naming the TPM, keyEncipherment, the
// tcg-kp-EKCertificate EKU), and a DevID root + intermediate issuing DevID
// certificates for keys that live in a TPM (only their public key is here).
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCertificate, keyObjectSigner, parseCertificate, pemEncode, type Certificate, type CertificateTemplate } from '@spire-ts/common';
import { encodeTLV } from '@spire-ts/nodeattestor-kit';

export interface TestCa {
  readonly cert: Certificate;
  readonly key: KeyObject;
  readonly pem: string;
}

const H = 3_600_000;

function spki(k: KeyObject): Uint8Array {
  return new Uint8Array((k.type === 'public' ? k : createPublicKey(k)).export({ format: 'der', type: 'spki' }));
}

async function issue(template: Partial<CertificateTemplate>, publicKeyDer: Uint8Array, issuer?: TestCa, signingKey?: KeyObject): Promise<{ cert: Certificate; pem: string }> {
  const now = Date.now();
  const der = await buildCertificate(
    { subject: {}, notBefore: new Date(now - H), notAfter: new Date(now + 24 * H), ...template },
    { publicKeyDer, signer: keyObjectSigner(issuer?.key ?? signingKey!), ...(issuer ? { issuer: issuer.cert } : {}) },
  );
  return { cert: parseCertificate(der), pem: pemEncode('CERTIFICATE', der) };
}

export async function ca(cn: string, parent?: TestCa, type: 'ec' | 'rsa' = 'ec'): Promise<TestCa> {
  const key = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey : generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const { cert, pem } = await issue({ subject: { commonName: cn, organization: 'tpm_devid tests' }, basicConstraints: { ca: true }, keyUsage: ['keyCertSign', 'cRLSign'] }, spki(key), parent, key);
  return { cert, key, pem };
}

const oid = (dotted: string): Buffer => {
  const parts = dotted.split('.').map(Number);
  const out = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const bytes = [p & 0x7f];
    for (let v = p >> 7; v > 0; v >>= 7) bytes.unshift((v & 0x7f) | 0x80);
    out.push(...bytes);
  }
  return encodeTLV(0x06, Buffer.from(out));
};
const attr = (o: string, v: string): Buffer => encodeTLV(0x31, encodeTLV(0x30, Buffer.concat([oid(o), encodeTLV(0x0c, Buffer.from(v))])));

/** TCG EK Credential Profile SAN: directoryName {tpmManufacturer, tpmModel, tpmVersion}. */
function tpmSan(): { oid: string; critical: boolean; value: Uint8Array } {
  const name = encodeTLV(0x30, Buffer.concat([attr('2.23.133.2.1', 'id:00001014'), attr('2.23.133.2.2', 'swtpm'), attr('2.23.133.2.3', 'id:20191023')]));
  return { oid: '2.5.29.17', critical: true, value: encodeTLV(0x30, encodeTLV(0xa4, name)) };
}

/** An EK certificate for `ekKey` (the TPM's EK public key) in the TCG shape. */
export async function ekCertificate(ekKey: KeyObject, manufacturer: TestCa): Promise<Certificate> {
  const eku = { oid: '2.5.29.37', critical: false, value: encodeTLV(0x30, oid('2.23.133.8.1')) };
  return (await issue({ subject: {}, keyUsage: ['keyEncipherment'], extraExtensions: [tpmSan(), eku] }, spki(ekKey), manufacturer)).cert;
}

/** A DevID certificate for `key` (a TPM-resident key's public part, or a software key). */
export async function devIdCertificate(key: KeyObject, issuer: TestCa, cn: string): Promise<Certificate> {
  return (await issue({ subject: { commonName: cn, serialNumber: 'DEV-0001' }, keyUsage: ['digitalSignature'] }, spki(key), issuer)).cert;
}

export function writeBundle(dir: string, name: string, ...cas: TestCa[]): string {
  const path = join(dir, name);
  writeFileSync(path, cas.map((c) => c.pem).join(''));
  return path;
}
