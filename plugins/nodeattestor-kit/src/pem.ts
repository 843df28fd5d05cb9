/** Certificates from PEM files the attestors are configured with (certificate chains, DevID certificates). */
import { X509Certificate } from 'node:crypto';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\s]*?)-----END \1-----/g;

/** The DER of every CERTIFICATE block in `pem`, each checked to parse; `what` (e.g. the file) names the source in errors. */
export function pemCertificates(pem: string, what: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const m of pem.matchAll(PEM_BLOCK)) {
    if (m[1] !== 'CERTIFICATE') continue;
    const der = Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64');
    try {
      new X509Certificate(der);
    } catch (err) {
      throw new Error(`${what}: certificate ${out.length} does not parse: ${(err as Error).message}`);
    }
    out.push(new Uint8Array(der));
  }
  if (out.length === 0) throw new Error(`${what}: no CERTIFICATE PEM block found`);
  return out;
}
