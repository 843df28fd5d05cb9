/**
 * x509pop's `agent_path_template` fields (SPIRE's names) over the shared
 * engine: certificate fields (`{{ .Fingerprint }}`,
 * `{{ .Subject.CommonName }}`) and the URI SAN selectors
 * (`{{ .URISanSelectors.key }}`, `{{ index .URISanSelectors "key" }}`); a
 * missing SAN key fails the attestation (SPIRE's missingkey=error).
 */
import { PathTemplate, type TemplateSpec } from '@spire-ts/nodeattestor-kit';

export { TemplateError } from '@spire-ts/nodeattestor-kit';

export interface X509PopPathData {
  readonly PluginName: string;
  readonly TrustDomain: string;
  readonly Fingerprint: string;
  readonly SerialNumberHex: string;
  readonly SVIDPathTrimmed: string;
  readonly Subject: { readonly CommonName: string; readonly SerialNumber: string };
  readonly URISanSelectors: Readonly<Record<string, string>>;
}

const SPEC: TemplateSpec<X509PopPathData> = {
  fields: {
    PluginName: (d) => d.PluginName,
    TrustDomain: (d) => d.TrustDomain,
    Fingerprint: (d) => d.Fingerprint,
    SerialNumberHex: (d) => d.SerialNumberHex,
    SVIDPathTrimmed: (d) => d.SVIDPathTrimmed,
    'Subject.CommonName': (d) => d.Subject.CommonName,
    'Subject.SerialNumber': (d) => d.Subject.SerialNumber,
  },
  map: { name: 'URISanSelectors', get: (d) => d.URISanSelectors, missing: (key) => `map has no entry for key "${key}" (URISanSelectors)` },
};

export class AgentPathTemplate extends PathTemplate<X509PopPathData> {
  static parse(source: string): AgentPathTemplate {
    return new AgentPathTemplate(source, SPEC);
  }
}

/** SPIRE's defaults: by fingerprint (external_pki) or by the SVID path (spiffe). */
export const DEFAULT_TEMPLATE_EXTERNAL_PKI = '/{{ .PluginName }}/{{ .Fingerprint }}';
export const DEFAULT_TEMPLATE_SPIFFE = '/{{ .PluginName }}/{{ .SVIDPathTrimmed }}';
