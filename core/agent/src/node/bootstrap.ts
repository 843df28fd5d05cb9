/**
 * The bundle the agent trusts the server with before it has one from the
 * server (SPIRE's bootstrap trust bundle): a file (`trust_bundle_path`), an
 * HTTPS download (`trust_bundle_url`), each in PEM or SPIFFE bundle format,
 * or none with `insecure_bootstrap`. Every failure names the source and what
 * is wrong with it.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { decodeSpiffeBundle, pemDecode, type Bundle } from '@spire-ts/common';
import type { TrustBundleSource } from '../config/runtime.js';
import { NodeIdentityError } from './errors.js';

/** Largest bootstrap bundle accepted (a bundle is a few KiB; this bounds a hostile download). */
export const MAX_BOOTSTRAP_BUNDLE_BYTES = 4 * 1024 * 1024;
const DOWNLOAD_TIMEOUT_MS = 30_000;

/** Where a bundle came from, for messages. */
export function describeSource(source: TrustBundleSource): string {
  switch (source.kind) {
    case 'insecure':
      return 'insecure bootstrap (no trust bundle)';
    case 'path':
      return `trust_bundle_path ${source.path}`;
    case 'url':
      return `trust_bundle_url ${source.url}${source.unixSocket ? ` (via unix socket ${source.unixSocket})` : ''}`;
    case 'workload_api':
      return `trust_bundle_spiffe_workload_api ${source.address}`;
  }
}

/** Parses bundle bytes in `format`; throws a message without the source (the caller adds it). */
export function parseBundle(data: Uint8Array, format: 'pem' | 'spiffe', trustDomain: string): Bundle {
  if (format === 'spiffe') {
    const b = decodeSpiffeBundle(trustDomain, data);
    if (b.x509Authorities.length === 0) throw new Error('the SPIFFE bundle has no X.509 authorities (no JWK with "use": "x509-svid")');
    return { ...b, x509Authorities: b.x509Authorities.map((c) => new Uint8Array(c)) };
  }
  const text = Buffer.from(data).toString('utf8');
  const certs = pemDecode(text, 'CERTIFICATE');
  if (certs.length === 0) {
    const trimmed = text.trimStart();
    const hint = trimmed.startsWith('{') ? ' (it looks like JSON: set trust_bundle_format = "spiffe")' : '';
    throw new Error(`no PEM CERTIFICATE block found${hint}`);
  }
  // Every block must be a certificate now, not when the first TLS handshake with the server fails.
  certs.forEach((der, i) => {
    try {
      new X509Certificate(der);
    } catch (err) {
      // OpenSSL's own words only say its PEM fallback found no PEM ("no start line").
      throw new Error(`CERTIFICATE block ${i + 1} of ${certs.length} is not a DER-encoded X.509 certificate`, { cause: err });
    }
  });
  return { trustDomain, x509Authorities: certs, jwtAuthorities: [], refreshHint: 0, sequenceNumber: 0 };
}

/**
 * Loads the bootstrap bundle; undefined for insecure bootstrap.
 * @throws NodeIdentityError `ERR_NODE_BOOTSTRAP` naming the source.
 */
export async function loadBootstrapBundle(source: TrustBundleSource, trustDomain: string): Promise<Bundle | undefined> {
  const where = describeSource(source);
  if (source.kind === 'insecure') return undefined;
  if (source.kind === 'workload_api') {
    throw new NodeIdentityError('ERR_NODE_BOOTSTRAP', `${where}: bootstrapping from another SPIFFE Workload API is not supported yet`);
  }
  let data: Uint8Array;
  try {
    data = source.kind === 'path' ? await readFile(source.path) : await download(source.url, source.unixSocket);
  } catch (err) {
    throw new NodeIdentityError('ERR_NODE_BOOTSTRAP', `cannot load the bootstrap trust bundle from ${where}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return parseBundle(data, source.format, trustDomain);
  } catch (err) {
    throw new NodeIdentityError('ERR_NODE_BOOTSTRAP', `the bootstrap trust bundle from ${where} is not a valid ${source.format === 'spiffe' ? 'SPIFFE bundle' : 'PEM bundle'}: ${(err as Error).message}`, { cause: err });
  }
}

/** GET over HTTPS (or HTTP on a unix socket, as SPIRE allows with trust_bundle_unix_socket). */
function download(url: string, unixSocket: string | undefined): Promise<Uint8Array> {
  const u = new URL(url);
  if (!unixSocket && u.protocol !== 'https:') return Promise.reject(new Error(`the URL must use https, not ${u.protocol.replace(/:$/, '')}`));
  const req = unixSocket ? httpRequest : httpsRequest;
  return new Promise((resolve, reject) => {
    const r = req(u, { method: 'GET', ...(unixSocket ? { socketPath: unixSocket } : {}), timeout: DOWNLOAD_TIMEOUT_MS }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`the server answered HTTP ${res.statusCode ?? '?'} ${res.statusMessage ?? ''}`.trimEnd()));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BOOTSTRAP_BUNDLE_BYTES) {
          res.destroy(new Error(`the bundle is larger than ${MAX_BOOTSTRAP_BUNDLE_BYTES} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    });
    r.on('timeout', () => r.destroy(new Error(`no answer within ${DOWNLOAD_TIMEOUT_MS / 1000}s`)));
    r.on('error', reject);
    r.end();
  });
}
