/**
 * azure_msi's `agent_path_template` fields (SPIRE's names: the plugin name
 * and the token's claims) over the shared engine.
 */
import { PathTemplate, type TemplateSpec } from '@spire-ts/nodeattestor-kit';

export { TemplateError, validateAgentPath } from '@spire-ts/nodeattestor-kit';

/** The data a template can read. */
export interface AgentPathData {
  readonly PluginName: string;
  readonly TenantID: string;
  readonly PrincipalID: string;
  readonly Subject: string;
  readonly Issuer: string;
}

const SPEC: TemplateSpec<AgentPathData> = {
  fields: {
    PluginName: (d) => d.PluginName,
    TenantID: (d) => d.TenantID,
    PrincipalID: (d) => d.PrincipalID,
    Subject: (d) => d.Subject,
    Issuer: (d) => d.Issuer,
  },
};

export const DEFAULT_AGENT_PATH_TEMPLATE = '/{{ .PluginName }}/{{ .TenantID }}/{{ .PrincipalID }}';

/** A parsed agent path template. */
export class AgentPathTemplate extends PathTemplate<AgentPathData> {
  static parse(source: string): AgentPathTemplate {
    return new AgentPathTemplate(source, SPEC);
  }
}
