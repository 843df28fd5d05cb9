/**
 * The server NodeAttestor `gcp_iit`: verifies the agent's GCE instance
 * identity token (RS256, signed by one of Google's current keys, SPIRE's
 * audience, not expired), checks the project allow-list, refuses an
 * instance that already attested (trust on first use) and answers SPIRE's
 * agent ID and selectors (`project-id`, `zone`, `instance-name`, `sa`).
 *
 * Trust on first use, as SPIRE's: the server's AgentStore host service
 * says whether the agent ID is attested; an evicted agent may attest again.
 */
import {
  PluginError,
  Status,
  schemaConfig,
  type BuiltConfig,
  type Logger,
  type PluginDefinition,
  type ServiceImpl,
} from '@spire-ts/plugin-sdk';
import { AGENT_STORE_SERVICE, TofuGuard, answerAttestation, firstPayload, type AttestedLookup } from '@spire-ts/nodeattestor-kit';
import { CertsError, GoogleKeyRetriever } from './certs.js';
import { ComputeClient, ComputeError, GoogleCredentials, instanceSelectors } from './compute.js';
import { buildAttestorConfig, configSchema, type AttestorConfig, type RawConfig } from './config.js';
import { validateAgentPath } from './template.js';
import { verifyIdentityToken, type IdentityToken } from './token.js';

export const NODE_ATTESTOR_SERVICE = 'spire.plugin.server.nodeattestor.v1.NodeAttestor';
export const PLUGIN_NAME = 'gcp_iit';

type Impl = ServiceImpl<typeof NODE_ATTESTOR_SERVICE>;
type AttestCall = Parameters<NonNullable<Impl['Attest']>>[0];

export interface GcpIitServerOptions {
  log?: Logger;
  /** The clock (ms since the epoch), for tests. */
  now?: () => number;
  /** Environment for GOOGLE_APPLICATION_CREDENTIALS / GCE_METADATA_HOST (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Answers "is this agent ID attested?" without the AgentStore host service (in-process hosts, tests). */
  attested?: AttestedLookup;
}

export interface AttestResult {
  spiffeId: string;
  selectorValues: string[];
}

/** The attestation logic, independent of the transport. */
export class GcpIitAttestor {
  private config: AttestorConfig | undefined;
  private keys: GoogleKeyRetriever | undefined;
  private compute: ComputeClient | undefined;
  readonly tofu: TofuGuard;

  constructor(private readonly opts: GcpIitServerOptions = {}) {
    this.tofu = new TofuGuard(PLUGIN_NAME, opts.log);
    if (opts.attested) this.tofu.useLookup(opts.attested);
  }

  configure(raw: RawConfig, trustDomain: string): void {
    const config = buildAttestorConfig(raw, trustDomain);
    if (!this.keys || this.keys.url !== config.certsUrl) this.keys = new GoogleKeyRetriever(config.certsUrl, this.opts.now);
    const im = config.instanceMetadata;
    this.compute = im ? new ComputeClient(im.computeApiUrl, new GoogleCredentials(im.serviceAccountFile, this.opts.env ?? process.env)) : undefined;
    this.config = config;
  }

  async attest(payload: Uint8Array): Promise<AttestResult> {
    const config = this.config;
    const retriever = this.keys;
    if (!config || !retriever) throw PluginError.failedPrecondition('not configured');
    let keys;
    try {
      keys = await retriever.keySet();
    } catch (err) {
      if (err instanceof CertsError) throw PluginError.internal(err.message);
      throw err;
    }
    const token = verifyIdentityToken(payload, keys, (this.opts.now ?? Date.now)());
    if (!config.projectIds.has(token.projectId)) {
      throw new PluginError(Status.PERMISSION_DENIED, `identity token project ID ${JSON.stringify(token.projectId)} is not in the allow list (projectid_allow_list)`);
    }
    const spiffeId = agentId(config, token);
    const compute = this.compute;
    return this.tofu.guard(spiffeId, async () => {
      const selectorValues = [`project-id:${token.projectId}`, `zone:${token.zone}`, `instance-name:${token.instanceName}`, `sa:${token.email}`];
      const im = config.instanceMetadata;
      if (im && compute) {
        try {
          selectorValues.push(...instanceSelectors(await compute.instance(token.projectId, token.zone, token.instanceName), im));
        } catch (err) {
          if (err instanceof ComputeError) throw PluginError.internal(err.message.startsWith('metadata ') ? err.message : `failed to fetch instance metadata: ${err.message}`);
          throw err;
        }
      }
      return { spiffeId, selectorValues };
    });
  }
}

function agentId(config: AttestorConfig, token: IdentityToken): string {
  const path = config.pathTemplate.execute({
    PluginName: PLUGIN_NAME,
    ProjectID: token.projectId,
    ProjectNumber: String(token.projectNumber),
    Zone: token.zone,
    InstanceID: token.instanceId,
    InstanceName: token.instanceName,
    InstanceCreationTimestamp: String(token.instanceCreationTimestamp),
    ServiceAccount: token.email.replaceAll('@', '_'),
  });
  const problem = validateAgentPath(path);
  if (problem) throw PluginError.internal(`failed to create agent ID: invalid agent path suffix ${JSON.stringify(path)}: ${problem}`);
  return `spiffe://${config.trustDomain}/spire/agent${path}`;
}

/** The server NodeAttestor `gcp_iit` plugin (SPIRE's `plugin_data` keys, agent path template and selectors). */
export function gcpIitServerPlugin(opts: GcpIitServerOptions = {}): PluginDefinition<typeof NODE_ATTESTOR_SERVICE, BuiltConfig<RawConfig>> {
  const attestor = new GcpIitAttestor(opts);
  const impl: Impl = {
    Attest: (call: AttestCall) => {
      answerAttestation(call, async () => attestor.attest(await firstPayload(call)), {
        onError: (err) => {
          if (!(err instanceof PluginError)) opts.log?.error('gcp_iit attestation failed', { error: (err as Error).message });
        },
      });
    },
  };
  return {
    service: NODE_ATTESTOR_SERVICE,
    impl,
    hostServices: [AGENT_STORE_SERVICE],
    onHostServices: (hosts) => attestor.tofu.bind(hosts),
    config: schemaConfig(configSchema, {
      requireTrustDomain: true,
      check: (value, input) => void buildAttestorConfig(value, input.trustDomain),
      apply: ({ value, trustDomain }) => attestor.configure(value, trustDomain),
    }),
  };
}
