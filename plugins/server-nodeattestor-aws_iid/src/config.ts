/**
 * The server aws_iid `plugin_data`: SPIRE's keys (access_key_id,
 * secret_access_key, skip_block_device, disable_instance_profile_selectors,
 * account_ids_for_local_validation, agent_path_template, assume_role,
 * partition, verify_organization, validate_eks_cluster_membership) plus
 * three of ours, clearly not SPIRE's: `aws_ca_cert_paths` (region → PEM
 * file of extra certificates trusted for that region's RSA-2048
 * signatures), `ec2_endpoint` and `iam_endpoint` (AWS API endpoints).
 */
import { PluginError, s, type Infer } from '@spire-ts/plugin-sdk';
import { AccountListFile, AccountListError } from './org.js';
import { AgentPathTemplate, DEFAULT_AGENT_PATH_TEMPLATE, TemplateError } from './template.js';
import { RegionCertificates } from './iid.js';

export const PARTITIONS = ['aws', 'aws-cn', 'aws-us-gov'] as const;

const url = (v: string) => {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:' ? undefined : 'must be an http(s) URL';
  } catch {
    return 'must be an http(s) URL';
  }
};

export const configSchema = s.object({
  access_key_id: s.string({ default: '' }),
  secret_access_key: s.string({ default: '' }),
  skip_block_device: s.bool({ default: false }),
  disable_instance_profile_selectors: s.bool({ default: false }),
  account_ids_for_local_validation: s.list(s.string({ pattern: /\d{12}/ }), { default: [] }),
  agent_path_template: s.string({ default: '' }),
  assume_role: s.string({ default: '' }),
  partition: s.string({ default: '' }),
  verify_organization: s.object({
    management_account_id: s.string({ default: '' }),
    management_account_region: s.string({ default: '' }),
    assume_org_role: s.string({ default: '' }),
    org_account_map_ttl: s.duration({ default: '3m', min: '1m' }),
    account_list_file: s.string({ default: '' }),
  }),
  validate_eks_cluster_membership: s.object({
    eks_cluster_names: s.list(s.string(), { default: [] }),
  }),
  aws_ca_cert_paths: s.map(s.string({ nonEmpty: true }), { default: {} }),
  ec2_endpoint: s.string({ default: '', check: (v) => (v === '' ? undefined : url(v)) }),
  iam_endpoint: s.string({ default: '', check: (v) => (v === '' ? undefined : url(v)) }),
});

export type RawConfig = Infer<typeof configSchema>;

/** The configuration the attestor runs with. */
export interface AttestorConfig {
  readonly trustDomain: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly skipBlockDevice: boolean;
  readonly disableInstanceProfileSelectors: boolean;
  readonly localValidAccounts: ReadonlySet<string>;
  readonly pathTemplate: AgentPathTemplate;
  readonly partition: string;
  readonly orgAccounts: AccountListFile | undefined;
  readonly certs: RegionCertificates;
  readonly ec2Endpoint: string;
  readonly iamEndpoint: string;
}

/** Cross-field checks and derived state; `env` supplies AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. */
export function buildAttestorConfig(raw: RawConfig, trustDomain: string, env: NodeJS.ProcessEnv): AttestorConfig {
  if (!trustDomain) throw PluginError.invalidArgument('core configuration is missing the trust domain');
  const accessKeyId = raw.access_key_id || (env.AWS_ACCESS_KEY_ID ?? '');
  const secretAccessKey = raw.secret_access_key || (env.AWS_SECRET_ACCESS_KEY ?? '');
  if (accessKeyId && !secretAccessKey) throw PluginError.invalidArgument('configuration missing secret access key, but has access key id');
  if (!accessKeyId && secretAccessKey) throw PluginError.invalidArgument('configuration missing access key id, but has secret access key');
  if (raw.assume_role) {
    throw PluginError.invalidArgument('assume_role is not supported by this aws_iid server plugin yet: give the server credentials for the agents\' accounts directly');
  }
  if (raw.validate_eks_cluster_membership) {
    throw PluginError.invalidArgument('validate_eks_cluster_membership is not supported by this aws_iid server plugin yet: remove the block');
  }
  const partition = raw.partition || 'aws';
  if (!(PARTITIONS as readonly string[]).includes(partition)) {
    throw PluginError.invalidArgument(`invalid partition ${JSON.stringify(partition)}, must be one of: ${PARTITIONS.join(', ')}`);
  }
  let pathTemplate: AgentPathTemplate;
  try {
    pathTemplate = AgentPathTemplate.parse(raw.agent_path_template || DEFAULT_AGENT_PATH_TEMPLATE);
  } catch (err) {
    if (err instanceof TemplateError) throw PluginError.invalidArgument(`failed to parse agent_path_template ${JSON.stringify(raw.agent_path_template)}: ${err.message}`);
    throw err;
  }
  let orgAccounts: AccountListFile | undefined;
  const org = raw.verify_organization;
  if (org) {
    if (org.account_list_file) {
      if (org.management_account_id || org.assume_org_role) {
        throw PluginError.invalidArgument('"account_list_file" is mutually exclusive with "management_account_id" and "assume_org_role" in the block: "verify_organization"');
      }
      try {
        orgAccounts = new AccountListFile(org.account_list_file, org.org_account_map_ttl);
      } catch (err) {
        if (err instanceof AccountListError) throw PluginError.invalidArgument(`invalid "account_list_file" in the block "verify_organization": ${err.message}`);
        throw err;
      }
    } else if (org.management_account_id || org.assume_org_role) {
      throw PluginError.invalidArgument(
        'verify_organization through the AWS Organizations API (management_account_id, assume_org_role) is not supported by this aws_iid server plugin yet: use "account_list_file"',
      );
    } else {
      throw PluginError.invalidArgument('verify_organization needs "account_list_file" (or remove the block)');
    }
  }
  return {
    trustDomain,
    accessKeyId,
    secretAccessKey,
    skipBlockDevice: raw.skip_block_device,
    disableInstanceProfileSelectors: raw.disable_instance_profile_selectors,
    localValidAccounts: new Set(raw.account_ids_for_local_validation),
    pathTemplate,
    partition,
    orgAccounts,
    certs: RegionCertificates.load(raw.aws_ca_cert_paths),
    ec2Endpoint: raw.ec2_endpoint,
    iamEndpoint: raw.iam_endpoint,
  };
}
