/**
 * The server NodeAttestor `azure_imds` plugin: payload → nonce challenge →
 * attested document (see attest.ts) → selectors from Azure Resource
 * Manager (see resolve.ts).
 *
 * Trust on first use, as SPIRE's: the server's AgentStore host service
 * says whether the agent ID is attested; an evicted agent may attest again.
 */
import { X509Certificate } from 'node:crypto';
import {
  PluginError,
  schemaConfig,
  type BuiltConfig,
  type Logger,
  type PluginDefinition,
  type ServiceImpl,
} from '@spire-ts/plugin-sdk';
import { AGENT_STORE_SERVICE, TofuGuard, answerAttestation, type AttestedLookup, type azure } from '@spire-ts/nodeattestor-kit';
import { attestDocument, newNonce, tenantIdLookup, type AttestationResult } from './attest.js';
import { cachingFetcher, type IntermediateFetcher } from './chain.js';
import { buildAttestorConfig, configSchema, parsePemCertificates, type AttestorConfig, type RawConfig } from './config.js';
import { resolveSelectors, tenantClient, type ClientOptions } from './resolve.js';

export const SERVER_NODE_ATTESTOR_SERVICE = 'spire.plugin.server.nodeattestor.v1.NodeAttestor';

type Impl = ServiceImpl<typeof SERVER_NODE_ATTESTOR_SERVICE>;
type Call = Parameters<NonNullable<Impl['Attest']>>[0];
type Msg = { request?: string; payload?: Uint8Array | null; challenge_response?: Uint8Array | null };

export interface AzureImdsServerOptions {
  log?: Logger;
  /** How intermediates named by CA Issuers URLs are fetched (tests). */
  fetchIntermediate?: IntermediateFetcher;
  /** Answers "is this agent ID attested?" without the AgentStore host service (in-process hosts, tests). */
  attested?: AttestedLookup;
  /** Environment read by the default Azure credential (tests; default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Timeout of each Azure request in milliseconds (default 10 s). */
  azureTimeoutMs?: number;
}

/** Reads the stream's messages one at a time. */
function reader(call: Call): () => Promise<Msg | undefined> {
  const queue: Msg[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  call.on('data', (m: Msg) => {
    queue.push(m);
    wake?.();
  });
  call.on('end', () => {
    ended = true;
    wake?.();
  });
  call.on('error', (err: unknown) => {
    failure = err instanceof Error ? err : new Error(String(err));
    wake?.();
  });
  return async () => {
    while (queue.length === 0 && !ended && !failure) await new Promise<void>((r) => (wake = r));
    wake = undefined;
    if (queue.length > 0) return queue.shift();
    if (failure) throw failure;
    return undefined;
  };
}

function parseCert(body: Buffer): X509Certificate {
  const pem = parsePemCertificates(body.toString('latin1'));
  return pem[0] ?? new X509Certificate(body);
}

export class AzureImdsServerAttestor {
  private config: AttestorConfig | undefined;
  private tenantIdOf: ((domain: string) => Promise<string>) | undefined;
  private clients = new Map<string, azure.ArmClient>();
  readonly tofu: TofuGuard;
  private readonly fetchIntermediate: IntermediateFetcher;

  constructor(private readonly opts: AzureImdsServerOptions = {}) {
    this.fetchIntermediate = opts.fetchIntermediate ?? cachingFetcher(parseCert);
    this.tofu = new TofuGuard('azure_imds', opts.log);
    if (opts.attested) this.tofu.useLookup(opts.attested);
  }

  configure(config: AttestorConfig): void {
    const tenantIdOf = tenantIdLookup(config.authorityHost);
    const copts: ClientOptions = {};
    if (this.opts.env) Object.assign(copts, { env: this.opts.env });
    if (this.opts.azureTimeoutMs) Object.assign(copts, { timeoutMs: this.opts.azureTimeoutMs });
    const clients = new Map<string, azure.ArmClient>();
    for (const [domain, tenant] of config.tenants) {
      const id = (): Promise<string> => (tenant.tenantId ? Promise.resolve(tenant.tenantId) : tenantIdOf(domain));
      clients.set(domain, tenantClient(config, tenant, id, copts));
    }
    this.clients = clients;
    this.config = config;
    this.tenantIdOf = tenantIdOf;
  }

  /** The Resource Manager client of a configured tenant domain (tests inspect it). */
  clientOf(domain: string): azure.ArmClient | undefined {
    return this.clients.get(domain);
  }

  async attest(next: () => Promise<Msg | undefined>, sendChallenge: (nonce: string) => void): Promise<AttestationResult> {
    const config = this.config;
    const tenantIdOf = this.tenantIdOf;
    if (!config || !tenantIdOf) throw PluginError.failedPrecondition('not configured');
    const first = await next();
    if (!first || first.request !== 'payload' || !first.payload || first.payload.length === 0) throw PluginError.invalidArgument('missing attestation payload');
    const nonce = newNonce();
    sendChallenge(nonce);
    const answer = await next();
    if (!answer || answer.request !== 'challenge_response') throw PluginError.invalidArgument('missing attestation payload: the agent did not answer the nonce challenge');
    const doc = await attestDocument(config, { fetchIntermediate: this.fetchIntermediate, tenantIdOf }, nonce, answer.challenge_response ?? undefined);
    const arm = this.clients.get(doc.tenant.domain);
    if (!arm) throw PluginError.internal(`no Resource Manager client for tenant ${JSON.stringify(doc.tenant.domain)}`);
    return this.tofu.guard(doc.spiffeId, async () => ({ spiffeId: doc.spiffeId, selectorValues: await resolveSelectors(arm, doc.tenant, doc) }));
  }
}

/** The server NodeAttestor `azure_imds` (SPIRE's `tenants`, `agent_path_template`, `allowed_metadata_domains`, `trust_bundle_path`). */
export function azureImdsServerPlugin(opts: AzureImdsServerOptions = {}): PluginDefinition<typeof SERVER_NODE_ATTESTOR_SERVICE, BuiltConfig<RawConfig>> {
  const attestor = new AzureImdsServerAttestor(opts);
  const impl: Impl = {
    Attest: (call: Call) => {
      const next = reader(call);
      answerAttestation(call, () => attestor.attest(next, (nonce) => call.write({ challenge: Buffer.from(nonce, 'utf8') })), {
        onError: (err) => opts.log?.warn('azure_imds attestation refused', { error: err instanceof Error ? err.message : String(err) }),
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
