/**
 * Real keys and certificates for the spiffe-*.test.ts files: CA certificates
 * made by the openssl CLI, and a digest signer that hands the digest to
 * `openssl pkeyutl`, which (like a SPIRE KeyManager) signs a precomputed
 * digest and returns ECDSA signatures as DER.
 */
import { execFile, execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { JwtAlgorithm, JwtDigestSigner } from '../src/spiffe/index.js';

const execFileAsync = promisify(execFile);

export type KeyKind = 'P-256' | 'P-384' | 'P-521' | 'RSA';

export interface TestKey {
  kind: KeyKind;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** DER SubjectPublicKeyInfo. */
  spki: Buffer;
  /** PEM PKCS#8 file for openssl. */
  pemPath: string;
}

export interface TestCa {
  der: Buffer;
  key: TestKey;
}

/** A temp directory removed by `close()`. */
export class Workdir {
  readonly path = mkdtempSync(join(tmpdir(), 'spiffe-test-'));
  close(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
  file(name: string): string {
    return join(this.path, name);
  }
}

export function makeKey(dir: Workdir, kind: KeyKind): TestKey {
  const { privateKey, publicKey } =
    kind === 'RSA'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: kind });
  const pemPath = dir.file(`key-${randomUUID()}.pem`);
  writeFileSync(pemPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return { kind, privateKey, publicKey, spki: publicKey.export({ type: 'spki', format: 'der' }), pemPath };
}

/** A self-signed CA certificate made by `openssl req -x509`, with the trust domain's SPIFFE ID as URI SAN. */
export function makeCa(dir: Workdir, kind: KeyKind, trustDomain = 'example.org'): TestCa {
  const key = makeKey(dir, kind);
  const out = dir.file(`ca-${randomUUID()}.der`);
  execFileSync('openssl', [
    'req', '-x509', '-new', '-key', key.pemPath, '-outform', 'DER', '-out', out, '-days', '1',
    '-subj', '/C=US/O=SPIFFE',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-addext', `subjectAltName=URI:spiffe://${trustDomain}`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { der: readFileSync(out), key };
}

/**
 * A KeyManager-like signer: the digest goes to `openssl pkeyutl -sign`, with
 * PKCS#1 v1.5 DigestInfo or PSS options for RSA, raw for ECDSA (DER output).
 * Records every call so tests can check what the signer was asked for.
 */
export function opensslSigner(dir: Workdir, key: TestKey, calls: { digest: Buffer; alg: JwtAlgorithm; hash: string; saltLength?: number }[] = []): JwtDigestSigner {
  return async (digest, opts) => {
    calls.push({ digest, alg: opts.alg, hash: opts.hash, saltLength: opts.pss?.saltLength });
    const id = randomUUID();
    const input = dir.file(`digest-${id}`);
    const output = dir.file(`sig-${id}`);
    writeFileSync(input, digest);
    const args = ['pkeyutl', '-sign', '-inkey', key.pemPath, '-in', input, '-out', output];
    if (key.kind === 'RSA') {
      args.push('-pkeyopt', `digest:${opts.hash.toLowerCase()}`);
      if (opts.pss) args.push('-pkeyopt', 'rsa_padding_mode:pss', '-pkeyopt', `rsa_pss_saltlen:${opts.pss.saltLength}`);
    }
    await execFileAsync('openssl', args);
    return readFileSync(output);
  };
}

/**
 * The JWK key members of a certificate's public key, worked out from
 * openssl's text output rather than node:crypto's JWK export.
 */
export function opensslJwkParams(dir: Workdir, certDer: Buffer, kind: KeyKind): Record<string, string> {
  const certPath = dir.file(`cert-${randomUUID()}.der`);
  writeFileSync(certPath, certDer);
  const pubPem = execFileSync('openssl', ['x509', '-inform', 'DER', '-in', certPath, '-noout', '-pubkey']);
  const b64u = (hex: string): string => Buffer.from(hex, 'hex').toString('base64url');
  if (kind === 'RSA') {
    const modulus = execFileSync('openssl', ['rsa', '-pubin', '-modulus', '-noout'], { input: pubPem }).toString().trim();
    const n = modulus.replace(/^Modulus=/, '').replace(/^(00)+/, '');
    return { kty: 'RSA', n: b64u(n), e: 'AQAB' };
  }
  const text = execFileSync('openssl', ['pkey', '-pubin', '-text', '-noout'], { input: pubPem }).toString();
  const hex = /pub:\s*([0-9a-f:\s]+?)\s*ASN1 OID/i.exec(text)?.[1]?.replace(/[:\s]/g, '') ?? '';
  const point = hex.slice(2); // drop the 04 uncompressed-point marker
  const half = point.length / 2;
  return { kty: 'EC', crv: kind, x: b64u(point.slice(0, half)), y: b64u(point.slice(half)) };
}
