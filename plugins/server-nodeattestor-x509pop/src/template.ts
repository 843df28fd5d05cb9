/**
 * `agent_path_template` for x509pop: the subset of Go's text/template that
 * SPIRE's x509pop templates use — literal text and actions printing a field
 * (`{{ .Fingerprint }}`, `{{ .Subject.CommonName }}`), a URI SAN selector
 * (`{{ .URISanSelectors.key }}` or `{{ index .URISanSelectors "key" }}`),
 * with `{{-`/`-}}` trimming. Other actions are refused when the
 * configuration is loaded, naming the action; a missing SAN key fails the
 * attestation (SPIRE's missingkey=error).
 */

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

export interface X509PopPathData {
  readonly PluginName: string;
  readonly TrustDomain: string;
  readonly Fingerprint: string;
  readonly SerialNumberHex: string;
  readonly SVIDPathTrimmed: string;
  readonly Subject: { readonly CommonName: string; readonly SerialNumber: string };
  readonly URISanSelectors: Readonly<Record<string, string>>;
}

type Part = { kind: 'text'; text: string } | { kind: 'get'; get: (d: X509PopPathData) => string };

const FIELDS: Record<string, (d: X509PopPathData) => string> = {
  PluginName: (d) => d.PluginName,
  TrustDomain: (d) => d.TrustDomain,
  Fingerprint: (d) => d.Fingerprint,
  SerialNumberHex: (d) => d.SerialNumberHex,
  SVIDPathTrimmed: (d) => d.SVIDPathTrimmed,
  'Subject.CommonName': (d) => d.Subject.CommonName,
  'Subject.SerialNumber': (d) => d.Subject.SerialNumber,
};

function san(key: string): (d: X509PopPathData) => string {
  return (d) => {
    if (!Object.hasOwn(d.URISanSelectors, key)) throw new TemplateError(`map has no entry for key "${key}" (URISanSelectors)`);
    return d.URISanSelectors[key]!;
  };
}

function parseAction(action: string, whole: string): Part {
  const field = /^\.([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)?)$/.exec(action);
  const get = field ? FIELDS[field[1]!] : undefined;
  if (get) return { kind: 'get', get };
  const dotted = /^\.URISanSelectors\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(action);
  if (dotted) return { kind: 'get', get: san(dotted[1]!) };
  const indexed = /^index\s+\.URISanSelectors\s+"((?:[^"\\]|\\.)*)"$/.exec(action);
  if (indexed) return { kind: 'get', get: san(JSON.parse(`"${indexed[1]!}"`) as string) };
  throw new TemplateError(
    `unsupported action ${JSON.stringify(whole)}: use {{ .PluginName }}, {{ .TrustDomain }}, {{ .Fingerprint }}, {{ .SerialNumberHex }}, ` +
      `{{ .SVIDPathTrimmed }}, {{ .Subject.CommonName }}, {{ .Subject.SerialNumber }}, {{ .URISanSelectors.<key> }} or {{ index .URISanSelectors "<key>" }}`,
  );
}

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

  execute(data: X509PopPathData): string {
    return this.parts.map((p) => (p.kind === 'text' ? p.text : p.get(data))).join('');
  }
}

/** SPIRE's defaults: by fingerprint (external_pki) or by the SVID path (spiffe). */
export const DEFAULT_TEMPLATE_EXTERNAL_PKI = '/{{ .PluginName }}/{{ .Fingerprint }}';
export const DEFAULT_TEMPLATE_SPIFFE = '/{{ .PluginName }}/{{ .SVIDPathTrimmed }}';
