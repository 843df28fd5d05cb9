/**
 * The server `azure_msi` plugin_data (SPIRE's keys, plus the spire-ts
 * endpoints `openid_issuer_url`, `authority_host`, `resource_manager_url`
 * and `imds_endpoint`) and its checks.
 */
import { azure } from '@spire-ts/nodeattestor-kit';
import { PluginError, s, type Infer } from '@spire-ts/plugin-sdk';
import { AgentPathTemplate, DEFAULT_AGENT_PATH_TEMPLATE, TemplateError } from './template.js';

/** The Resource Manager API: SPIRE's default audience. */
export const DEFAULT_MSI_RESOURCE_ID = 'https://management.azure.com/';
/** Where SPIRE discovers the signing keys of MSI tokens (`<issuer>.well-known/openid-configuration`). */
export const DEFAULT_OPENID_ISSUER_URL = 'https://login.microsoftonline.com/common/';

const tenantSchema = s.object({
  resource_id: s.string({ default: '' }),
  subscription_id: s.string({ default: '' }),
  app_id: s.string({ default: '' }),
  app_secret: s.string({ default: '' }),
});

export const configSchema = s.object({
  tenants: s.map(tenantSchema, { default: {} }),
  agent_path_template: s.string({ default: '' }),
  /**
   * spire-ts only: the OpenID issuer whose discovery document names the
   * JWKS (tests, sovereign clouds). https, or http to a loopback address.
   */
  openid_issuer_url: s.string({ default: '' }),
  /** spire-ts only: the Microsoft Entra authority tenant credentials get tokens from (sovereign clouds, tests). */
  authority_host: s.string({ default: '' }),
  /** spire-ts only: the Azure Resource Manager endpoint (sovereign clouds, tests). */
  resource_manager_url: s.string({ default: '' }),
  /** spire-ts only: the Instance Metadata Service of the server's VM (managed identity, subscription), for tenants without credentials. */
  imds_endpoint: s.string({ default: '' }),
});

export type RawConfig = Infer<typeof configSchema>;

/** A tenant's own Resource Manager credentials (SPIRE's `subscription_id`, `app_id`, `app_secret`). */
export interface TenantCredentials {
  readonly subscriptionId: string;
  readonly appId: string;
  readonly appSecret: string;
}

export interface TenantConfig {
  readonly tenantId: string;
  /** The audience tokens must carry. */
  readonly resourceId: string;
  /** Absent: the server's default Azure credential and its VM's subscription. */
  readonly credentials?: TenantCredentials;
}

export interface AttestorConfig {
  readonly trustDomain: string;
  readonly tenants: ReadonlyMap<string, TenantConfig>;
  readonly pathTemplate: AgentPathTemplate;
  /** Base URL ending in "/". */
  readonly issuerUrl: string;
  /** Base URLs ending in "/". */
  readonly authorityHost: string;
  readonly resourceManagerUrl: string;
  readonly imdsEndpoint: string;
}

function issuerUrl(raw: string): string {
  const v = raw || DEFAULT_OPENID_ISSUER_URL;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw PluginError.invalidArgument(`openid_issuer_url ${JSON.stringify(v)} is not a URL`);
  }
  const loopback = u.hostname === 'localhost' || u.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(u.hostname);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) {
    throw PluginError.invalidArgument(`openid_issuer_url ${JSON.stringify(v)} must be an https URL (http is allowed for loopback addresses only)`);
  }
  if (u.search || u.hash) throw PluginError.invalidArgument(`openid_issuer_url ${JSON.stringify(v)} must not have a query or fragment`);
  return u.href.endsWith('/') ? u.href : `${u.href}/`;
}

/** Checks and builds the configuration; every problem is INVALID_ARGUMENT naming the key. */
export function buildAttestorConfig(raw: RawConfig, trustDomain: string): AttestorConfig {
  const ids = Object.keys(raw.tenants);
  if (ids.length === 0) throw PluginError.invalidArgument('configuration must have at least one tenant');
  const tenants = new Map<string, TenantConfig>();
  for (const id of ids) {
    const t = raw.tenants[id]!;
    if (!/^[A-Za-z0-9._-]+$/.test(id)) {
      throw PluginError.invalidArgument(`tenant ID ${JSON.stringify(id)} is malformed: a tenant ID is a GUID such as "00000000-1111-2222-3333-444444444444"`);
    }
    if (t.subscription_id || t.app_id || t.app_secret) {
      if (!t.subscription_id) throw PluginError.invalidArgument(`misconfigured tenant ${JSON.stringify(id)}: missing subscription id`);
      if (!t.app_id) throw PluginError.invalidArgument(`misconfigured tenant ${JSON.stringify(id)}: missing app id`);
      if (!t.app_secret) throw PluginError.invalidArgument(`misconfigured tenant ${JSON.stringify(id)}: missing app secret`);
    }
    const tenant: TenantConfig = { tenantId: id, resourceId: t.resource_id || DEFAULT_MSI_RESOURCE_ID };
    tenants.set(id, t.subscription_id ? { ...tenant, credentials: { subscriptionId: t.subscription_id, appId: t.app_id, appSecret: t.app_secret } } : tenant);
  }
  let pathTemplate: AgentPathTemplate;
  try {
    pathTemplate = AgentPathTemplate.parse(raw.agent_path_template || DEFAULT_AGENT_PATH_TEMPLATE);
  } catch (err) {
    if (err instanceof TemplateError) throw PluginError.invalidArgument(`failed to parse agent path template ${JSON.stringify(raw.agent_path_template)}: ${err.message}`);
    throw err;
  }
  return {
    trustDomain,
    tenants,
    pathTemplate,
    issuerUrl: issuerUrl(raw.openid_issuer_url),
    authorityHost: azure.configuredUrl(azure.checkBaseUrl, raw.authority_host, azure.DEFAULT_AUTHORITY_HOST, 'authority_host'),
    resourceManagerUrl: azure.configuredUrl(azure.checkBaseUrl, raw.resource_manager_url, azure.DEFAULT_RESOURCE_MANAGER_URL, 'resource_manager_url'),
    imdsEndpoint: azure.configuredUrl(azure.checkMetadataUrl, raw.imds_endpoint, azure.DEFAULT_IMDS_ENDPOINT, 'imds_endpoint'),
  };
}
