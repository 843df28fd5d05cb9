/**
 * The agent NodeAttestor `azure_msi` (SPIRE's pkg/agent/plugin/nodeattestor/azuremsi):
 * asks the VM's Instance Metadata Service for a managed identity (MSI)
 * access token for `resource_id` and sends SPIRE's payload, the JSON
 * `{"token": <token>}`. The server does not challenge.
 *
 * `plugin_data`: SPIRE's `resource_id`; `imds_endpoint` (spire-ts only,
 * for tests and proxies) replaces the link-local IMDS address.
 */
import {
  PluginError,
  s,
  schemaConfig,
  type BuiltConfig,
  type Logger,
  type PluginDefinition,
  type ServiceImpl,
} from '@spire-ts/plugin-sdk';
import { sendPayloadOnly } from '@spire-ts/nodeattestor-kit';

export const AGENT_NODE_ATTESTOR_SERVICE = 'spire.plugin.agent.nodeattestor.v1.NodeAttestor';
export const DEFAULT_IMDS_ENDPOINT = 'http://169.254.169.254';
/** The Resource Manager API: SPIRE's default audience. */
export const DEFAULT_MSI_RESOURCE_ID = 'https://management.azure.com/';

const TOKEN_PATH = '/metadata/identity/oauth2/token';
const API_VERSION = '2018-02-01';
const TIMEOUT_MS = 10_000;
/** An MSI token response is a few KiB; the server refuses payloads above 64 KiB. */
const MAX_RESPONSE_BYTES = 60 * 1024;

function httpUrl(v: string): string | undefined {
  if (v === '') return undefined;
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:' ? undefined : 'must be an http(s) URL';
  } catch {
    return 'must be an http(s) URL';
  }
}

const configSchema = s.object({
  resource_id: s.string({ default: '' }),
  imds_endpoint: s.string({ default: '', check: httpUrl }),
});

/** The agent `azure_msi` plugin_data. */
export interface AzureMsiAgentConfig {
  /** Audience of the requested token; empty = {@link DEFAULT_MSI_RESOURCE_ID}. */
  resource_id: string;
  /** Base URL of IMDS; empty = {@link DEFAULT_IMDS_ENDPOINT}. */
  imds_endpoint: string;
}

export interface AzureMsiAgentOptions {
  log?: Logger;
}

type Call = Parameters<NonNullable<ServiceImpl<typeof AGENT_NODE_ATTESTOR_SERVICE>['AidAttestation']>>[0];

/** Fetches an MSI access token for `resource` from IMDS at `endpoint`. Errors name the URL and the cause. */
export async function fetchMsiToken(endpoint: string, resource: string): Promise<string> {
  const url = new URL(TOKEN_PATH, `${(endpoint || DEFAULT_IMDS_ENDPOINT).replace(/\/+$/, '')}/`);
  url.searchParams.set('api-version', API_VERSION);
  url.searchParams.set('resource', resource);
  let res: Response;
  try {
    res = await fetch(url, { headers: { Metadata: 'true' }, redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    throw new Error(`${url.origin}${url.pathname}: ${(err as Error).message}${cause ? ` (${cause})` : ''}`);
  }
  const body = Buffer.from(await res.arrayBuffer());
  if (body.length > MAX_RESPONSE_BYTES) throw new Error(`response of ${body.length} bytes exceeds ${MAX_RESPONSE_BYTES}`);
  const text = body.toString('utf8');
  if (res.status !== 200) throw new Error(`unexpected status code ${res.status}: ${text.slice(0, 1024)}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`unable to decode response: ${(err as Error).message}`);
  }
  const token = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>).access_token : undefined;
  if (typeof token !== 'string' || token === '') throw new Error('response missing access token');
  return token;
}

/** The agent side of `azure_msi`. */
export class AzureMsiAgentAttestor {
  private config: AzureMsiAgentConfig | undefined;

  constructor(private readonly opts: AzureMsiAgentOptions = {}) {}

  configure(config: AzureMsiAgentConfig): void {
    this.config = { ...config };
  }

  /** SPIRE's `MSIAttestationData`. */
  async payload(): Promise<Uint8Array> {
    const config = this.config;
    if (!config) throw PluginError.failedPrecondition('not configured');
    let token: string;
    try {
      token = await fetchMsiToken(config.imds_endpoint, config.resource_id || DEFAULT_MSI_RESOURCE_ID);
    } catch (err) {
      this.opts.log?.error('cannot fetch the MSI token', { error: (err as Error).message });
      throw PluginError.internal(`unable to fetch token: ${(err as Error).message}`);
    }
    return Buffer.from(JSON.stringify({ token }), 'utf8');
  }

  async aidAttestation(call: Call): Promise<void> {
    await sendPayloadOnly(call, 'azure_msi', () => this.payload());
  }
}

/** The agent NodeAttestor `azure_msi`. */
export function azureMsiAgentPlugin(
  opts: AzureMsiAgentOptions = {},
): PluginDefinition<typeof AGENT_NODE_ATTESTOR_SERVICE, BuiltConfig<AzureMsiAgentConfig>> {
  const attestor = new AzureMsiAgentAttestor(opts);
  return {
    service: AGENT_NODE_ATTESTOR_SERVICE,
    impl: { AidAttestation: (call: Call) => attestor.aidAttestation(call) },
    config: schemaConfig(configSchema, { apply: ({ value }) => attestor.configure(value) }),
  };
}
