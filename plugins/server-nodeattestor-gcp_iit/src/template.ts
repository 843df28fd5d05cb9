/**
 * `agent_path_template`: the subset of Go's text/template SPIRE's gcp_iit
 * agent path templates use — literal text and actions printing one field
 * (`{{ .ProjectID }}`), with optional `{{-`/`-}}` trimming. Anything else
 * is refused when the configuration is loaded, naming the action.
 */

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

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

type Part = { kind: 'text'; text: string } | { kind: 'field'; name: keyof AgentPathData };

export const DEFAULT_AGENT_PATH_TEMPLATE = '/{{ .PluginName }}/{{ .ProjectID }}/{{ .InstanceID }}';

function parseAction(action: string, whole: string): Part {
  const field = /^\.([A-Za-z][A-Za-z0-9]*)$/.exec(action);
  const name = field?.[1];
  if (name !== undefined && (TEMPLATE_FIELDS as readonly string[]).includes(name)) return { kind: 'field', name: name as keyof AgentPathData };
  throw new TemplateError(`unsupported action ${JSON.stringify(whole)}: use one of ${TEMPLATE_FIELDS.map((f) => `{{ .${f} }}`).join(', ')}`);
}

/** A parsed agent path template. */
export class AgentPathTemplate {
  private constructor(
    readonly source: string,
    private readonly parts: readonly Part[],
  ) {}

  static parse(source: string): AgentPathTemplate {
    const parts: Part[] = [];
    let rest = source;
    while (rest.length > 0) {
      const open = rest.indexOf('{{');
      if (open === -1) {
        if (rest.includes('}}')) throw new TemplateError('unexpected "}}" outside an action');
        parts.push({ kind: 'text', text: rest });
        break;
      }
      let text = rest.slice(0, open);
      const close = rest.indexOf('}}', open + 2);
      if (close === -1) throw new TemplateError(`unclosed action at offset ${source.length - rest.length + open}`);
      let inner = rest.slice(open + 2, close);
      const whole = rest.slice(open, close + 2);
      rest = rest.slice(close + 2);
      if (/^-\s/.test(inner)) {
        inner = inner.slice(1);
        text = text.replace(/\s+$/, '');
      }
      if (/\s-$/.test(inner)) {
        inner = inner.slice(0, -1);
        rest = rest.replace(/^\s+/, '');
      }
      if (text.includes('}}')) throw new TemplateError('unexpected "}}" outside an action');
      if (text) parts.push({ kind: 'text', text });
      parts.push(parseAction(inner.trim(), whole));
    }
    return new AgentPathTemplate(source, parts);
  }

  execute(data: AgentPathData): string {
    let out = '';
    for (const p of this.parts) out += p.kind === 'text' ? p.text : data[p.name];
    return out;
  }
}

/** SPIRE's spiffeid.ValidatePath rules for the agent path suffix; undefined when valid. */
export function validateAgentPath(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must start with "/"';
  for (const seg of path.slice(1).split('/')) {
    if (seg === '') return 'must not contain empty segments or end with "/"';
    if (seg === '.' || seg === '..') return 'must not contain dot segments';
    if (!/^[A-Za-z0-9._-]+$/.test(seg)) return `segment ${JSON.stringify(seg)} has characters other than letters, digits, ".", "-" and "_"`;
  }
  return undefined;
}
