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

/** SPIRE's defaults. */
export const DEFAULT_IDENTITY_TOKEN_HOST = 'metadata.google.internal';
export const DEFAULT_SERVICE_ACCOUNT = 'default';
/** The audience SPIRE's server side requires (fixed, not configurable in SPIRE). */
export const IDENTITY_TOKEN_AUDIENCE = 'spire-gcp-node-attestor';
/** The largest token accepted from the metadata server (the server side refuses more). */
export const MAX_TOKEN_BYTES = 16 * 1024;
/** How long the metadata server may take to answer. */
export const FETCH_TIMEOUT_MS = 10_000;

/** A host name or IP, with an optional port: no scheme, path or credentials. */
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

const configSchema = s.object({
  identity_token_host: s.string({
    default: '',
    check: (v) => (v === '' || HOST.test(v) ? undefined : 'must be a host name or address with an optional port (no scheme or path), e.g. "metadata.google.internal"'),
  }),
  service_account: s.string({
    default: '',
    check: (v) => (v === '' || /^[A-Za-z0-9@._-]+$/.test(v) ? undefined : 'must be "default" or a service account email'),
  }),
});

/** The `plugin_data` of the agent `gcp_iit` NodeAttestor (SPIRE's keys). */
export interface GcpIitAgentConfig {
  /** Host of the metadata server; empty = {@link DEFAULT_IDENTITY_TOKEN_HOST}. */
  identity_token_host: string;
  /** Service account whose identity token is fetched; empty = {@link DEFAULT_SERVICE_ACCOUNT}. */
  service_account: string;
}

export interface GcpIitAgentOptions {
  log?: Logger;
}

type Call = Parameters<NonNullable<ServiceImpl<typeof AGENT_NODE_ATTESTOR_SERVICE>['AidAttestation']>>[0];

/** The metadata server URL SPIRE's agent asks for the identity token. */
export function identityTokenUrl(host: string, serviceAccount: string): string {
  const query = new URLSearchParams({ audience: IDENTITY_TOKEN_AUDIENCE, format: 'full' });
  return `http://${host}/computeMetadata/v1/instance/service-accounts/${encodeURIComponent(serviceAccount)}/identity?${query.toString()}`;
}

/** GETs the identity token (`Metadata-Flavor: Google`), at most {@link MAX_TOKEN_BYTES}. */
export async function fetchIdentityToken(url: string, timeoutMs = FETCH_TIMEOUT_MS): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { 'Metadata-Flavor': 'Google' }, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`GET ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message} (is the agent running on a GCE instance?)`);
  }
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) {
    throw new Error(`GET ${url}: unexpected status code: ${res.status}: ${body.subarray(0, 200).toString('utf8').trim()}`);
  }
  if (body.length > MAX_TOKEN_BYTES) throw new Error(`GET ${url}: the answer is larger than ${MAX_TOKEN_BYTES} bytes; it is not an identity token`);
  const token = body.toString('utf8').trim();
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) {
    throw new Error(`GET ${url}: the answer is not a compact JWT`);
  }
  return token;
}

/**
 * The agent side of `gcp_iit`: sends SPIRE's payload, the raw instance
 * identity token (a JWT, `format=full`, audience `spire-gcp-node-attestor`)
 * fetched anew from the metadata server for each attestation. The server
 * does not challenge.
 */
export class GcpIitAgentAttestor {
  private config: GcpIitAgentConfig | undefined;

  constructor(private readonly opts: GcpIitAgentOptions = {}) {}

  configure(config: GcpIitAgentConfig): void {
    this.config = { ...config };
  }

  /** The attestation payload: the identity token's bytes. */
  async payload(): Promise<Uint8Array> {
    const config = this.config;
    if (!config) throw PluginError.failedPrecondition('not configured');
    const url = identityTokenUrl(config.identity_token_host || DEFAULT_IDENTITY_TOKEN_HOST, config.service_account || DEFAULT_SERVICE_ACCOUNT);
    try {
      return Buffer.from(await fetchIdentityToken(url), 'utf8');
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.opts.log?.warn('cannot fetch the instance identity token', { error: message });
      throw PluginError.internal(`unable to retrieve valid identity token: ${message}`);
    }
  }

  /** The AidAttestation stream: the payload, then done (a challenge is a protocol error). */
  async aidAttestation(call: Call): Promise<void> {
    await sendPayloadOnly(call, 'gcp_iit', () => this.payload());
  }
}

/** The agent NodeAttestor `gcp_iit` (SPIRE's `plugin_data` keys `identity_token_host` and `service_account`). */
export function gcpIitAgentPlugin(
  opts: GcpIitAgentOptions = {},
): PluginDefinition<typeof AGENT_NODE_ATTESTOR_SERVICE, BuiltConfig<GcpIitAgentConfig>> {
  const attestor = new GcpIitAgentAttestor(opts);
  return {
    service: AGENT_NODE_ATTESTOR_SERVICE,
    impl: {
      AidAttestation: (call: Call) => attestor.aidAttestation(call),
    },
    config: schemaConfig(configSchema, { apply: ({ value }) => attestor.configure(value) }),
  };
}
