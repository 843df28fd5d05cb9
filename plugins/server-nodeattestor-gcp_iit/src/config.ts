/**
 * The server gcp_iit `plugin_data`: SPIRE's keys (projectid_allow_list,
 * use_instance_metadata, service_account_file, allowed_label_keys,
 * allowed_metadata_keys, max_metadata_value_size, agent_path_template) plus
 * two of ours, clearly not SPIRE's: `google_certs_url`, where Google's token
 * signing certificates are fetched (default SPIRE's fixed
 * https://www.googleapis.com/oauth2/v1/certs), and `compute_api_url`, the
 * Compute Engine API behind `use_instance_metadata` (default
 * https://compute.googleapis.com/compute/v1/); tests point them at fakes.
 */
import { PluginError, s, type Infer } from '@spire-ts/plugin-sdk';
import { GOOGLE_CERTS_URL } from './certs.js';
import { COMPUTE_API_URL, ComputeError, readServiceAccountFile } from './compute.js';
import { AgentPathTemplate, DEFAULT_AGENT_PATH_TEMPLATE, TemplateError } from './template.js';

const httpUrl = (v: string): string | undefined => {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:' ? undefined : 'must be an http(s) URL';
  } catch {
    return 'must be an http(s) URL';
  }
};

export const configSchema = s.object({
  projectid_allow_list: s.list(s.string({ nonEmpty: true }), { default: [] }),
  use_instance_metadata: s.bool({ default: false }),
  service_account_file: s.string({ default: '' }),
  allowed_label_keys: s.list(s.string(), { default: [] }),
  allowed_metadata_keys: s.list(s.string(), { default: [] }),
  max_metadata_value_size: s.int({ min: 0, default: 0 }),
  agent_path_template: s.string({ default: '' }),
  google_certs_url: s.string({ default: '', check: (v) => (v === '' ? undefined : httpUrl(v)) }),
  compute_api_url: s.string({ default: '', check: (v) => (v === '' ? undefined : httpUrl(v)) }),
});

/** SPIRE's default `max_metadata_value_size`. */
export const DEFAULT_MAX_METADATA_VALUE_SIZE = 128;

export type RawConfig = Infer<typeof configSchema>;

/** The configuration the attestor runs with. */
export interface AttestorConfig {
  readonly trustDomain: string;
  readonly projectIds: ReadonlySet<string>;
  readonly pathTemplate: AgentPathTemplate;
  readonly certsUrl: string;
  /** With `use_instance_metadata`: where and how the instance is fetched, and which of its keys become selectors. */
  readonly instanceMetadata?: {
    readonly computeApiUrl: string;
    readonly serviceAccountFile: string;
    readonly allowedLabelKeys: ReadonlySet<string>;
    readonly allowedMetadataKeys: ReadonlySet<string>;
    readonly maxMetadataValueSize: number;
  };
}

/** Cross-field checks and derived state. */
export function buildAttestorConfig(raw: RawConfig, trustDomain: string): AttestorConfig {
  if (!trustDomain) throw PluginError.invalidArgument('core configuration is missing the trust domain');
  if (raw.projectid_allow_list.length === 0) throw PluginError.invalidArgument('projectid_allow_list is required');
  if (raw.use_instance_metadata && raw.service_account_file) {
    // Read now, so a missing or malformed key file stops Configure, not every attestation.
    try {
      readServiceAccountFile(raw.service_account_file);
    } catch (err) {
      if (err instanceof ComputeError) throw PluginError.invalidArgument(`service_account_file: ${err.message}`);
      throw err;
    }
  }
  let pathTemplate: AgentPathTemplate;
  try {
    pathTemplate = AgentPathTemplate.parse(raw.agent_path_template || DEFAULT_AGENT_PATH_TEMPLATE);
  } catch (err) {
    if (err instanceof TemplateError) throw PluginError.invalidArgument(`failed to parse agent path template: ${JSON.stringify(raw.agent_path_template)}: ${err.message}`);
    throw err;
  }
  return {
    trustDomain,
    projectIds: new Set(raw.projectid_allow_list),
    pathTemplate,
    certsUrl: raw.google_certs_url || GOOGLE_CERTS_URL,
    ...(raw.use_instance_metadata
      ? {
          instanceMetadata: {
            computeApiUrl: raw.compute_api_url || COMPUTE_API_URL,
            serviceAccountFile: raw.service_account_file,
            allowedLabelKeys: new Set(raw.allowed_label_keys),
            allowedMetadataKeys: new Set(raw.allowed_metadata_keys),
            maxMetadataValueSize: raw.max_metadata_value_size || DEFAULT_MAX_METADATA_VALUE_SIZE,
          },
        }
      : {}),
  };
}
