/**
 * azure_imds's `agent_path_template` fields (SPIRE's names: the plugin name
 * and the attested document's) over the shared engine.
 */
import { PathTemplate, type TemplateSpec } from '@spire-ts/nodeattestor-kit';

export { TemplateError, validateAgentPath } from '@spire-ts/nodeattestor-kit';

/** The data a template can read. */
export interface AgentPathData {
  readonly PluginName: string;
  readonly TenantID: string;
  readonly SubscriptionID: string;
  readonly VMID: string;
}

const SPEC: TemplateSpec<AgentPathData> = {
  fields: {
    PluginName: (d) => d.PluginName,
    TenantID: (d) => d.TenantID,
    SubscriptionID: (d) => d.SubscriptionID,
    VMID: (d) => d.VMID,
  },
};

export const DEFAULT_AGENT_PATH_TEMPLATE = '/{{ .PluginName }}/{{ .TenantID }}/{{ .SubscriptionID }}/{{ .VMID }}';

/** A parsed agent path template. */
export class AgentPathTemplate extends PathTemplate<AgentPathData> {
  static parse(source: string): AgentPathTemplate {
    return new AgentPathTemplate(source, SPEC);
  }
}
