// A flexible test PKI for the server's unit tests (any template field, any key type).
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCertificate, keyObjectSigner, parseCertificate, pemEncode, type Certificate, type CertificateTemplate } from '@spire-ts/common';

export interface TestCert {
  cert: Certificate;
  key: KeyObject;
  pem: string;
}

export function key(type: 'ec' | 'rsa' | 'ed25519' | 'p384' = 'ec', bits = 2048): KeyObject {
  if (type === 'rsa') return generateKeyPairSync('rsa', { modulusLength: bits }).privateKey;
  if (type === 'ed25519') return generateKeyPairSync('ed25519').privateKey;
  return generateKeyPairSync('ec', { namedCurve: type === 'p384' ? 'P-384' : 'P-256' }).privateKey;
}

const H = 3_600_000;

export async function cert(t: Partial<CertificateTemplate> & { cn: string }, issuer?: TestCert, k: KeyObject = key()): Promise<TestCert> {
  const now = Date.now();
  const { cn, ...rest } = t;
  const template: CertificateTemplate = {
    subject: { commonName: cn },
    notBefore: new Date(now - H),
    notAfter: new Date(now + 24 * H),
    keyUsage: ['digitalSignature'],
    ...rest,
  };
  const der = await buildCertificate(template, {
    publicKeyDer: new Uint8Array(createPublicKey(k).export({ format: 'der', type: 'spki' })),
    signer: keyObjectSigner(issuer?.key ?? k),
    ...(issuer ? { issuer: issuer.cert } : {}),
  });
  return { cert: parseCertificate(der), key: k, pem: pemEncode('CERTIFICATE', der) };
}

export function caCert(cn: string, issuer?: TestCert, extra: Partial<CertificateTemplate> = {}): Promise<TestCert> {
  return cert({ cn, basicConstraints: { ca: true }, keyUsage: ['keyCertSign', 'cRLSign'], ...extra }, issuer);
}

export function writePem(dir: string, name: string, ...certs: TestCert[]): string {
  const path = join(dir, name);
  writeFileSync(path, certs.map((c) => c.pem).join(''));
  return path;
}
