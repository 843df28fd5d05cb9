/**
 * `agent_path_template`: the subset of Go's text/template that SPIRE's
 * azure_msi agent path templates use — literal text and actions printing a
 * field (`{{ .TenantID }}`), with optional `{{-`/`-}}` trimming. Anything
 * else is refused when the configuration is loaded, naming the action.
 */

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

/** The data a template can read (SPIRE's field names: the plugin name and the token's claims). */
export interface AgentPathData {
  readonly PluginName: string;
  readonly TenantID: string;
  readonly PrincipalID: string;
  readonly Subject: string;
  readonly Issuer: string;
}

type Field = keyof AgentPathData;
type Part = { kind: 'text'; text: string } | { kind: 'field'; name: Field };

const FIELDS: ReadonlySet<string> = new Set<Field>(['PluginName', 'TenantID', 'PrincipalID', 'Subject', 'Issuer']);

export const DEFAULT_AGENT_PATH_TEMPLATE = '/{{ .PluginName }}/{{ .TenantID }}/{{ .PrincipalID }}';

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
      const m = /^\.([A-Za-z]+)$/.exec(inner.trim());
      if (!m || !FIELDS.has(m[1]!)) {
        throw new TemplateError(`unsupported action ${JSON.stringify(whole)}: use ${[...FIELDS].map((f) => `{{ .${f} }}`).join(', ')}`);
      }
      parts.push({ kind: 'field', name: m[1] as Field });
    }
    return new AgentPathTemplate(source, parts);
  }

  execute(data: AgentPathData): string {
    return this.parts.map((p) => (p.kind === 'text' ? p.text : data[p.name])).join('');
  }
}

/** SPIRE's spiffeid.ValidatePath rules for the agent path suffix. */
export function validateAgentPath(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must start with "/"';
  for (const seg of path.slice(1).split('/')) {
    if (seg === '') return 'must not contain empty segments or end with "/"';
    if (seg === '.' || seg === '..') return 'must not contain dot segments';
    if (!/^[A-Za-z0-9._-]+$/.test(seg)) return `segment ${JSON.stringify(seg)} has characters other than letters, digits, ".", "-" and "_"`;
  }
  return undefined;
}
