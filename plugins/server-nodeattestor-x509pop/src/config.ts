/**
 * The server x509pop `plugin_data`, SPIRE's keys: `mode` (external_pki |
 * spiffe), `ca_bundle_path` / `ca_bundle_paths`, `agent_path_template`,
 * `spiffe_prefix` (or `svid_prefix`, as SPIRE's docs call it), `max_intermediates` (4), `max_rsa_key_size` (8192),
 * `verify_client_ip`. `mode = "spiffe"` validates against the server's own
 * bundle through SPIRE's IdentityProvider host service, which this server
 * does not offer yet: it is refused with a message saying so.
 */
import { readFileSync } from 'node:fs';
import { parseCertificate, pemDecode, type Certificate } from '@spire-ts/common';
import { PluginError, s, type Infer } from '@spire-ts/plugin-sdk';
import { AgentPathTemplate, DEFAULT_TEMPLATE_EXTERNAL_PKI, DEFAULT_TEMPLATE_SPIFFE, TemplateError } from './template.js';

export const configSchema = s.object({
  mode: s.string({ default: '' }),
  spiffe_prefix: s.string(),
  /** The name SPIRE's documentation gives `spiffe_prefix` (its code reads `spiffe_prefix`; both are accepted). */
  svid_prefix: s.string(),
  ca_bundle_path: s.string({ default: '' }),
  ca_bundle_paths: s.list(s.string(), { default: [] }),
  agent_path_template: s.string({ default: '' }),
  max_intermediates: s.int(),
  max_rsa_key_size: s.int(),
  verify_client_ip: s.bool({ default: false }),
});
export type RawConfig = Infer<typeof configSchema>;

export interface X509PopConfig {
  readonly trustDomain: string;
  readonly mode: 'external_pki' | 'spiffe';
  readonly svidPrefix: string;
  readonly roots: readonly Certificate[];
  readonly pathTemplate: AgentPathTemplate;
  readonly maxIntermediates: number;
  readonly maxRsaKeySize: number;
  readonly verifyClientIp: boolean;
}

const MAX_BUNDLE_BYTES = 4 << 20;

function loadBundle(path: string): Certificate[] {
  let text: string;
  try {
    const data = readFileSync(path);
    if (data.length > MAX_BUNDLE_BYTES) throw new Error(`file is ${data.length} bytes, larger than ${MAX_BUNDLE_BYTES}`);
    text = data.toString('utf8');
  } catch (err) {
    throw new Error(`unable to load trust bundle "${path}": ${(err as Error).message}`);
  }
  let blocks: Uint8Array[];
  try {
    blocks = pemDecode(text, 'CERTIFICATE');
  } catch (err) {
    throw new Error(`unable to load trust bundle "${path}": ${(err as Error).message}`);
  }
  if (blocks.length === 0) throw new Error(`unable to load trust bundle "${path}": no CERTIFICATE PEM block found`);
  return blocks.map((der, i) => {
    try {
      return parseCertificate(der);
    } catch (err) {
      throw new Error(`unable to load trust bundle "${path}": certificate ${i}: ${(err as Error).message}`);
    }
  });
}

/** Builds the configuration; throws INVALID_ARGUMENT listing every problem (as SPIRE's pluginconf). */
export function buildX509PopConfig(raw: RawConfig, trustDomain: string): X509PopConfig {
  const problems: string[] = [];
  const mode = raw.mode === '' ? 'external_pki' : raw.mode;
  if (mode !== 'external_pki' && mode !== 'spiffe') throw PluginError.invalidArgument('mode can only be either spiffe or external_pki');
  const roots: Certificate[] = [];
  if (mode === 'external_pki') {
    if (raw.ca_bundle_path !== '' && raw.ca_bundle_paths.length > 0) problems.push('only one of ca_bundle_path or ca_bundle_paths can be configured, not both');
    const paths = raw.ca_bundle_path !== '' ? [raw.ca_bundle_path] : raw.ca_bundle_paths;
    if (paths.length === 0) problems.push('one of ca_bundle_path or ca_bundle_paths must be configured');
    for (const p of paths) {
      try {
        roots.push(...loadBundle(p));
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
  }
  if (mode === 'spiffe') {
    if (raw.ca_bundle_path !== '' || raw.ca_bundle_paths.length > 0) problems.push('you can not use ca_bundle_path or ca_bundle_paths in spiffe mode');
    problems.push('mode "spiffe" needs the IdentityProvider host service, which this server does not offer yet; use mode "external_pki" with ca_bundle_path');
  }
  let pathTemplate: AgentPathTemplate | undefined;
  try {
    pathTemplate = AgentPathTemplate.parse(raw.agent_path_template !== '' ? raw.agent_path_template : mode === 'spiffe' ? DEFAULT_TEMPLATE_SPIFFE : DEFAULT_TEMPLATE_EXTERNAL_PKI);
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    problems.push(`failed to parse agent svid template: ${JSON.stringify(raw.agent_path_template)}: ${err.message}`);
  }
  if (raw.spiffe_prefix !== undefined && raw.svid_prefix !== undefined) problems.push('only one of spiffe_prefix or svid_prefix can be configured, not both');
  let svidPrefix = raw.spiffe_prefix ?? raw.svid_prefix ?? '/spire-exchange/';
  if (!svidPrefix.endsWith('/')) svidPrefix += '/';
  if (raw.max_intermediates !== undefined && raw.max_intermediates <= 0) problems.push('max_intermediates must be greater than 0');
  if (raw.max_rsa_key_size !== undefined && raw.max_rsa_key_size <= 0) problems.push('max_rsa_key_size must be greater than 0');
  if (problems.length > 0 || !pathTemplate) throw PluginError.invalidArgument(problems.join('; '));
  return {
    trustDomain,
    mode,
    svidPrefix,
    roots,
    pathTemplate,
    maxIntermediates: raw.max_intermediates ?? 4,
    maxRsaKeySize: raw.max_rsa_key_size ?? 8192,
    verifyClientIp: raw.verify_client_ip,
  };
}
