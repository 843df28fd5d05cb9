/**
 * The x509pop verification steps, independent of the transport (SPIRE's
 * pkg/server/plugin/nodeattestor/x509pop Attest): parse the payload, check
 * the limits, verify the chain to a trusted root, issue the proof-of-
 * possession challenge, check the answer, and build the agent ID and
 * selectors. Codes and messages follow SPIRE's, with the limit or the file
 * to look at named where that helps the operator.
 */
import { isIP } from 'node:net';
import { parseCertificate, parseSpiffeId, publicKeyObject, type Certificate } from '@spire-ts/common';
import { PluginError, Status } from '@spire-ts/plugin-sdk';
import { ChainError, sha1Hex, verifyChain } from './chain.js';
import type { X509PopConfig } from './config.js';
import { PayloadError, newChallenge, parseAttestationData, parseResponse, verifyResponse, type Challenge } from './pop.js';
import { TemplateError } from './template.js';

export const PLUGIN_NAME = 'x509pop';
/** Largest payload accepted: a chain of five 8192-bit RSA certificates is well under this. */
export const MAX_PAYLOAD_BYTES = 64 << 10;
/** Largest challenge response accepted (an RSA-8192 signature and a nonce, in JSON, is ~1.5 KiB). */
export const MAX_RESPONSE_BYTES = 16 << 10;

export interface Verified {
  readonly leaf: Certificate;
  readonly chains: Certificate[][];
  readonly challenge: Challenge;
}

const denied = (msg: string): PluginError => new PluginError(Status.PERMISSION_DENIED, msg);

function rsaBits(c: Certificate): number | undefined {
  if (c.publicKey.keyType !== 'rsa') return undefined;
  return publicKeyObject(c.publicKey).asymmetricKeyDetails?.modulusLength;
}

/** Steps up to the challenge: the trusted leaf and the challenge to send it. */
export function verifyPayload(config: X509PopConfig, payload: Uint8Array, clientIp: string | undefined, now = new Date()): Verified {
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw PluginError.invalidArgument(`attestation payload is ${payload.length} bytes, larger than the ${MAX_PAYLOAD_BYTES} allowed`);
  }
  let data;
  try {
    data = parseAttestationData(payload, config.maxIntermediates + 1);
  } catch (err) {
    if (err instanceof PayloadError) throw PluginError.invalidArgument(`failed to unmarshal data: ${err.message}`);
    throw err;
  }
  if (data.count === 0) throw PluginError.invalidArgument('no certificate to attest');
  if (data.count - 1 > config.maxIntermediates) {
    throw PluginError.invalidArgument(`too many intermediate certificates (${data.count - 1}, max_intermediates is ${config.maxIntermediates})`);
  }
  let leaf: Certificate;
  try {
    leaf = parseCertificate(data.certificates[0]!);
  } catch (err) {
    throw PluginError.invalidArgument(`unable to parse leaf certificate: ${(err as Error).message}`);
  }
  const leafBits = rsaBits(leaf);
  if (leafBits !== undefined && leafBits > config.maxRsaKeySize) {
    throw PluginError.invalidArgument(`leaf certificate key size too large (${leafBits} bits, max_rsa_key_size is ${config.maxRsaKeySize})`);
  }
  const intermediates = data.certificates.slice(1).map((der, i) => {
    let c: Certificate;
    try {
      c = parseCertificate(der);
    } catch (err) {
      throw PluginError.invalidArgument(`unable to parse intermediate certificate ${i}: ${(err as Error).message}`);
    }
    const bits = rsaBits(c);
    if (bits !== undefined && bits > config.maxRsaKeySize) {
      throw PluginError.invalidArgument(`intermediate certificate ${i} key size too large (${bits} bits, max_rsa_key_size is ${config.maxRsaKeySize})`);
    }
    return c;
  });

  let chains: Certificate[][];
  try {
    chains = verifyChain(leaf, intermediates, config.roots, now);
  } catch (err) {
    if (err instanceof ChainError) throw denied(`certificate verification failed: ${err.message}`);
    throw err;
  }

  if (config.verifyClientIp) {
    if (!clientIp) throw PluginError.internal('client IP not available for verification');
    if (isIP(clientIp) === 0) throw PluginError.internal(`invalid client IP ${JSON.stringify(clientIp)}`);
    const ips = leaf.extensions.subjectAltName?.ipAddresses ?? [];
    if (!ips.some((ip) => sameIp(ip, clientIp))) throw denied(`client IP ${clientIp} does not match any certificate IP SAN`);
  }

  if (!leaf.extensions.keyUsage?.usages.includes('digitalSignature')) {
    throw denied('unable to generate challenge: certificate not intended for digital signature use (keyUsage lacks digitalSignature)');
  }
  const kind = leaf.publicKey.keyType === 'rsa' ? 'rsa' : leaf.publicKey.keyType === 'ec' ? 'ecdsa' : undefined;
  if (!kind) throw PluginError.invalidArgument(`unable to generate challenge: unsupported public key type ${leaf.publicKey.keyType} (want RSA or ECDSA)`);
  return { leaf, chains, challenge: newChallenge(kind) };
}

