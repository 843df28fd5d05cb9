/**
 * `agent_path_template`: the subset of Go's text/template that SPIRE's agent
 * path templates use in practice — literal text and actions that print a
 * field (`{{ .InstanceID }}`), a tag (`{{ .Tags.Name }}`,
 * `{{ index .Tags "name" }}`), with optional `{{-`/`-}}` trimming. Anything
 * else is refused when the configuration is loaded, naming the action.
 */

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

/** The data a template can read (SPIRE's field names). */
export interface AgentPathData {
  readonly PluginName: string;
  readonly TrustDomain: string;
  readonly AccountID: string;
  readonly Region: string;
  readonly InstanceID: string;
  readonly Tags: Readonly<Record<string, string>>;
}

type Part = { kind: 'text'; text: string } | { kind: 'field'; name: Exclude<keyof AgentPathData, 'Tags'> } | { kind: 'tag'; key: string };

const FIELDS = new Set(['PluginName', 'TrustDomain', 'AccountID', 'Region', 'InstanceID']);

export const DEFAULT_AGENT_PATH_TEMPLATE = '/{{ .PluginName}}/{{ .AccountID }}/{{ .Region }}/{{ .InstanceID }}';

function parseAction(action: string, whole: string): Part {
  const field = /^\.([A-Za-z][A-Za-z0-9]*)$/.exec(action);
  if (field && FIELDS.has(field[1]!)) return { kind: 'field', name: field[1] as Exclude<keyof AgentPathData, 'Tags'> };
  const dotted = /^\.Tags\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(action);
  if (dotted) return { kind: 'tag', key: dotted[1]! };
  const indexed = /^index\s+\.Tags\s+"((?:[^"\\]|\\.)*)"$/.exec(action);
  if (indexed) return { kind: 'tag', key: JSON.parse(`"${indexed[1]!}"`) as string };
  throw new TemplateError(
    `unsupported action ${JSON.stringify(whole)}: use {{ .PluginName }}, {{ .TrustDomain }}, {{ .AccountID }}, {{ .Region }}, {{ .InstanceID }}, {{ .Tags.<key> }} or {{ index .Tags "<key>" }}`,
  );
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

  /** Whether the template reads instance tags (then EC2 must be asked before the agent ID is known). */
  get usesTags(): boolean {
    return this.parts.some((p) => p.kind === 'tag');
  }

  execute(data: AgentPathData): string {
    let out = '';
    for (const p of this.parts) {
      if (p.kind === 'text') out += p.text;
      else if (p.kind === 'field') out += data[p.name];
      else {
        const v = data.Tags[p.key];
        // Go's text/template prints a missing map key as "<no value>"; an agent ID cannot hold it.
        if (v === undefined) throw new TemplateError(`the instance has no tag ${JSON.stringify(p.key)}`);
        out += v;
      }
    }
    return out;
  }
}

/** SPIRE's spiffeid.ValidatePath rules for the agent path suffix. */
export function validateAgentPath(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must start with "/"';
  const segments = path.slice(1).split('/');
  for (const seg of segments) {
    if (seg === '') return 'must not contain empty segments or end with "/"';
    if (seg === '.' || seg === '..') return 'must not contain dot segments';
    if (!/^[A-Za-z0-9._-]+$/.test(seg)) return `segment ${JSON.stringify(seg)} has characters other than letters, digits, ".", "-" and "_"`;
  }
  return undefined;
}
