/**
 * gcp_iit's `agent_path_template` fields (SPIRE's names) over the shared
 * engine: one field per action (`{{ .ProjectID }}`).
 */
import { PathTemplate, type TemplateSpec } from '@spire-ts/nodeattestor-kit';

export { TemplateError, validateAgentPath } from '@spire-ts/nodeattestor-kit';

/** The data a template can read (SPIRE's field names for gcp_iit). */
export interface AgentPathData {
  readonly PluginName: string;
  readonly ProjectID: string;
  readonly ProjectNumber: string;
  readonly Zone: string;
  readonly InstanceID: string;
  readonly InstanceName: string;
  readonly InstanceCreationTimestamp: string;
  /** The service account email with "@" replaced by "_". */
  readonly ServiceAccount: string;
}

export const TEMPLATE_FIELDS: readonly (keyof AgentPathData)[] = [
  'PluginName',
  'ProjectID',
  'ProjectNumber',
  'Zone',
  'InstanceID',
  'InstanceName',
  'InstanceCreationTimestamp',
  'ServiceAccount',
];

const SPEC: TemplateSpec<AgentPathData> = {
  fields: Object.fromEntries(TEMPLATE_FIELDS.map((f) => [f, (d: AgentPathData) => d[f]])),
  usage: `one of ${TEMPLATE_FIELDS.map((f) => `{{ .${f} }}`).join(', ')}`,
};

export const DEFAULT_AGENT_PATH_TEMPLATE = '/{{ .PluginName }}/{{ .ProjectID }}/{{ .InstanceID }}';

/** A parsed agent path template. */
export class AgentPathTemplate extends PathTemplate<AgentPathData> {
  static parse(source: string): AgentPathTemplate {
    return new AgentPathTemplate(source, SPEC);
  }
}
