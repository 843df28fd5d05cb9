/**
 * The server `azure_imds` plugin_data (SPIRE's keys, plus the spire-ts
 * endpoints `authority_host`, `resource_manager_url`, `imds_endpoint` and
 * per-tenant `tenant_id`) and its checks.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { azure } from '@spire-ts/nodeattestor-kit';
import { PluginError, s, type Infer } from '@spire-ts/plugin-sdk';
import { AZURE_ROOTS } from './roots.js';
import { AgentPathTemplate, DEFAULT_AGENT_PATH_TEMPLATE, TemplateError } from './template.js';

export const DEFAULT_METADATA_DOMAIN = 'metadata.azure.com';
/** Where a tenant domain's ID is looked up (`<authority>/<domain>/.well-known/openid-configuration`). */
export const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com/';

const tenantSchema = s.object({
  restrict_to_subscriptions: s.list(s.string(), { default: [] }),
  allowed_vm_tags: s.list(s.string({ nonEmpty: true }), { default: [] }),
  secret_auth: s.object({ app_id: s.string({ default: '' }), app_secret: s.string({ default: '' }) }),
  token_auth: s.object({ app_id: s.string({ default: '' }), token_path: s.string({ default: '' }) }),
  /** spire-ts only: the tenant's ID, instead of looking it up from the domain. */
  tenant_id: s.string({ default: '' }),
});

export const configSchema = s.object({
  tenants: s.map(tenantSchema, { default: {} }),
  agent_path_template: s.string({ default: '' }),
  allowed_metadata_domains: s.list(s.string({ nonEmpty: true }), { default: [] }),
  trust_bundle_path: s.string({ default: '' }),
  /** spire-ts only: the Microsoft Entra authority (sovereign clouds, tests). https, or http to a loopback address. */
  authority_host: s.string({ default: '' }),
  /** spire-ts only: the Azure Resource Manager endpoint (sovereign clouds, tests). */
  resource_manager_url: s.string({ default: '' }),
  /** spire-ts only: the Instance Metadata Service of the server's VM (managed identity), for tenants without credentials. */
  imds_endpoint: s.string({ default: '' }),
});

export type RawConfig = Infer<typeof configSchema>;

/** How a tenant authenticates to Resource Manager (absent: the server's default Azure credential). */
export type TenantAuth =
  | { readonly kind: 'secret'; readonly appId: string; readonly appSecret: string }
  | { readonly kind: 'token'; readonly appId: string; readonly tokenPath: string };

export interface TenantConfig {
  readonly domain: string;
  readonly auth?: TenantAuth;
  /** VM tags that become `vm-tag` selectors (SPIRE's `allowed_vm_tags`). */
  readonly allowedTags: readonly string[];
  /** Empty: looked up from the domain at the first attestation. */
  readonly tenantId: string;
  /** Empty: any subscription. */
  readonly subscriptions: ReadonlySet<string>;
}

export interface AttestorConfig {
  readonly trustDomain: string;
  readonly tenants: ReadonlyMap<string, TenantConfig>;
  readonly pathTemplate: AgentPathTemplate;
  readonly metadataDomains: readonly string[];
  readonly roots: readonly X509Certificate[];
  readonly authorityHost: string;
  readonly resourceManagerUrl: string;
  readonly imdsEndpoint: string;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;

export function parsePemCertificates(text: string): X509Certificate[] {
  return [...text.matchAll(PEM_CERT)].map((m) => new X509Certificate(m[0]));
}

function loadTrustBundle(path: string): X509Certificate[] {
  let certs: X509Certificate[];
  try {
    certs = parsePemCertificates(readFileSync(path, 'utf8'));
  } catch (err) {
    throw PluginError.invalidArgument(`unable to load trust bundle ${JSON.stringify(path)}: ${(err as Error).message}`);
  }
  if (certs.length === 0) throw PluginError.invalidArgument(`unable to load trust bundle ${JSON.stringify(path)}: no PEM certificates found`);
  for (const c of certs) {
    if (!c.ca) throw PluginError.invalidArgument(`trust bundle ${JSON.stringify(path)} contains a non-CA certificate (subject ${JSON.stringify(c.subject.replace(/\n/g, ', '))})`);
  }
  return certs;
}

function authorityHost(raw: string): string {
  const v = raw || DEFAULT_AUTHORITY_HOST;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw PluginError.invalidArgument(`authority_host ${JSON.stringify(v)} is not a URL`);
  }
  const loopback = u.hostname === 'localhost' || u.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(u.hostname);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) {
    throw PluginError.invalidArgument(`authority_host ${JSON.stringify(v)} must be an https URL (http is allowed for loopback addresses only)`);
  }
  return u.href.endsWith('/') ? u.href : `${u.href}/`;
}

