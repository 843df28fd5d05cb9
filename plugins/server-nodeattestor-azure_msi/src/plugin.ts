/**
 * The server NodeAttestor `azure_msi` plugin (SPIRE's `plugin_data` keys,
 * agent ID and trust on first use; selectors: see attest.ts).
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
}

export class AzureMsiServerAttestor {
  private config: AttestorConfig | undefined;
  private keySet: OpenIdKeySet | undefined;
  readonly tofu: TofuGuard;

  constructor(private readonly opts: AzureMsiServerOptions = {}) {
    this.tofu = new TofuGuard('azure_msi', opts.log);
    if (opts.attested) this.tofu.useLookup(opts.attested);
  }

  configure(config: AttestorConfig): void {
    if (!this.keySet || this.keySet.issuerUrl !== config.issuerUrl) this.keySet = new OpenIdKeySet(config.issuerUrl, this.opts.now);
    this.config = config;
    if (config.tenantsWithCredentials.length > 0) {
      this.opts.log?.warn('Resource Manager credentials are not used yet: only the selectors derivable from the token are produced', {
        tenants: config.tenantsWithCredentials.join(','),
      });
    }
  }

  async attest(payload: Uint8Array | undefined): Promise<AttestationResult> {
    const config = this.config;
    const keySet = this.keySet;
    if (!config || !keySet) throw PluginError.failedPrecondition('not configured');
    const now = (this.opts.now ?? Date.now)();
    const result = await attestToken(config, keySet, payload, Math.floor(now / 1000));
    return this.tofu.guard(result.spiffeId, () => Promise.resolve(result));
  }
}

/** The server NodeAttestor `azure_msi` (SPIRE's `tenants`, `agent_path_template`; spire-ts `openid_issuer_url`). */
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
