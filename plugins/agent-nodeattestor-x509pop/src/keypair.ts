/**
 * Loading the node's identity as SPIRE's agent does (Go's
 * tls.LoadX509KeyPair plus `intermediates_path`): the CERTIFICATE blocks of
 * `certificate_path` (the identity certificate first), the private key
 * (PEM PKCS#1, PKCS#8 or SEC 1) that must match it, then the certificates of
 * `intermediates_path` appended. Files are read at each attestation, so a
 * renewed certificate is picked up without a restart.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { pemCertificates } from '@spire-ts/nodeattestor-kit';
import { spkiOf } from './pop.js';

/** The largest certificate or key file read (a chain of a few certificates is a few KiB). */
const MAX_FILE_BYTES = 1 << 20;

export interface KeyPair {
  readonly key: KeyObject;
  /** DER certificates, leaf first. */
  readonly chain: Uint8Array[];
}

async function readSmall(path: string): Promise<string> {
  const data = await readFile(path);
  if (data.length > MAX_FILE_BYTES) throw new Error(`${path} is ${data.length} bytes, larger than ${MAX_FILE_BYTES}`);
  return data.toString('utf8');
}


export async function loadKeyPair(paths: { certificatePath: string; privateKeyPath: string; intermediatesPath: string }): Promise<KeyPair> {
  const chain = pemCertificates(await readSmall(paths.certificatePath), paths.certificatePath);
  let key: KeyObject;
  try {
    key = createPrivateKey(await readSmall(paths.privateKeyPath));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(e.code === 'ENOENT' || e.code === 'EACCES' ? e.message : `${paths.privateKeyPath}: not a PEM private key: ${e.message}`);
  }
  if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'ec') {
    throw new Error(`${paths.privateKeyPath}: unsupported private key type ${key.asymmetricKeyType ?? 'unknown'} (want RSA or ECDSA)`);
  }
  const leaf = new X509Certificate(chain[0]!);
  if (!spkiOf(key).equals(spkiOf(leaf.publicKey))) {
    throw new Error(`private key ${paths.privateKeyPath} does not match the certificate in ${paths.certificatePath}`);
  }
  if (paths.intermediatesPath.trim() !== '') {
    chain.push(...pemCertificates(await readSmall(paths.intermediatesPath), paths.intermediatesPath));
  }
  return { key, chain };
}
