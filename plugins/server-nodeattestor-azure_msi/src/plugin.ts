/**
 * The server NodeAttestor `azure_msi` plugin (SPIRE's `plugin_data` keys,
 * agent ID and trust on first use; selectors: see attest.ts).
 *
 * Trust on first use: SPIRE asks the server's AgentStore host service
 * whether the agent ID already attested. Our server does not offer that
 * host service yet, so this plugin remembers the agent IDs it attested in
 * its own memory: a restart forgets them, and an evicted agent cannot
 * re-attest until then.
 */
import {
  PluginError,
  schemaConfig,
  type BuiltConfig,
  type Logger,
  type PluginDefinition,
  type ServiceImpl,
} from '@spire-ts/plugin-sdk';
import { answerAttestation, firstPayload } from '@spire-ts/nodeattestor-kit';
import { attestToken, denied, type AttestationResult } from './attest.js';
import { buildAttestorConfig, configSchema, type AttestorConfig, type RawConfig } from './config.js';
import { OpenIdKeySet } from './jwks.js';

export const SERVER_NODE_ATTESTOR_SERVICE = 'spire.plugin.server.nodeattestor.v1.NodeAttestor';

type Impl = ServiceImpl<typeof SERVER_NODE_ATTESTOR_SERVICE>;
type Call = Parameters<NonNullable<Impl['Attest']>>[0];

export interface AzureMsiServerOptions {
  log?: Logger;
  /** Clock, in milliseconds (tests). */
  now?: () => number;
}

export class AzureMsiServerAttestor {
  private config: AttestorConfig | undefined;
  private keySet: OpenIdKeySet | undefined;
  /** Agent IDs attested by this process (see the module comment); in-flight ones included. */
  private readonly attested = new Set<string>();

  constructor(private readonly opts: AzureMsiServerOptions = {}) {}

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
    if (this.attested.has(result.spiffeId)) {
      this.opts.log?.error('Attestation data has already been used to attest an agent', { spiffe_id: result.spiffeId });
      throw denied('attestation data has already been used to attest an agent');
    }
    this.attested.add(result.spiffeId);
    return result;
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
    config: schemaConfig(configSchema, {
      requireTrustDomain: true,
      check: (value, input) => void buildAttestorConfig(value, input.trustDomain),
      apply: ({ value, trustDomain }) => attestor.configure(buildAttestorConfig(value, trustDomain)),
    }),
  };
}