const SEGMENT = /^[A-Za-z0-9._-]+$/;

/** Checks and builds the configuration; every problem is INVALID_ARGUMENT naming the key. */
export function buildAttestorConfig(raw: RawConfig, trustDomain: string): AttestorConfig {
  const domains = Object.keys(raw.tenants);
  if (domains.length === 0) throw PluginError.invalidArgument('configuration must have at least one tenant');
  const tenants = new Map<string, TenantConfig>();
  for (const domain of domains) {
    const t = raw.tenants[domain]!;
    const q = JSON.stringify(domain);
    if (!SEGMENT.test(domain)) throw PluginError.invalidArgument(`tenant domain ${q} is malformed: use a domain such as "example.onmicrosoft.com"`);
    const secret = t.secret_auth;
    const token = t.token_auth;
    if (secret && token) throw PluginError.invalidArgument(`misconfigured tenant ${q}: secret_auth and token_auth are mutually exclusive`);
    if (secret && (!secret.app_id || !secret.app_secret)) throw PluginError.invalidArgument(`misconfigured tenant ${q}: secret_auth needs app_id and app_secret`);
    if (token && (!token.app_id || !token.token_path)) throw PluginError.invalidArgument(`misconfigured tenant ${q}: token_auth needs app_id and token_path`);
    const subscriptions = new Set<string>();
    for (const sub of t.restrict_to_subscriptions) {
      if (sub.trim() === '') throw PluginError.invalidArgument(`misconfigured tenant ${q}: restrict_to_subscriptions entries must be non-empty`);
      subscriptions.add(sub.trim());
    }
    if (t.tenant_id && !SEGMENT.test(t.tenant_id)) throw PluginError.invalidArgument(`misconfigured tenant ${q}: tenant_id ${JSON.stringify(t.tenant_id)} is malformed`);
    const tenant: TenantConfig = { domain, tenantId: t.tenant_id, subscriptions, allowedTags: [...new Set(t.allowed_vm_tags)] };
    if (secret) tenants.set(domain, { ...tenant, auth: { kind: 'secret', appId: secret.app_id, appSecret: secret.app_secret } });
    else if (token) tenants.set(domain, { ...tenant, auth: { kind: 'token', appId: token.app_id, tokenPath: token.token_path } });
    else tenants.set(domain, tenant);
  }
  let pathTemplate: AgentPathTemplate;
  try {
    pathTemplate = AgentPathTemplate.parse(raw.agent_path_template || DEFAULT_AGENT_PATH_TEMPLATE);
  } catch (err) {
    if (err instanceof TemplateError) throw PluginError.invalidArgument(`failed to parse agent path template ${JSON.stringify(raw.agent_path_template)}: ${err.message}`);
    throw err;
  }
  const roots = AZURE_ROOTS.map((r) => new X509Certificate(r.pem));
  if (raw.trust_bundle_path) roots.push(...loadTrustBundle(raw.trust_bundle_path));
  return {
    trustDomain,
    tenants,
    pathTemplate,
    metadataDomains: raw.allowed_metadata_domains.length > 0 ? raw.allowed_metadata_domains : [DEFAULT_METADATA_DOMAIN],
    roots,
    authorityHost: authorityHost(raw.authority_host),
    resourceManagerUrl: azure.configuredUrl(azure.checkBaseUrl, raw.resource_manager_url, azure.DEFAULT_RESOURCE_MANAGER_URL, 'resource_manager_url'),
    imdsEndpoint: azure.configuredUrl(azure.checkMetadataUrl, raw.imds_endpoint, azure.DEFAULT_IMDS_ENDPOINT, 'imds_endpoint'),
  };
}
