/**
 * The server NodeAttestor `aws_iid`: verifies the agent's EC2 instance
 * identity document (RSA-2048 PKCS#7 signature by AWS's certificate for the
 * document's region), checks the organization's account list, asks EC2 for
 * the instance (root device anti-tampering check, tags for the agent path,
 * selectors) and IAM for the instance profile's roles, refuses an instance
 * that already attested (trust on first use), and answers SPIRE's agent ID
 * and selectors.
 *
 * Trust on first use: SPIRE asks the server's AgentStore host service
 * whether the agent ID is already attested. Our server does not offer that
 * host service yet, so this plugin remembers the agent IDs it attested in
 * its own memory: a server (or plugin) restart forgets them, and an agent
 * evicted from the server cannot re-attest until then. With an AgentStore
 * host service (`spire.hostservice.server.agentstore.v1.AgentStore/GetAgentInfo`)
 * the check would be the datastore's, as SPIRE's.
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
import { answerAttestation, firstPayload } from '@spire-ts/nodeattestor-kit';
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
}

export interface AttestResult {
  spiffeId: string;
  selectorValues: string[];
}

/** The attestation logic, independent of the transport. */
export class AwsIidAttestor {
  private config: AttestorConfig | undefined;
  private clients: AwsClients | undefined;
  /** Agent IDs attested by this process (see the module comment); in-flight ones included. */
  private readonly attested = new Set<string>();

  constructor(private readonly opts: AwsIidServerOptions = {}) {}

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
    if (this.attested.has(spiffeId)) {
      this.opts.log?.error('Attestation data has already been used to attest an agent', { spiffe_id: spiffeId });
      throw denied('attestation data has already been used to attest an agent');
    }
    // Claimed now, so a concurrent attestation of the same instance is refused too.
    this.attested.add(spiffeId);
    try {
      const selectorValues = await this.selectors(config, clients, doc, instances);
      return { spiffeId, selectorValues };
    } catch (err) {
      this.attested.delete(spiffeId);
      throw err;
    }
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
    config: schemaConfig(configSchema, {
      requireTrustDomain: true,
      // Cross-field checks and file loading also run on Validate, so it reports what Configure would refuse.
      check: (value, input) => void buildAttestorConfig(value, input.trustDomain, opts.env ?? process.env),
      apply: ({ value, trustDomain }) => attestor.configure(value, trustDomain),
    }),
  };
}
