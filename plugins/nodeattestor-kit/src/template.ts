/**
 * `agent_path_template`: the subset of Go's text/template that SPIRE's agent
 * path templates use in practice — literal text and actions that print a
 * field (`{{ .InstanceID }}`, `{{ .Subject.CommonName }}`), an entry of the
 * plugin's one string map (`{{ .Tags.Name }}`, `{{ index .Tags "name" }}`),
 * with optional `{{-`/`-}}` trimming. Anything else is refused when the
 * configuration is loaded, naming the action. Each plugin supplies its own
 * fields (a {@link TemplateSpec}); a missing map key fails the execution
 * (SPIRE's missingkey=error: an agent ID cannot hold "<no value>").
 */

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

/** The map a template may index (`{{ .<name>.<key> }}` / `{{ index .<name> "<key>" }}`). */
export interface TemplateMap<D> {
  readonly name: string;
  readonly get: (data: D) => Readonly<Record<string, string>>;
  /** The execution error for a key the map lacks. */
  readonly missing: (key: string) => string;
}

/** What one plugin's templates may read. */
export interface TemplateSpec<D> {
  /** Field path (as written after the dot, e.g. `Subject.CommonName`) → value; listed in this order in errors. */
  readonly fields: Readonly<Record<string, (data: D) => string>>;
  readonly map?: TemplateMap<D>;
  /** The list of accepted actions in the "unsupported action" error; by default every field, then the map forms. */
  readonly usage?: string;
}

type Part<D> = { kind: 'text'; text: string } | { kind: 'get'; get: (data: D) => string; map: boolean };

/** The accepted actions, as the default "unsupported action" error lists them. */
export function templateUsage<D>(spec: Pick<TemplateSpec<D>, 'fields' | 'map'>): string {
  const fields = Object.keys(spec.fields).map((f) => `{{ .${f} }}`);
  if (!spec.map) return fields.join(', ');
  const m = spec.map.name;
  return `${[...fields, `{{ .${m}.<key> }}`].join(', ')} or {{ index .${m} "<key>" }}`;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function mapEntry<D>(map: TemplateMap<D>, key: string): Part<D> {
  return {
    kind: 'get',
    map: true,
    get: (data) => {
      const m = map.get(data);
      const v = Object.hasOwn(m, key) ? m[key] : undefined;
      if (v === undefined) throw new TemplateError(map.missing(key));
      return v;
    },
  };
}

function parseAction<D>(action: string, whole: string, spec: TemplateSpec<D>): Part<D> {
  const field = /^\.([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*)$/.exec(action);
  if (field && Object.hasOwn(spec.fields, field[1]!)) return { kind: 'get', get: spec.fields[field[1]!]!, map: false };
  const map = spec.map;
  if (map) {
    const name = escapeRegExp(map.name);
    const dotted = new RegExp(`^\\.${name}\\.([A-Za-z_][A-Za-z0-9_]*)$`).exec(action);
    if (dotted) return mapEntry(map, dotted[1]!);
    const indexed = new RegExp(`^index\\s+\\.${name}\\s+"((?:[^"\\\\]|\\\\.)*)"$`).exec(action);
    if (indexed) return mapEntry(map, JSON.parse(`"${indexed[1]!}"`) as string);
  }
  throw new TemplateError(`unsupported action ${JSON.stringify(whole)}: use ${spec.usage ?? templateUsage(spec)}`);
}

/** A parsed agent path template over the data `D` of one plugin. */
export class PathTemplate<D> {
  private readonly parts: readonly Part<D>[];

  /** Parses `source`; throws {@link TemplateError} naming the first bad action. */
  constructor(
    readonly source: string,
    spec: TemplateSpec<D>,
  ) {
    const parts: Part<D>[] = [];
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
      parts.push(parseAction(inner.trim(), whole, spec));
    }
    this.parts = parts;
  }

  /** Whether the template reads the map (e.g. EC2 tags, which must then be fetched first). */
  get usesMap(): boolean {
    return this.parts.some((p) => p.kind === 'get' && p.map);
  }

  /** The agent path for `data`; throws {@link TemplateError} for a missing map key. */
  execute(data: D): string {
    let out = '';
    for (const p of this.parts) out += p.kind === 'text' ? p.text : p.get(data);
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
