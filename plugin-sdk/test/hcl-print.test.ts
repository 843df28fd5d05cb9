import { describe, expect, it } from 'vitest';
import { fromPlain, parseConfig, printHCL, toPlain } from '../src/config/index.js';
import type { ObjectNode, PlainObject } from '../src/config/index.js';

/** parse(print(x)) must give back x. */
function roundTrip(value: PlainObject): void {
  const text = printHCL(value);
  expect(toPlain(parseConfig(text, { format: 'hcl' })), text).toEqual(value);
}

describe('printHCL: round trips', () => {
  const cases: [string, PlainObject][] = [
    ['empty', {}],
    ['scalars', { s: 'x', i: 42, neg: -7, f: 3.25, tiny: 5e-7, big: 1e21, t: true, f2: false, zero: 0 }],
    ['nested objects', { a: { b: { c: { d: 'deep' } }, e: 1 }, empty: {} }],
    ['lists', { l: [1, 2, 3], s: ['a', 'b'], empty: [], nested: [[1], [], [['x']]], mixed: ['a', 1, true] }],
    ['list of objects', { items: [{ a: 1 }, { b: [{ c: 'x' }] }, {}] }],
    ['long list', { ids: Array.from({ length: 20 }, (_, i) => `spiffe://example.org/workload-${i}`) }],
    [
      'strings needing escapes',
      {
        quote: 'say "hi"',
        backslash: 'C:\\path\\to',
        newline: 'a\nb',
        tab: 'a\tb',
        cr: 'a\r\nb\r\n',
        control: '\x00\x01\x1f\x7f',
        unicode: 'héllo ✓ 😀',
        escapes_like_text: '\\n is not a newline',
      },
    ],
    [
      'interpolation-like text',
      {
        kept: '${var.foo}',
        quoted: '${lookup(m, "k")}',
        unclosed: 'a ${ b',
        unclosed_with_quote: '${ "x',
        nested: '${a({b})}',
        dollar: '$HOME $ $$',
        multi: '${a} ${ b',
      },
    ],
    [
      'heredoc content',
      {
        pem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
        with_anchor: 'EOF\n  EOF  \nEOF1\n',
        blank_lines: '\n\nx\n\n',
        indented: '  a\n    b\n',
        quotes: 'say "hi" ${x} \\n\n',
        no_trailing_newline: 'a\nb',
      },
    ],
    [
      'keys needing quotes',
      { 'demo-cluster': 1, 'with space': 2, 'a.b': 3, '': 4, true: 5, false: 6, '9lives': 7, 'ünï': 8, 'quo"te': 9 },
    ],
    ['__proto__ key', JSON.parse('{"__proto__": {"polluted": true}, "x": 1}') as PlainObject],
    [
      'SPIRE plugin_data',
      {
        clusters: { 'demo-cluster': { service_account_allow_list: ['spire:spire-agent'], use_token_review_api_validation: false } },
        keys_path: '/opt/spire/data/server/keys.json',
      },
    ],
    ['repeated blocks as arrays of objects', { KeyManager: [{ disk: { a: 1 } }, { memory: {} }] }],
  ];
  it.each(cases)('%s', (_name, value) => roundTrip(value));

  it('round-trips a parsed config through nodes (positions aside)', () => {
    const text = `server {
  bind_port = "8081"
  admin_ids = ["a", "b",]
}
plugins {
  KeyManager "disk" { plugin_data { keys_path = "/k.json" } }
  KeyManager "memory" {}
  NodeAttestor "x509pop" {
    plugin_data {
      ca_bundle = <<-EOT
        line1
        line2
        EOT
      n = 0x1F
    }
  }
}`;
    const node = parseConfig(text);
    const printed = printHCL(node);
    expect(toPlain(parseConfig(printed))).toEqual(toPlain(node));
    expect(printHCL(parseConfig(printed))).toBe(printed); // printing is stable
  });
});

describe('printHCL: output', () => {
  it('prints plain objects as blocks and scalars as assignments', () => {
    expect(printHCL({ keys_path: '/opt/keys.json', clusters: { demo: { allow: ['a', 'b'] } }, n: 1 })).toBe(
      `keys_path = "/opt/keys.json"
clusters {
  demo {
    allow = ["a", "b"]
  }
}
n = 1
`,
    );
  });

  it('keeps block labels and the written form of parsed configs', () => {
    const node = parseConfig('plugins {\nKeyManager "disk" {\nplugin_data = { a = 1 }\n}\nKeyManager "memory" {}\n}\nx = {}\n');
    expect(printHCL(node)).toBe(
      `plugins {
  KeyManager "disk" {
    plugin_data = {
      a = 1
    }
  }
  KeyManager "memory" {}
}
x = {}
`,
    );
  });

  it('prints multi-line text as a heredoc and picks a free anchor', () => {
    expect(printHCL({ a: { pem: 'x\ny\n' } })).toBe('a {\n  pem = <<EOF\nx\ny\nEOF\n}\n');
    expect(printHCL({ v: 'EOF\n' })).toBe('v = <<EOF1\nEOF\nEOF1\n');
    expect(printHCL({ v: 'a\nb' })).toBe('v = "a\\nb"\n');
  });

  it('escapes strings', () => {
    expect(printHCL({ v: 'q"b\\t\tn\nc\u0001' })).toBe('v = "q\\"b\\\\t\\tn\\nc\\u0001"\n');
    expect(printHCL({ v: '${ok} ${open' })).toBe('v = "${ok} \\u0024{open"\n');
  });

  it('keeps number source text for nodes', () => {
    expect(printHCL(parseConfig('a = 0x1F\nb = 1.50\nc = 0755'))).toBe('a = 0x1F\nb = 1.50\nc = 0755\n');
  });

  it('breaks long and non-scalar lists over lines with trailing commas', () => {
    expect(printHCL({ l: [{ a: 1 }, [2]] })).toBe('l = [\n  {\n    a = 1\n  },\n  [2],\n]\n');
    const long = Array.from({ length: 10 }, (_, i) => `value-number-${i}`);
    const printed = printHCL({ l: long });
    expect(printed.split('\n')).toHaveLength(13);
    expect(printed).toContain('\n  "value-number-9",\n]');
  });

  it('honours indent and width options', () => {
    expect(printHCL({ a: { b: [1, 2] } }, { indent: '    ', width: 5 })).toBe('a {\n    b = [\n        1,\n        2,\n    ]\n}\n');
  });

  it('prints bigint values and skips undefined properties', () => {
    expect(printHCL({ big: 12345678901234567890n, skip: undefined, keep: 1 })).toBe('big = 12345678901234567890\nkeep = 1\n');
  });

  it('rejects values with no HCL representation', () => {
    expect(() => printHCL({ a: null })).toThrow(TypeError);
    expect(() => printHCL({ a: { b: [1, NaN] } })).toThrow(/a\.b\[1\]/);
    expect(() => printHCL({ f: () => 1 })).toThrow(/function/);
    expect(() => printHCL([1, 2])).toThrow(/needs an object/);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => printHCL(cyclic)).toThrow(/circular/);
  });

  it('fromPlain builds nodes without positions', () => {
    const node = fromPlain({ a: [1, 'x'], b: { c: true } }, 'gen.conf') as ObjectNode;
    expect(node.entries[0]!.keyPos).toEqual({ filename: 'gen.conf', line: 0, column: 0, offset: 0 });
    expect(node.entries.map((e) => e.form)).toEqual(['assign', 'block']);
    expect(toPlain(node)).toEqual({ a: [1, 'x'], b: { c: true } });
  });
});
