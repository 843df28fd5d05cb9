/**
 * aws_iid's `agent_path_template` fields (SPIRE's names) over the shared
 * engine: the instance's identity fields and its EC2 tags
 * (`{{ .Tags.Name }}`, `{{ index .Tags "name" }}`).
 */
import { PathTemplate, type TemplateSpec } from '@spire-ts/nodeattestor-kit';

export { TemplateError, validateAgentPath } from '@spire-ts/nodeattestor-kit';

/** The data a template can read (SPIRE's field names). */
export interface AgentPathData {
  readonly PluginName: string;
  readonly TrustDomain: string;
  readonly AccountID: string;
  readonly Region: string;
  readonly InstanceID: string;
  readonly Tags: Readonly<Record<string, string>>;
}

const SPEC: TemplateSpec<AgentPathData> = {
  fields: {
    PluginName: (d) => d.PluginName,
    TrustDomain: (d) => d.TrustDomain,
    AccountID: (d) => d.AccountID,
    Region: (d) => d.Region,
    InstanceID: (d) => d.InstanceID,
  },
  map: { name: 'Tags', get: (d) => d.Tags, missing: (key) => `the instance has no tag ${JSON.stringify(key)}` },
};

export const DEFAULT_AGENT_PATH_TEMPLATE = '/{{ .PluginName}}/{{ .AccountID }}/{{ .Region }}/{{ .InstanceID }}';

/** A parsed agent path template. */
export class AgentPathTemplate extends PathTemplate<AgentPathData> {
  static parse(source: string): AgentPathTemplate {
    return new AgentPathTemplate(source, SPEC);
  }

  /** Whether the template reads instance tags (then EC2 must be asked before the agent ID is known). */
  get usesTags(): boolean {
    return this.usesMap;
  }
}