function sameIp(a: string, b: string): boolean {
  const norm = (ip: string): string => (ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip.toLowerCase());
  return norm(a) === norm(b);
}


/** Checks the agent's answer to the challenge. */
export function checkResponse(v: Verified, response: Uint8Array | undefined): void {
  if (!response || response.length === 0) throw PluginError.invalidArgument('unable to unmarshal challenge response: missing challenge response');
  if (response.length > MAX_RESPONSE_BYTES) {
    throw PluginError.invalidArgument(`unable to unmarshal challenge response: ${response.length} bytes, larger than the ${MAX_RESPONSE_BYTES} allowed`);
  }
  let why: string | undefined;
  try {
    why = verifyResponse(publicKeyObject(v.leaf.publicKey), v.challenge, parseResponse(response));
  } catch (err) {
    if (err instanceof PayloadError) throw PluginError.invalidArgument(`unable to unmarshal challenge response: ${err.message}`);
    throw err;
  }
  if (why) throw denied(`challenge response verification failed: ${why}`);
}

export function serialNumberHex(serial: bigint): string {
  const neg = serial < 0n;
  let hex = (neg ? -serial : serial).toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return neg ? `-${hex}` : hex;
}

/** `x509pop://<td>/<key>/<value>` URI SANs as key → value (SPIRE's san selectors). */
export function uriSanSelectors(leaf: Certificate, trustDomain: string): Map<string, string> {
  const out = new Map<string, string>();
  const prefix = `x509pop://${trustDomain}/`;
  for (const uri of leaf.extensions.subjectAltName?.uris ?? []) {
    if (!uri.startsWith(prefix)) continue;
    let path: string;
    try {
      path = decodeURIComponent(new URL(uri).pathname);
    } catch {
      continue;
    }
    const trimmed = path.replace(/^\/+|\/+$/g, '');
    const slash = trimmed.indexOf('/');
    if (slash <= 0) continue;
    out.set(trimmed.slice(0, slash), trimmed.slice(slash + 1));
  }
  return out;
}

/** A subject attribute as Go's pkix.Name reads it (the last of several wins). */
const attribute = (c: Certificate, oid: string): string => c.subject.rdns.flat().filter((a) => a.oid === oid).at(-1)?.value ?? '';
const commonName = (c: Certificate): string => attribute(c, '2.5.4.3');
const subjectSerial = (c: Certificate): string => attribute(c, '2.5.4.5');

/** The agent ID and selector values for a verified leaf. */
export function agentAttributes(config: X509PopConfig, v: Verified): { spiffeId: string; selectorValues: string[] } {
  const sans = uriSanSelectors(v.leaf, config.trustDomain);
  const serial = serialNumberHex(v.leaf.serialNumber);
  let path: string;
  try {
    path = config.pathTemplate.execute({
      PluginName: PLUGIN_NAME,
      TrustDomain: config.trustDomain,
      Fingerprint: sha1Hex(v.leaf.der),
      SerialNumberHex: serial,
      SVIDPathTrimmed: '',
      Subject: { CommonName: commonName(v.leaf), SerialNumber: subjectSerial(v.leaf) },
      URISanSelectors: Object.fromEntries(sans),
    });
  } catch (err) {
    if (err instanceof TemplateError) throw PluginError.internal(`failed to make spiffe id: ${err.message}`);
    throw err;
  }
  const id = `spiffe://${config.trustDomain}/spire/agent${path}`;
  const bad = !path.startsWith('/') ? 'path must have a leading slash' : pathProblem(id);
  if (bad) throw PluginError.internal(`failed to make spiffe id: invalid agent path suffix ${JSON.stringify(path)}: ${bad}`);

  const values: string[] = [];
  const cn = commonName(v.leaf);
  if (cn !== '') values.push(`subject:cn:${cn}`);
  const seen = new Set<string>();
  for (const chain of v.chains) {
    for (const c of chain.slice(1)) {
      const fp = sha1Hex(c.der);
      if (seen.has(fp)) continue;
      seen.add(fp);
      values.push(`ca:fingerprint:${fp}`);
    }
  }
  values.push(`serialnumber:${serial}`);
  for (const [k, val] of [...sans].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) values.push(`san:${k}:${val}`);
  return { spiffeId: id, selectorValues: values };
}

function pathProblem(id: string): string | undefined {
  try {
    parseSpiffeId(id);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
