import { describe, expect, it } from 'vitest';
import { PathTemplate, TemplateError, templateUsage, validateAgentPath, type TemplateSpec } from '../src/index.js';

interface Data {
  readonly Name: string;
  readonly Sub: { readonly CN: string };
  readonly Labels: Readonly<Record<string, string>>;
}

const spec: TemplateSpec<Data> = {
  fields: { Name: (d) => d.Name, 'Sub.CN': (d) => d.Sub.CN },
  map: { name: 'Labels', get: (d) => d.Labels, missing: (k) => `no label ${k}` },
};
const data: Data = { Name: 'n', Sub: { CN: 'c' }, Labels: { a: '1', 'x y': '2' } };

describe('PathTemplate', () => {
  it('prints fields, dotted fields and map entries, with trimming', () => {
    expect(new PathTemplate('/{{ .Name }}/{{.Sub.CN}}/{{ .Labels.a }}/{{ index .Labels "x y" }}', spec).execute(data)).toBe('/n/c/1/2');
    expect(new PathTemplate('/x {{- .Name -}} /y', spec).execute(data)).toBe('/xn/y');
    expect(new PathTemplate('/{{ .Name }}', spec).usesMap).toBe(false);
    expect(new PathTemplate('/{{ .Labels.a }}', spec).usesMap).toBe(true);
  });

  it('refuses unknown actions at parse time, listing the accepted ones', () => {
    expect(() => new PathTemplate('/{{ .Other }}', spec)).toThrow(
      'unsupported action "{{ .Other }}": use {{ .Name }}, {{ .Sub.CN }}, {{ .Labels.<key> }} or {{ index .Labels "<key>" }}',
    );
    expect(() => new PathTemplate('/{{ .constructor }}', spec)).toThrow(TemplateError);
    expect(() => new PathTemplate('/{{ .Labels }}', spec)).toThrow(/unsupported action/);
    expect(() => new PathTemplate('/{{ .Name ', spec)).toThrow(/unclosed action at offset 1/);
    expect(() => new PathTemplate('/a}}', spec)).toThrow(/unexpected "}}"/);
    expect(() => new PathTemplate('/{{ .Name }}', { fields: spec.fields, usage: 'X' })).not.toThrow();
    expect(() => new PathTemplate('/{{ .Nope }}', { fields: spec.fields, usage: 'X' })).toThrow(': use X');
    expect(templateUsage({ fields: spec.fields })).toBe('{{ .Name }}, {{ .Sub.CN }}');
  });

  it('fails the execution for a missing map key, including inherited names', () => {
    expect(() => new PathTemplate('/{{ .Labels.b }}', spec).execute(data)).toThrow('no label b');
    expect(() => new PathTemplate('/{{ .Labels.constructor }}', spec).execute(data)).toThrow('no label constructor');
  });
});

describe('validateAgentPath', () => {
  it('applies SPIRE path rules', () => {
    expect(validateAgentPath('/a/b')).toBeUndefined();
    expect(validateAgentPath('a')).toMatch(/must start/);
    expect(validateAgentPath('/a//b')).toMatch(/empty segments/);
    expect(validateAgentPath('/a/..')).toMatch(/dot segments/);
    expect(validateAgentPath('/a b')).toMatch(/characters other/);
  });
});
