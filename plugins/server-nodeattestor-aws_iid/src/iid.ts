/**
 * The aws_iid attestation payload (SPIRE's `IIDAttestationData` JSON:
 * `document`, `signature`, `rsa2048`) and the instance identity document it
 * carries, verified against the trusted certificates of the document's region.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PluginError, Status } from '@spire-ts/plugin-sdk';
import { AWS_RSA2048_CERTS } from './aws-certs.js';
import { SignatureError, verifyPkcs7 } from './pkcs7.js';

/** Largest payload accepted (a real one is about 3 KiB). */
export const MAX_PAYLOAD_BYTES = 16 * 1024;

/** The fields of the instance identity document SPIRE uses. */
export interface InstanceIdentityDocument {
  readonly accountId: string;
  readonly region: string;
  readonly instanceId: string;
  readonly imageId: string;
  readonly availabilityZone: string;
}

const REGION = /^[a-z]{2}(-[a-z0-9]+)+-\d{1,2}$/;
const ACCOUNT = /^\d{12}$/;
const INSTANCE = /^i-[0-9a-f]{8,32}$/;
const IMAGE = /^[a-z]+-[0-9a-f]{8,32}$/;
const AZ = /^[a-z0-9-]{1,64}$/;

/** Per-region trusted certificates: AWS's built-in ones plus `aws_ca_cert_paths`. */
export class RegionCertificates {
  private readonly cache = new Map<string, X509Certificate[]>();

  private constructor(private readonly extra: ReadonlyMap<string, readonly X509Certificate[]>) {}

  /** Loads the configured extra PEM files (region → path); errors name the key and file. */
  static load(paths: Readonly<Record<string, string>>): RegionCertificates {
    const extra = new Map<string, X509Certificate[]>();
    for (const [region, path] of Object.entries(paths)) {
      if (!REGION.test(region)) {
        throw PluginError.invalidArgument(`aws_ca_cert_paths: ${JSON.stringify(region)} is not an AWS region name`);
      }
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        throw PluginError.invalidArgument(`aws_ca_cert_paths[${JSON.stringify(region)}]: cannot read ${path}: ${(err as Error).message}`);
      }
      const certs = parsePemCertificates(text, `aws_ca_cert_paths[${JSON.stringify(region)}] (${path})`);
      extra.set(region, certs);
    }
    return new RegionCertificates(extra);
  }

  /** The certificates trusted for `region` (empty when none). */
  forRegion(region: string): X509Certificate[] {
    let certs = this.cache.get(region);
    if (!certs) {
      certs = [];
      const builtIn = Object.hasOwn(AWS_RSA2048_CERTS, region) ? AWS_RSA2048_CERTS[region] : undefined;
      if (builtIn) certs.push(new X509Certificate(builtIn));
      certs.push(...(this.extra.get(region) ?? []));
      this.cache.set(region, certs);
    }
    return certs;
  }
}

function parsePemCertificates(text: string, where: string): X509Certificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw PluginError.invalidArgument(`${where}: no PEM CERTIFICATE block`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw PluginError.invalidArgument(`${where}: certificate ${i + 1} cannot be parsed: ${(err as Error).message}`);
    }
  });
}

export function denied(msg: string): PluginError {
  return new PluginError(Status.PERMISSION_DENIED, msg);
}

function bad(msg: string): PluginError {
  return PluginError.invalidArgument(msg);
}

function stringField(obj: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(`${where}: "${key}" must be a string, got ${Array.isArray(v) ? 'array' : typeof v}`);
  return v;
}

function parseObject(text: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw bad(`failed to unmarshal the ${what}: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`failed to unmarshal the ${what}: not a JSON object`);
  return v as Record<string, unknown>;
}

/** The payload's parts, before verification. */
export interface AttestationData {
  readonly document: string;
  readonly signature: string;
  readonly rsa2048: string;
}

/** Parses the payload strictly (size, JSON, field types). */
export function parsePayload(payload: Uint8Array): AttestationData {
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw bad(`attestation payload is ${payload.length} bytes, more than the ${MAX_PAYLOAD_BYTES} an aws_iid payload can be`);
  }
  const obj = parseObject(Buffer.from(payload).toString('utf8'), 'attestation data (not an aws_iid payload?)');
  const document = stringField(obj, 'document', 'attestation data');
  if (!document) {
    const keys = Object.keys(obj).slice(0, 5).map((k) => JSON.stringify(k)).join(', ');
    throw bad(`attestation data has no "document": not an aws_iid payload (fields: ${keys || 'none'})`);
  }
  return {
    document,
    signature: stringField(obj, 'signature', 'attestation data') ?? '',
    rsa2048: stringField(obj, 'rsa2048', 'attestation data') ?? '',
  };
}

function requireField(doc: Record<string, unknown>, key: string, re: RegExp): string {
  const v = stringField(doc, key, 'instance identity document');
  if (!v) throw bad(`instance identity document has no "${key}"`);
  if (!re.test(v)) throw bad(`instance identity document has a malformed "${key}": ${JSON.stringify(v.slice(0, 80))}`);
  return v;
}

/**
 * Verifies the document's RSA-2048 PKCS#7 signature with the certificates of
 * the region the document names, checks the signed content is the document,
 * and returns the document's fields.
 */
export function verifyIdentityDocument(data: AttestationData, certs: RegionCertificates): InstanceIdentityDocument {
  const raw = parseObject(data.document, 'instance identity document');
  const region = requireField(raw, 'region', REGION);
  if (!data.rsa2048) {
    if (data.signature) {
      throw bad(
        'the attestation data carries only the legacy RSA-1024 "signature"; this server verifies the RSA-2048 PKCS#7 "rsa2048" signature: upgrade the agent',
      );
    }
    throw bad('instance identity cryptographic signature is required');
  }
  const trusted = certs.forRegion(region);
  if (trusted.length === 0) {
    throw denied(
      `no AWS certificate is known for region ${JSON.stringify(region)}: add one with aws_ca_cert_paths if this is a new AWS region`,
    );
  }
  let content: Buffer;
  try {
    content = verifyPkcs7(data.rsa2048, trusted);
  } catch (err) {
    if (err instanceof SignatureError) {
      throw denied(`failed verification of instance identity cryptographic signature for region ${region}: ${err.message}`);
    }
    throw err;
  }
  // The signature must cover this very document, not another instance's.
  if (!content.equals(Buffer.from(data.document, 'utf8'))) {
    throw denied('instance identity document does not match the verified PKCS7 content');
  }
  const doc: InstanceIdentityDocument = {
    accountId: requireField(raw, 'accountId', ACCOUNT),
    region,
    instanceId: requireField(raw, 'instanceId', INSTANCE),
    imageId: requireField(raw, 'imageId', IMAGE),
    availabilityZone: requireField(raw, 'availabilityZone', AZ),
  };
  if (!doc.availabilityZone.startsWith(region)) {
    throw denied(`availability zone ${doc.availabilityZone} is not in region ${region}`);
  }
  return doc;
}
