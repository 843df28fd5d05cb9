/**
 * The server side of `azure_imds` (SPIRE's pkg/server/plugin/nodeattestor/azureimds):
 * the server's nonce goes out as the challenge; the answer carries the IMDS
 * attested document, a PKCS#7 signature whose content is the JSON
 * `{"nonce", "subscriptionId", "vmId", ...}`. The signature must verify,
 * its certificate must be for an allowed metadata domain and chain to a
 * trusted root, the nonce must be ours, the agent's tenant domain must be
 * configured (and its subscription allowed).
 *
 * Selectors come from Azure Resource Manager (resolve.ts), after the trust
 * on first use check, as SPIRE orders it. The scale set name the agent
 * sends is untrusted: it only says where to look for the VM.
 */
import { randomInt } from 'node:crypto';
import { decodeJsonPayload } from '@spire-ts/nodeattestor-kit';
import { PluginError, Status } from '@spire-ts/plugin-sdk';
import { ChainError, checkMetadataDomain, verifyChain, type IntermediateFetcher } from './chain.js';
import type { AttestorConfig, TenantConfig } from './config.js';
import { SignatureError, verifyPkcs7 } from './pkcs7.js';
import { validateAgentPath } from './template.js';

export const PLUGIN_NAME = 'azure_imds';
/** Largest accepted challenge response: the document is ~4 KiB. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
const NONCE_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;

export function denied(message: string): PluginError {
  return new PluginError(Status.PERMISSION_DENIED, message);
}

/** SPIRE's nonce: 32 random alphanumerics. */
export function newNonce(): string {
  let n = '';
  for (let i = 0; i < 32; i++) n += NONCE_ALPHABET[randomInt(NONCE_ALPHABET.length)];
  return n;
}

export interface ImdsPayload {
  readonly signature: string;
  readonly agentDomain: string;
  /** The scale set the agent says its VM belongs to (untrusted). */
  readonly vmssName: string | undefined;
}

/** SPIRE's `IMDSAttestationPayload`; every problem is INVALID_ARGUMENT. */
export function parsePayload(payload: Uint8Array | undefined): ImdsPayload {
  const doc = decodeJsonPayload(payload, MAX_PAYLOAD_BYTES, PLUGIN_NAME);
  const obj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!obj(doc) || !obj(doc.document)) {
    throw PluginError.invalidArgument('failed to unmarshal data payload: expected {"document": {...}, "metadata": {...}} (is the agent using the azure_imds NodeAttestor?)');
  }
  const { encoding, signature } = doc.document;
  if (typeof signature !== 'string' || signature === '') throw PluginError.invalidArgument('failed to validate attested document: missing signature in attested document');
  if (typeof encoding !== 'string' || encoding.toLowerCase() !== 'pkcs7') {
    throw PluginError.invalidArgument(`failed to validate attested document: unsupported encoding ${JSON.stringify(encoding)} (want "pkcs7")`);
  }
  const md = obj(doc.metadata) ? doc.metadata : {};
  const agentDomain = typeof md.agentDomain === 'string' ? md.agentDomain : '';
  if (md.vmssName !== undefined && md.vmssName !== null && typeof md.vmssName !== 'string') {
    throw PluginError.invalidArgument('failed to unmarshal data payload: "metadata.vmssName" must be a string or null');
  }
  return { signature, agentDomain, vmssName: typeof md.vmssName === 'string' ? md.vmssName : undefined };
}

export interface DocumentContent {
  readonly subscriptionId: string;
  readonly vmId: string;
  readonly nonce: string;
}

