/**
 * The server NodeAttestor `azure_msi` plugin (SPIRE's `plugin_data` keys,
 * agent ID and trust on first use; selectors from Azure Resource Manager: see resolve.ts).
 *
 * Trust on first use, as SPIRE's: the server's AgentStore host service
 * says whether the agent ID is attested; an evicted agent may attest again.
 */
import {
  PluginError,
  schemaConfig,
  type BuiltConfig,
  type Logger,
  type PluginDefinition,
  type ServiceImpl,
} from '@spire-ts/plugin-sdk';
import { AGENT_STORE_SERVICE, TofuGuard, answerAttestation, firstPayload, type AttestedLookup } from '@spire-ts/nodeattestor-kit';
import { attestToken, type AttestationResult } from './attest.js';
import { resolveSelectors, tenantClient, type ClientOptions, type TenantClient } from './resolve.js';
import { buildAttestorConfig, configSchema, type AttestorConfig, type RawConfig } from './config.js';
import { OpenIdKeySet } from './jwks.js';

export const SERVER_NODE_ATTESTOR_SERVICE = 'spire.plugin.server.nodeattestor.v1.NodeAttestor';

type Impl = ServiceImpl<typeof SERVER_NODE_ATTESTOR_SERVICE>;
type Call = Parameters<NonNullable<Impl['Attest']>>[0];

export interface AzureMsiServerOptions {
  log?: Logger;
  /** Clock, in milliseconds (tests). */
  now?: () => number;
  /** Answers "is this agent ID attested?" without the AgentStore host service (in-process hosts, tests). */
  attested?: AttestedLookup;
  /** Environment read by the default Azure credential (tests; default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Timeout of each Azure request in milliseconds (default 10 s). */
  azureTimeoutMs?: number;
}

export class AzureMsiServerAttestor {
  private config: AttestorConfig | undefined;
  private keySet: OpenIdKeySet | undefined;
  private clients = new Map<string, TenantClient>();
  readonly tofu: TofuGuard;

  constructor(private readonly opts: AzureMsiServerOptions = {}) {
    this.tofu = new TofuGuard('azure_msi', opts.log);
    if (opts.attested) this.tofu.useLookup(opts.attested);
  }

  configure(config: AttestorConfig): void {
    if (!this.keySet || this.keySet.issuerUrl !== config.issuerUrl) this.keySet = new OpenIdKeySet(config.issuerUrl, this.opts.now);
    const copts: ClientOptions = {};
    if (this.opts.now) Object.assign(copts, { now: this.opts.now });
    if (this.opts.env) Object.assign(copts, { env: this.opts.env });
    if (this.opts.azureTimeoutMs) Object.assign(copts, { timeoutMs: this.opts.azureTimeoutMs });
    const clients = new Map<string, TenantClient>();
    for (const [id, tenant] of config.tenants) clients.set(id, tenantClient(config, tenant, copts));
    this.clients = clients;
    this.config = config;
  }

  /** The Resource Manager client of a configured tenant (tests inspect its token cache). */
  clientOf(tenantId: string): TenantClient | undefined {
    return this.clients.get(tenantId);
  }

  async attest(payload: Uint8Array | undefined): Promise<AttestationResult> {
    const config = this.config;
    const keySet = this.keySet;
    if (!config || !keySet) throw PluginError.failedPrecondition('not configured');
    const now = (this.opts.now ?? Date.now)();
    const verified = await attestToken(config, keySet, payload, Math.floor(now / 1000));
    const client = this.clients.get(verified.tenantId);
    if (!client) throw PluginError.internal(`no Resource Manager client for tenant ${JSON.stringify(verified.tenantId)}`);
    return this.tofu.guard(verified.spiffeId, async () => ({
      spiffeId: verified.spiffeId,
      selectorValues: await resolveSelectors(client, verified.principalId),
    }));
  }
}

/** The server NodeAttestor `azure_msi` (SPIRE's `tenants`, `agent_path_template`; spire-ts `openid_issuer_url`, `authority_host`, `resource_manager_url`, `imds_endpoint`). */
export function azureMsiServerPlugin(opts: AzureMsiServerOptions = {}): PluginDefinition<typeof SERVER_NODE_ATTESTOR_SERVICE, BuiltConfig<RawConfig>> {
  const attestor = new AzureMsiServerAttestor(opts);
  const impl: Impl = {
    Attest: (call: Call) => {
      answerAttestation(call, async () => attestor.attest(await firstPayload(call)), {
        onError: (err) => opts.log?.warn('azure_msi attestation refused', { error: err instanceof Error ? err.message : String(err) }),
      });
    },
  };
  return {
    service: SERVER_NODE_ATTESTOR_SERVICE,
    impl,
    hostServices: [AGENT_STORE_SERVICE],
    onHostServices: (hosts) => attestor.tofu.bind(hosts),
    config: schemaConfig(configSchema, {
      requireTrustDomain: true,
      check: (value, input) => void buildAttestorConfig(value, input.trustDomain),
      apply: ({ value, trustDomain }) => attestor.configure(buildAttestorConfig(value, trustDomain)),
    }),
  };
}
