/**
 * The server NodeAttestor `aws_iid`: verifies the agent's EC2 instance
 * identity document (RSA-2048 PKCS#7 signature by AWS's certificate for the
 * document's region), checks the organization's account list, asks EC2 for
 * the instance (root device anti-tampering check, tags for the agent path,
 * selectors) and IAM for the instance profile's roles, refuses an instance
 * that already attested (trust on first use), and answers SPIRE's agent ID
 * and selectors.
 *
 * Trust on first use, as SPIRE's: the server's AgentStore host service
 * (`spire.hostservice.server.agentstore.v1.AgentStore/GetAgentInfo`) says
 * whether the agent ID is attested; an evicted agent may attest again.
 */
import type { Instance } from '@aws-sdk/client-ec2';
import {
  PluginError,
  schemaConfig,
  type BuiltConfig,
  type Logger,
  type PluginDefinition,
  type ServiceImpl,
} from '@spire-ts/plugin-sdk';
import { AGENT_STORE_SERVICE, TofuGuard, answerAttestation, firstPayload, type AttestedLookup } from '@spire-ts/nodeattestor-kit';
import { AwsClients, blockDeviceProblem, instanceProfileName } from './aws-client.js';
import { buildAttestorConfig, configSchema, type AttestorConfig, type RawConfig } from './config.js';
import { denied, parsePayload, verifyIdentityDocument, type InstanceIdentityDocument } from './iid.js';
import { AccountListError } from './org.js';
import { TemplateError, validateAgentPath } from './template.js';

export const NODE_ATTESTOR_SERVICE = 'spire.plugin.server.nodeattestor.v1.NodeAttestor';
export const PLUGIN_NAME = 'aws_iid';

type Impl = ServiceImpl<typeof NODE_ATTESTOR_SERVICE>;
type AttestCall = Parameters<NonNullable<Impl['Attest']>>[0];

export interface AwsIidServerOptions {
  log?: Logger;
  /** Environment for AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Answers "is this agent ID attested?" without the AgentStore host service (in-process hosts, tests). */
  attested?: AttestedLookup;
}

export interface AttestResult {
  spiffeId: string;
  selectorValues: string[];
}

/** The attestation logic, independent of the transport. */
export class AwsIidAttestor {
  private config: AttestorConfig | undefined;
  private clients: AwsClients | undefined;
  readonly tofu: TofuGuard;

  constructor(private readonly opts: AwsIidServerOptions = {}) {
    this.tofu = new TofuGuard(PLUGIN_NAME, opts.log);
    if (opts.attested) this.tofu.useLookup(opts.attested);
  }

  configure(raw: RawConfig, trustDomain: string): void {
    const config = buildAttestorConfig(raw, trustDomain, this.opts.env ?? process.env);
    this.clients?.close();
    this.config = config;
    this.clients = new AwsClients(config);
  }

  async attest(payload: Uint8Array): Promise<AttestResult> {
    const config = this.config;
    const clients = this.clients;
    if (!config || !clients) throw PluginError.failedPrecondition('not configured');
    const doc = verifyIdentityDocument(parsePayload(payload), config.certs);

    if (config.orgAccounts) {
      let member: boolean;
      try {
        member = config.orgAccounts.isMember(doc.accountId);
      } catch (err) {
        if (err instanceof AccountListError) throw PluginError.internal(`failed aws ec2 attestation: ${err.message}`, err);
        throw err;
      }
      if (!member) {
        throw denied(`failed aws ec2 attestation, account ${doc.accountId} is not in the organization's account list (verify_organization.account_list_file)`);
      }
    }

    const instances = await clients.describeInstance(doc.region, doc.instanceId);
    const checkBlockDevice = !config.localValidAccounts.has(doc.accountId) && !config.skipBlockDevice;
    let tags: Record<string, string> = {};
    if (config.pathTemplate.usesTags || checkBlockDevice) {
      const instance = instances[0];
      if (!instance) {
        throw PluginError.internal(`failed to query AWS via describe-instances: instance ${doc.instanceId} is not pending or running in ${doc.region}`);
      }
      tags = tagsOf(instance);
      if (checkBlockDevice) {
        const problem = blockDeviceProblem(instance);
        if (problem) throw PluginError.internal(`failed aws ec2 attestation: ${problem}`);
      }
    }

    const spiffeId = this.agentId(config, doc, tags);
    return this.tofu.guard(spiffeId, async () => ({ spiffeId, selectorValues: await this.selectors(config, clients, doc, instances) }));
  }

  private agentId(config: AttestorConfig, doc: InstanceIdentityDocument, tags: Record<string, string>): string {
    let path: string;
    try {
      path = config.pathTemplate.execute({
        PluginName: PLUGIN_NAME,
        TrustDomain: config.trustDomain,
        AccountID: doc.accountId,
        Region: doc.region,
        InstanceID: doc.instanceId,
        Tags: tags,
      });
    } catch (err) {
      if (err instanceof TemplateError) throw PluginError.internal(`failed to create spiffe ID: ${err.message}`);
      throw err;
    }
    const problem = validateAgentPath(path);
    if (problem) throw PluginError.internal(`failed to create spiffe ID: invalid agent path suffix ${JSON.stringify(path)}: ${problem}`);
    return `spiffe://${config.trustDomain}/spire/agent${path}`;
  }

  private async selectors(config: AttestorConfig, clients: AwsClients, doc: InstanceIdentityDocument, instances: Instance[]): Promise<string[]> {
    const set = new Set<string>();
    for (const instance of instances) {
      for (const t of instance.Tags ?? []) set.add(`tag:${t.Key ?? ''}:${t.Value ?? ''}`);
      for (const sg of instance.SecurityGroups ?? []) {
        set.add(`sg:id:${sg.GroupId ?? ''}`);
        set.add(`sg:name:${sg.GroupName ?? ''}`);
      }
      const arn = instance.IamInstanceProfile?.Arn;
      if (!config.disableInstanceProfileSelectors && arn) {
        for (const role of await clients.instanceProfileRoles(doc.region, instanceProfileName(arn))) set.add(`iamrole:${role}`);
      }
    }
    set.add(`account_id:${doc.accountId}`);
    set.add(`image:id:${doc.imageId}`);
    set.add(`instance:id:${doc.instanceId}`);
    set.add(`region:${doc.region}`);
    set.add(`az:${doc.availabilityZone}`);
    return [...set].sort();
  }

  close(): void {
    this.clients?.close();
    this.tofu.close();
  }
}

function tagsOf(instance: Instance): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const t of instance.Tags ?? []) if (t.Key !== undefined && t.Value !== undefined) tags[t.Key] = t.Value;
  return tags;
}

/**
 * The server NodeAttestor `aws_iid` plugin (SPIRE's `plugin_data` keys,
 * agent path template and selectors).
 */
export function awsIidServerPlugin(opts: AwsIidServerOptions = {}): PluginDefinition<typeof NODE_ATTESTOR_SERVICE, BuiltConfig<RawConfig>> {
  const attestor = new AwsIidAttestor(opts);
  const impl: Impl = {
    Attest: (call: AttestCall) => {
      answerAttestation(call, async () => attestor.attest(await firstPayload(call)), {
        onError: (err) => {
          if (!(err instanceof PluginError)) opts.log?.error('aws_iid attestation failed', { error: (err as Error).message });
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
      // Cross-field checks and file loading also run on Validate, so it reports what Configure would refuse.
      check: (value, input) => void buildAttestorConfig(value, input.trustDomain, opts.env ?? process.env),
      apply: ({ value, trustDomain }) => attestor.configure(value, trustDomain),
    }),
  };
}