function parseContent(content: Buffer): DocumentContent {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(content));
  } catch (err) {
    throw PluginError.invalidArgument(`failed to validate attested document: failed to unmarshal attested document payload: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw PluginError.invalidArgument('failed to validate attested document: the signed content is not a JSON object');
  const r = v as Record<string, unknown>;
  const str = (k: string): string => (typeof r[k] === 'string' ? (r[k] as string) : '');
  return { subscriptionId: str('subscriptionId'), vmId: str('vmId'), nonce: str('nonce') };
}

export interface AttestationResult {
  spiffeId: string;
  selectorValues: string[];
}

/** A verified document: the agent ID and what the selectors are resolved from. */
export interface VerifiedDocument {
  readonly spiffeId: string;
  readonly tenant: TenantConfig;
  readonly vmId: string;
  readonly subscriptionId: string;
  readonly vmssName: string | undefined;
}

export interface AttestDeps {
  readonly fetchIntermediate: IntermediateFetcher;
  /** The tenant ID of a domain (SPIRE looks it up from Microsoft Entra's OpenID configuration). */
  readonly tenantIdOf: (domain: string) => Promise<string>;
}

/** Verifies the challenge response for `nonce` and computes the agent ID (TOFU and selectors are the caller's). */
export async function attestDocument(config: AttestorConfig, deps: AttestDeps, nonce: string, response: Uint8Array | undefined): Promise<VerifiedDocument> {
  const data = parsePayload(response);
  let content: DocumentContent;
  try {
    const signed = verifyPkcs7(data.signature);
    checkMetadataDomain(signed.signer, config.metadataDomains);
    await verifyChain(signed.signer, { roots: config.roots, intermediates: signed.certificates, fetchIntermediate: deps.fetchIntermediate });
    content = parseContent(signed.content);
  } catch (err) {
    if (err instanceof SignatureError || err instanceof ChainError) throw PluginError.invalidArgument(`failed to validate attested document: ${err.message}`);
    throw err;
  }
  if (!content.vmId) throw PluginError.invalidArgument('missing VM ID in attested document');
  if (!content.subscriptionId) throw PluginError.invalidArgument('missing subscription ID in attested document');
  if (content.nonce !== nonce) throw PluginError.invalidArgument('nonce mismatch: the attested document was not fetched for this attestation (replayed?)');
  if (!UUID.test(content.vmId)) throw PluginError.invalidArgument(`invalid VM ID: ${JSON.stringify(content.vmId)} is not a UUID`);
  if (!SEGMENT.test(content.subscriptionId)) throw PluginError.invalidArgument(`invalid subscription ID ${JSON.stringify(content.subscriptionId)}`);

  const tenant = config.tenants.get(data.agentDomain);
  if (!tenant) throw denied(`tenant ${JSON.stringify(data.agentDomain)} is not authorized`);
  if (tenant.subscriptions.size > 0 && !tenant.subscriptions.has(content.subscriptionId)) {
    throw denied(`subscription ${JSON.stringify(content.subscriptionId)} is not authorized for tenant ${JSON.stringify(tenant.domain)} (restrict_to_subscriptions)`);
  }
  const tenantId = tenant.tenantId || (await deps.tenantIdOf(tenant.domain));
  const path = config.pathTemplate.execute({ PluginName: PLUGIN_NAME, TenantID: tenantId, SubscriptionID: content.subscriptionId, VMID: content.vmId });
  const problem = validateAgentPath(path);
  if (problem) throw PluginError.internal(`unable to make agent ID: invalid agent path suffix ${JSON.stringify(path)}: ${problem}`);
  return { spiffeId: `spiffe://${config.trustDomain}/spire/agent${path}`, tenant, vmId: content.vmId, subscriptionId: content.subscriptionId, vmssName: data.vmssName };
}

/** A tenant domain's ID from `<authority>/<domain>/.well-known/openid-configuration` (issuer `https://sts.windows.net/<id>/`), cached. */
export function tenantIdLookup(authorityHost: string): (domain: string) => Promise<string> {
  const cache = new Map<string, string>();
  return async (domain) => {
    const hit = cache.get(domain);
    if (hit) return hit;
    const url = `${authorityHost}${encodeURIComponent(domain)}/.well-known/openid-configuration`;
    let issuer: unknown;
    try {
      const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(10_000) });
      const body = Buffer.from(await res.arrayBuffer());
      if (res.status !== 200) throw new Error(`status ${res.status}`);
      if (body.length > 256 * 1024) throw new Error('response too large');
      issuer = (JSON.parse(body.toString('utf8')) as Record<string, unknown>).issuer;
    } catch (err) {
      throw PluginError.internal(`failed to fetch tenant ID for domain ${JSON.stringify(domain)} from ${url}: ${(err as Error).message}`);
    }
    const m = typeof issuer === 'string' ? /^https:\/\/sts\.windows\.net\/([A-Za-z0-9-]+)\/$/.exec(issuer) : null;
    if (!m) throw PluginError.internal(`malformed tenant ID: issuer ${JSON.stringify(issuer)} of domain ${JSON.stringify(domain)}`);
    cache.set(domain, m[1]!);
    return m[1]!;
  };
}
