import { describe, expect, it } from 'vitest';
import { ConfigError, describeIssues, expandEnv, parseConfig, toPlain } from '../src/config/index.js';
import type { ConfigNode, ListNode, NumberNode, ObjectNode, PlainValue, StringNode } from '../src/config/index.js';

const SERVER_CONF = `server {
    bind_address = "0.0.0.0"
    bind_port = "8081"
    trust_domain = "example.org"
    ca_ttl = "24h"
    admin_ids = ["spiffe://example.org/admin"]
    # comment
    // comment
    /* block comment */
}
plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "sqlite3"
            connection_string = "/opt/spire/data/server/datastore.sqlite3"
        }
    }
    KeyManager "disk" {
        plugin_cmd = "/path/bin"
        plugin_checksum = "abc..."
        plugin_data { keys_path = "/opt/spire/data/server/keys.json" }
    }
    NodeAttestor "k8s_psat" {
        plugin_data {
            clusters = {
                "demo-cluster" = {
                    service_account_allow_list = ["spire:spire-agent"]
                }
            }
        }
    }
}
health_checks { listener_enabled = true  bind_port = 8080 }
`;

const SERVER_PLAIN = {
  server: {
    bind_address: '0.0.0.0',
    bind_port: '8081',
    trust_domain: 'example.org',
    ca_ttl: '24h',
    admin_ids: ['spiffe://example.org/admin'],
  },
  plugins: {
    DataStore: { sql: { plugin_data: { database_type: 'sqlite3', connection_string: '/opt/spire/data/server/datastore.sqlite3' } } },
    KeyManager: {
      disk: { plugin_cmd: '/path/bin', plugin_checksum: 'abc...', plugin_data: { keys_path: '/opt/spire/data/server/keys.json' } },
    },
    NodeAttestor: {
      k8s_psat: { plugin_data: { clusters: { 'demo-cluster': { service_account_allow_list: ['spire:spire-agent'] } } } },
    },
  },
  health_checks: { listener_enabled: true, bind_port: 8080 },
};

const SERVER_JSON = `{
  "server": {
    "bind_address": "0.0.0.0",
    "bind_port": "8081",
    "trust_domain": "example.org",
    "ca_ttl": "24h",
    "admin_ids": ["spiffe://example.org/admin"]
  },
  "plugins": {
    "DataStore": { "sql": { "plugin_data": {
      "database_type": "sqlite3",
      "connection_string": "/opt/spire/data/server/datastore.sqlite3"
    } } },
    "KeyManager": { "disk": {
      "plugin_cmd": "/path/bin",
      "plugin_checksum": "abc...",
      "plugin_data": { "keys_path": "/opt/spire/data/server/keys.json" }
    } },
    "NodeAttestor": { "k8s_psat": { "plugin_data": {
      "clusters": { "demo-cluster": { "service_account_allow_list": ["spire:spire-agent"] } }
    } } }
  },
  "health_checks": { "listener_enabled": true, "bind_port": 8080 }
}`;

/** Follows keys through objects (first entry with each key). */
function at(node: ConfigNode, ...keys: string[]): ConfigNode {
  let cur = node;
  for (const k of keys) {
    if (cur.kind !== 'object') throw new Error(`not an object at ${k}`);
    const e = cur.entries.find((x) => x.key === k);
    if (!e) throw new Error(`no key ${k}`);
    cur = e.value;
  }
  return cur;
}

function lc(node: ConfigNode): string {
  return `${node.pos.line}:${node.pos.column}`;
}

function syntaxMessage(text: string, format: 'hcl' | 'json' | 'auto' = 'auto'): string {
  try {
    parseConfig(text, { filename: 'server.conf', format });
  } catch (err) {
    if (err instanceof ConfigError) {
      expect(err.issues).toHaveLength(1);
      expect(err.issues[0]!.code).toBe('syntax');
      return describeIssues(err.issues);
    }
    throw err;
  }
  throw new Error('expected a syntax error');
}

describe('parseConfig: SPIRE samples', () => {
  it('parses the server config into the expected plain value', () => {
    expect(toPlain(parseConfig(SERVER_CONF, { filename: 'server.conf' }))).toEqual(SERVER_PLAIN);
  });

  it('parses the JSON form into the same value', () => {
    expect(toPlain(parseConfig(SERVER_JSON))).toEqual(SERVER_PLAIN);
    expect(toPlain(parseConfig(SERVER_JSON))).toEqual(toPlain(parseConfig(SERVER_CONF)));
  });

  it('records the file name and 1-based positions of keys and values', () => {
    const root = parseConfig(SERVER_CONF, { filename: 'server.conf' });
    expect(root.pos).toEqual({ filename: 'server.conf', line: 1, column: 1, offset: 0 });
    const server = root.entries[0]!;
    expect(server.key).toBe('server');
    expect(server.keyPos).toMatchObject({ filename: 'server.conf', line: 1, column: 1 });
    expect(lc(server.value)).toBe('1:8'); // the "{"
    const obj = server.value as ObjectNode;
    expect(obj.entries[2]!.key).toBe('trust_domain');
    expect(obj.entries[2]!.keyPos).toMatchObject({ line: 4, column: 5, offset: SERVER_CONF.indexOf('trust_domain') });
    expect(lc(obj.entries[2]!.value)).toBe('4:20');
    expect(lc(at(root, 'server', 'admin_ids'))).toBe('6:17');
    expect(lc((at(root, 'server', 'admin_ids') as ListNode).items[0]!)).toBe('6:18');
    expect(lc(at(root, 'health_checks', 'bind_port'))).toBe('33:54');
  });

  it('expands block labels into nested objects with label positions', () => {
    const root = parseConfig(SERVER_CONF, { filename: 'server.conf' });
    const plugins = at(root, 'plugins') as ObjectNode;
    const km = plugins.entries[1]!;
    expect(km).toMatchObject({ key: 'KeyManager', form: 'block', keyPos: { line: 18, column: 5 } });
    const labelObj = km.value as ObjectNode;
    expect(lc(labelObj)).toBe('18:16');
    expect(labelObj.entries).toHaveLength(1);
    expect(labelObj.entries[0]).toMatchObject({ key: 'disk', form: 'label', keyPos: { line: 18, column: 16 } });
    expect(lc(labelObj.entries[0]!.value)).toBe('18:23');
    const cluster = at(root, 'plugins', 'NodeAttestor', 'k8s_psat', 'plugin_data', 'clusters', 'demo-cluster') as ObjectNode;
    expect(cluster.kind).toBe('object');
    const clusters = at(root, 'plugins', 'NodeAttestor', 'k8s_psat', 'plugin_data', 'clusters') as ObjectNode;
    expect(clusters.entries[0]).toMatchObject({ key: 'demo-cluster', form: 'assign', keyPos: { line: 26, column: 17 } });
  });
});

describe('parseConfig: HCL v1 syntax', () => {
  it('treats block labels as sugar for nested objects', () => {
    const sugar = toPlain(parseConfig('a "b" "c" { d = 1 }'));
    expect(sugar).toEqual({ a: { b: { c: { d: 1 } } } });
    expect(toPlain(parseConfig('a = { b = { c = { d = 1 } } }'))).toEqual(sugar);
    expect(toPlain(parseConfig('a { b { c { d = 1 } } }'))).toEqual(sugar);
    expect(toPlain(parseConfig('a b c { d = 1 }'))).toEqual(sugar); // identifier labels
  });

  it('keeps repeated blocks as separate entries, in order', () => {
    const text = `plugins {
  KeyManager "disk" { a = 1 }
  KeyManager "memory" {}
  KeyManager "disk" { a = 2 }
}`;
    const plugins = at(parseConfig(text), 'plugins') as ObjectNode;
    const labels = plugins.entries.map((e) => `${e.key}/${(e.value as ObjectNode).entries[0]!.key}`);
    expect(labels).toEqual(['KeyManager/disk', 'KeyManager/memory', 'KeyManager/disk']);
    expect(plugins.entries.map((e) => e.keyPos.line)).toEqual([2, 3, 4]);
    expect(toPlain(plugins)).toEqual({ KeyManager: [{ disk: { a: 1 } }, { memory: {} }, { disk: { a: 2 } }] });
  });

  it('keeps repeated assignments too', () => {
    const root = parseConfig('a = 1\na = 2');
    expect(root.entries.map((e) => e.key)).toEqual(['a', 'a']);
    expect(toPlain(root)).toEqual({ a: [1, 2] });
  });

  const values: [string, string, PlainValue][] = [
    ['plain string', '"hello"', 'hello'],
    ['empty string', '""', ''],
    ['escapes', String.raw`"a\nb\tc\"d\\e\rf"`, 'a\nb\tc"d\\e\rf'],
    ['unicode escapes', String.raw`"\u00e9\U0001F600\x41\101"`, 'é😀AA'],
    ['rare escapes', String.raw`"\a\b\f\v"`, '\x07\b\f\v'],
    ['raw unicode', '"héllo wörld ✓"', 'héllo wörld ✓'],
    ['interpolation kept', '"${var.foo}"', '${var.foo}'],
    ['interpolation with quotes', '"x-${lookup(map, "k")}-y"', 'x-${lookup(map, "k")}-y'],
    ['nested braces in interpolation', '"${a({b})}"', '${a({b})}'],
    ['dollar without brace', '"$HOME and $"', '$HOME and $'],
    ['int', '42', 42],
    ['zero', '0', 0],
    ['negative int', '-17', -17],
    ['float', '3.25', 3.25],
    ['negative float', '-0.5', -0.5],
    ['leading-dot float', '.5', 0.5],
    ['exponent', '1e3', 1000],
    ['signed exponent', '2.5E-2', 0.025],
    ['hex', '0x1F', 31],
    ['negative hex', '-0x10', -16],
    ['octal (HCL v1 / Go ParseInt)', '0755', 493],
    ['true', 'true', true],
    ['false', 'false', false],
    ['list', '[1, 2, 3]', [1, 2, 3]],
    ['list trailing comma', '["a", "b",]', ['a', 'b']],
    ['empty list', '[]', []],
    ['multi-line list with comments', '[\n  "a", # one\n  "b", // two\n  /* three */ "c",\n]', ['a', 'b', 'c']],
    ['nested lists', '[[1, 2], [], ["x"]]', [[1, 2], [], ['x']]],
    ['list of objects', '[{ a = 1 }, { b = "x" },]', [{ a: 1 }, { b: 'x' }]],
    ['object with commas', '{ a = 1, b = 2, }', { a: 1, b: 2 }],
    ['object with newlines', '{\n a = 1\n b = 2\n}', { a: 1, b: 2 }],
    ['object without separators', '{ a = 1 b = 2 }', { a: 1, b: 2 }],
    ['empty object', '{}', {}],
    ['quoted keys', '{ "demo-cluster" = 1, "with space" = 2, "a.b" = 3 }', { 'demo-cluster': 1, 'with space': 2, 'a.b': 3 }],
    ['identifier keys with - and .', '{ foo-bar = 1, a.b.c = 2, _x9 = 3 }', { 'foo-bar': 1, 'a.b.c': 2, _x9: 3 }],
  ];
  it.each(values)('parses %s', (_name, src, expected) => {
    expect(toPlain(at(parseConfig(`v = ${src}`), 'v'))).toEqual(expected);
  });

  it('records number details', () => {
    const n = (src: string): NumberNode => at(parseConfig(`v = ${src}`), 'v') as NumberNode;
    expect(n('0x1F')).toMatchObject({ value: 31, raw: '0x1F', integer: true });
    expect(n('1.0')).toMatchObject({ value: 1, raw: '1.0', integer: false });
    expect(n('-3')).toMatchObject({ value: -3, raw: '-3', integer: true });
    expect(n('1e2')).toMatchObject({ value: 100, integer: false });
  });

  it('accepts all comment styles anywhere whitespace is allowed', () => {
    const text = `# hash
// slash
/* block
   spanning lines */ a /* in between */ = /* here */ 1 # trailing
b = [ /* x */ 2 /* y */ , ] // end`;
    expect(toPlain(parseConfig(text))).toEqual({ a: 1, b: [2] });
  });

  it('parses an empty or comment-only file as an empty object', () => {
    expect(toPlain(parseConfig(''))).toEqual({});
    expect(toPlain(parseConfig('  \n# nothing\n/* here */\n'))).toEqual({});
  });

  it('handles CRLF line endings and a BOM', () => {
    const root = parseConfig('\uFEFFa = 1\r\nb {\r\n  c = "x"\r\n}\r\n');
    expect(toPlain(root)).toEqual({ a: 1, b: { c: 'x' } });
    expect(root.entries[1]!.keyPos).toMatchObject({ line: 2, column: 1 });
  });

  it('marks entry forms', () => {
    const root = parseConfig('a = {}\nb {}\nc "d" {}');
    expect(root.entries.map((e) => e.form)).toEqual(['assign', 'block', 'block']);
    expect((root.entries[2]!.value as ObjectNode).entries[0]!.form).toBe('label');
  });
});

describe('parseConfig: heredocs', () => {
  const cases: [string, string, string][] = [
    ['simple', 'v = <<EOF\nline one\nline "two" ${x}\nEOF\n', 'line one\nline "two" ${x}\n'],
    ['empty', 'v = <<EOF\nEOF', ''],
    ['blank lines kept', 'v = <<EOF\n\na\n\nEOF', '\na\n\n'],
    ['no unindent without -', 'v = <<EOF\n    a\n      b\n    EOF\n', '    a\n      b\n'],
    ['indented <<-', 'v = <<-EOT\n    a\n      b\n    EOT\n', 'a\n  b\n'],
    ['indented <<- with blank line', 'v = <<-EOT\n    a\n\n    b\n    EOT', 'a\n\nb\n'],
    ['<<- with a less indented line stays as is', 'v = <<-EOT\n    a\n  b\n    EOT', '    a\n  b\n'],
    ['<<- with tabs', 'v = <<-EOT\n\t\ta\n\t\tEOT', 'a\n'],
    ['anchor text inside a line does not end it', 'v = <<EOF\nEOF is not alone\nEOF', 'EOF is not alone\n'],
    ['CRLF', 'v = <<EOF\r\na\r\nb\r\nEOF\r\n', 'a\nb\n'],
    ['backslashes are literal', 'v = <<EOF\nC:\\path\\n\nEOF', 'C:\\path\\n\n'],
  ];
  it.each(cases)('%s', (_name, src, expected) => {
    const v = at(parseConfig(src), 'v') as StringNode;
    expect(v).toMatchObject({ kind: 'string', heredoc: true, value: expected });
  });

  it('continues after the heredoc with correct positions', () => {
    const root = parseConfig('v = <<EOF\na\nb\nEOF\nw = 2', { filename: 'f' });
    expect(toPlain(root)).toEqual({ v: 'a\nb\n', w: 2 });
    expect(root.entries[1]!.keyPos).toMatchObject({ line: 5, column: 1 });
    expect(lc(root.entries[0]!.value)).toBe('1:5');
  });

  it('works inside nested blocks (SPIRE plugin_data)', () => {
    const text = `plugins {
  NodeAttestor "x509pop" {
    plugin_data {
      ca_bundle = <<-PEM
        -----BEGIN CERTIFICATE-----
        MIIB
        -----END CERTIFICATE-----
        PEM
    }
  }
}`;
    expect(at(parseConfig(text), 'plugins', 'NodeAttestor', 'x509pop', 'plugin_data', 'ca_bundle')).toMatchObject({
      value: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    });
  });
});

describe('parseConfig: HCL syntax errors', () => {
  const cases: [string, string, string][] = [
    ['colon instead of =', 'server {\n    bind_port = 1\n    trust_domain: "example.org"\n}', 'server.conf:3:17: expected "=" or "{" after key "trust_domain", found ":"'],
    [
      'forgotten = before a string',
      'server {\n    trust_domain "example.org"\n}',
      'server.conf:2:18: expected "=" or "{" after key "trust_domain", found string "example.org"',
    ],
    [
      'forgotten = followed by another item',
      'server {\n    trust_domain "example.org"\n    ca_ttl = "1h"\n}',
      'server.conf:2:18: expected "=" or "{" after key "trust_domain", found string "example.org"',
    ],
    ['key alone on its line', 'server {\n  bind_port\n  ca_ttl = "1h"\n}', 'server.conf:3:3: expected "=" or "{" after key "bind_port", found identifier "ca_ttl"'],
    ['key at end of file', 'a = 1\nb', 'server.conf:2:2: expected "=" or "{" after key "b", found end of file'],
    ['labels then =', 'a "b" = 1', 'server.conf:1:7: expected "{" after block labels a "b", found "="'],
    ['labels then value', 'KeyManager "disk" "x" 5', 'server.conf:1:23: expected "{" after block labels KeyManager "disk" "x", found number 5'],
    ['missing value', 'a = }', 'server.conf:1:5: expected value after "=" for key "a", found "}"'],
    ['bare identifier value', 'trust_domain = example.org', 'server.conf:1:16: expected value after "=" for key "trust_domain", found identifier "example.org" (use quotes for strings)'],
    ['value at end of file', 'a =', 'server.conf:1:4: expected value after "=" for key "a", found end of file'],
    ['unclosed block', 'server {\n  a = 1\n', 'server.conf:3:1: unexpected end of file: missing "}" to close block "server" opened at 1:8'],
    ['unclosed labelled block', 'plugins {\n  KeyManager "disk" {\n}', 'server.conf:3:2: unexpected end of file: missing "}" to close block "plugins" opened at 1:9'],
    ['unclosed inline object', 'a = {\n b = 1', 'server.conf:2:7: unexpected end of file: missing "}" to close object opened at 1:5'],
    ['stray }', 'a = 1\n}', 'server.conf:2:1: unexpected "}" (no open block to close)'],
    ['= without key', '= 1', 'server.conf:1:1: expected key, found "=" (missing key before "=")'],
    ['number as key', 'server { 8080 = 1 }', 'server.conf:1:10: expected key or "}", found number 8080'],
    ['double comma', '{ a = 1,, b = 2 }'.replace('{', 'x {'), 'server.conf:1:11: expected key or "}", found ","'],
    ['list missing comma', 'a = [1 2]', 'server.conf:1:8: expected "," or "]" after list item, found number 2'],
    ['list double comma', 'a = [1,,2]', 'server.conf:1:8: expected value in list, found ","'],
    ['unclosed list', 'a = [1,\n 2', 'server.conf:2:3: unexpected end of file: missing "]" to close list opened at 1:5'],
    ['unterminated string (eof)', 'a = "abc', 'server.conf:1:5: unterminated string (missing closing quote before end of file)'],
    [
      'unterminated string (newline)',
      'a = "abc\nb = 1',
      'server.conf:1:5: unterminated string (missing closing quote before end of line; use a heredoc for multi-line text)',
    ],
    ['unterminated interpolation', 'a = "${x"\nb = 1', 'server.conf:1:5: unterminated string (missing closing quote before end of line; use a heredoc for multi-line text)'],
    ['bad escape', 'a = "ab\\qc"', 'server.conf:1:8: invalid escape sequence "\\\\q" in string'],
    ['short unicode escape', 'a = "\\u12G4"', 'server.conf:1:6: invalid escape sequence "\\\\u12G" in string'],
    ['surrogate escape', 'a = "\\uD800"', 'server.conf:1:6: invalid escape sequence "\\\\uD800" in string (not a valid Unicode code point)'],
    ['unterminated heredoc', 'a {\n  b = <<EOF\n  text\n', 'server.conf:2:7: unterminated heredoc (missing closing "EOF" line)'],
    ['heredoc without anchor', 'a = <<\nx\n', 'server.conf:1:5: invalid heredoc: expected an anchor name after "<<"'],
    ['heredoc anchor not followed by newline', 'a = <<EOF x\nEOF', 'server.conf:1:10: heredoc anchor "EOF" must be followed by a newline'],
    ['unterminated block comment', 'a = 1\n  /* never\nclosed', 'server.conf:2:3: unterminated block comment (missing "*/")'],
    ['unquoted duration', 'ca_ttl = 24h', 'server.conf:1:10: invalid number "24h" (use quotes for strings)'],
    ['bad hex', 'a = 0x', 'server.conf:1:5: invalid number "0x"'],
    ['bad exponent', 'a = 1e', 'server.conf:1:5: invalid number "1e"'],
    ['two dots', 'a = 1.2.3', 'server.conf:1:5: invalid number "1.2.3"'],
    ['bad octal', 'a = 089', 'server.conf:1:5: invalid octal number "089"'],
    ['illegal character', 'a = 1\n@b = 2', 'server.conf:2:1: expected key, found "@"'],
    ['single slash', 'a = 1 / 2', 'server.conf:1:7: expected key, found "/"'],
    ['heredoc as key', '<<EOF\nx\nEOF', 'server.conf:1:1: expected key, found heredoc string'],
  ];
  it.each(cases)('%s', (_name, text, expected) => {
    expect(syntaxMessage(text, 'hcl')).toBe(expected);
  });

  it('throws a ConfigError whose message carries the position', () => {
    expect(() => parseConfig('a = ', { filename: 'x.hcl' })).toThrow(/^x\.hcl:1:5: expected value after "=" for key "a", found end of file$/);
    expect(() => parseConfig('a = ')).toThrow(/^1:5: /);
  });

  it('rejects absurd nesting instead of overflowing the stack', () => {
    expect(syntaxMessage('a = ' + '['.repeat(300), 'hcl')).toMatch(/nesting too deep/);
    expect(syntaxMessage('{"a": ' + '['.repeat(300), 'json')).toMatch(/nesting too deep/);
  });
});

describe('parseConfig: JSON', () => {
  it('keeps positions', () => {
    const root = parseConfig('{\n  "server": {\n    "bind_port": 8081,\n    "ids": ["a", "b"]\n  }\n}', { filename: 'server.json' });
    expect(root.entries[0]!.keyPos).toMatchObject({ filename: 'server.json', line: 2, column: 3 });
    expect(lc(root.entries[0]!.value)).toBe('2:13');
    expect(lc(at(root, 'server', 'bind_port'))).toBe('3:18');
    expect(lc((at(root, 'server', 'ids') as ListNode).items[1]!)).toBe('4:18');
  });

  it('maps repeated blocks to arrays and back', () => {
    const hcl = 'plugins {\n KeyManager "disk" { a = 1 }\n KeyManager "memory" {}\n}';
    const json = '{"plugins": {"KeyManager": [{"disk": {"a": 1}}, {"memory": {}}]}}';
    expect(toPlain(parseConfig(json))).toEqual(toPlain(parseConfig(hcl)));
  });

  it('decodes values like JSON.parse', () => {
    const text = '{"s": "a\\"b\\\\c\\/d\\n\\u00e9\\ud83d\\ude00", "n": -1.5e3, "i": 0, "t": true, "f": false, "l": [], "o": {}}';
    expect(toPlain(parseConfig(text))).toEqual(JSON.parse(text));
    const n = at(parseConfig('{"a": 10, "b": 1.0, "c": 1e2}'), 'a') as NumberNode;
    expect(n).toMatchObject({ value: 10, integer: true, raw: '10' });
    expect(at(parseConfig('{"a": 10, "b": 1.0, "c": 1e2}'), 'c')).toMatchObject({ value: 100, integer: false });
  });

  it('keeps duplicate keys as separate entries', () => {
    const root = parseConfig('{"a": 1, "a": 2}');
    expect(root.entries.map((e) => [e.key, e.keyPos.column])).toEqual([
      ['a', 2],
      ['a', 10],
    ]);
  });

  it('detects the format', () => {
    expect(toPlain(parseConfig('  \n {"a": 1}'))).toEqual({ a: 1 });
    expect(toPlain(parseConfig('\uFEFF{"a": 1}'))).toEqual({ a: 1 });
    expect(toPlain(parseConfig('a = 1'))).toEqual({ a: 1 });
    expect(toPlain(parseConfig('a = 1', { format: 'hcl' }))).toEqual({ a: 1 });
    expect(syntaxMessage('a = 1', 'json')).toBe('server.conf:1:1: JSON configuration must be an object at the top level, found "a"');
    expect(syntaxMessage('{"a" = 1}', 'auto')).toBe('server.conf:1:6: expected ":" after key "a", found "="');
    expect(syntaxMessage('{ a = 1 }', 'hcl')).toBe('server.conf:1:1: expected key, found "{"');
  });

  const errors: [string, string, string][] = [
    ['top-level array', '[1]', 'server.conf:1:1: JSON configuration must be an object at the top level, found an array'],
    ['empty input', '', 'server.conf:1:1: JSON configuration must be an object at the top level, found end of file'],
    ['unquoted key', '{\n  a: 1\n}', 'server.conf:2:3: expected a string key, found "a"'],
    ['missing colon', '{"a" 1}', 'server.conf:1:6: expected ":" after key "a", found number 1'],
    ['missing comma', '{"a": 1\n "b": 2}', 'server.conf:2:2: expected "," or "}" after object member, found string "b"'],
    ['trailing comma in object', '{"a": 1,}', 'server.conf:1:9: expected a string key, found "}" (trailing commas are not allowed in JSON)'],
    ['trailing comma in array', '{"a": [1,]}', 'server.conf:1:10: expected a value, found "]" (trailing commas are not allowed in JSON)'],
    ['missing array comma', '{"a": [1 2]}', 'server.conf:1:10: expected "," or "]" after array element, found number 2'],
    ['null', '{"a": null}', 'server.conf:1:7: null is not supported in configuration (omit the key instead)'],
    ['bad literal', '{"a": True}', 'server.conf:1:7: expected a value, found "True"'],
    ['single quotes', "{'a': 1}", 'server.conf:1:2: expected a string key, found "\'"'],
    ['leading zero', '{"a": 012}', 'server.conf:1:7: invalid number "012"'],
    ['bare minus', '{"a": -}', 'server.conf:1:7: invalid number "-"'],
    ['hex not allowed', '{"a": 0x1}', 'server.conf:1:7: invalid number "0x1"'],
    ['unterminated string', '{"a": "abc}', 'server.conf:1:7: unterminated string (missing closing quote before end of file)'],
    ['newline in string', '{"a": "ab\n"}', 'server.conf:1:7: unterminated string (missing closing quote before end of line)'],
    ['control character', '{"a": "a\tb"}', 'server.conf:1:9: invalid control character U+0009 in string (escape it)'],
    ['bad escape', '{"a": "\\x41"}', 'server.conf:1:8: invalid escape sequence "\\\\x" in string'],
    ['bad unicode escape', '{"a": "\\u12"}', 'server.conf:1:8: invalid escape sequence "\\\\u12\\"}" in string'],
    ['unclosed object', '{"a": {"b": 1}\n', 'server.conf:2:1: unexpected end of file: missing "}" to close object opened at 1:1'],
    ['unclosed array', '{"a": [1,\n2', 'server.conf:2:2: unexpected end of file: missing "]" to close array opened at 1:7'],
    ['trailing content', '{"a": 1} {"b": 2}', 'server.conf:1:10: unexpected "{" after the top-level object'],
    ['comment', '{"a": 1 // no\n}', 'server.conf:1:9: expected "," or "}" after object member, found "/"'],
  ];
  it.each(errors)('reports %s', (_name, text, expected) => {
    expect(syntaxMessage(text, 'json')).toBe(expected);
  });
});

describe('expandEnv (Go os.ExpandEnv semantics)', () => {
  const env = { TD: 'example.org', PORT: '8081', EMPTY: '', A_1: 'x', '1': 'one', '*': 'star', 'weird name': 'w' };
  const cases: [string, string][] = [
    ['no variables', 'no variables'],
    ['$TD', 'example.org'],
    ['${TD}', 'example.org'],
    ['trust_domain = "${TD}"', 'trust_domain = "example.org"'],
    ['port = $PORT;', 'port = 8081;'],
    ['$TD.suffix', 'example.org.suffix'], // "." ends a $NAME
    ['$A_1b', ''], // the name is "A_1b" (unset)
    ['${A_1}b', 'xb'],
    ['$UNSET|${UNSET}|', '||'],
    ['$EMPTY', ''],
    ['$1', 'one'], // special names are one character
    ['$12', 'one2'],
    ['${1}', 'one'],
    ['$*', 'star'],
    ['${*}', 'star'],
    ['$$', ''], // "$$" looks up "$" (unset)
    ['a$$b', 'ab'],
    ['$-x', 'x'],
    ['${weird name}', 'w'], // braces take anything up to "}"
    ['${}', ''], // bad syntax: eaten
    ['a${}b', 'ab'],
    ['${TD', 'TD'], // unterminated: "${" eaten
    ['cost $%', 'cost $%'], // "$" not followed by a name: kept
    ['end $', 'end $'],
    ['$', '$'],
    ['$ space', '$ space'],
    ['ünï $TD ✓', 'ünï example.org ✓'],
    ['${TD}${PORT}$TD', 'example.org8081example.org'],
  ];
  it.each(cases)('expands %j', (input, expected) => {
    expect(expandEnv(input, env)).toBe(expected);
  });

  it('accepts a lookup function and defaults to process.env', () => {
    expect(expandEnv('${X}-$Y', (n) => (n === 'X' ? 'ex' : undefined))).toBe('ex-');
    process.env['SPIRE_TS_CONFIG_TEST'] = 'from-env';
    try {
      expect(expandEnv('v=$SPIRE_TS_CONFIG_TEST')).toBe('v=from-env');
    } finally {
      delete process.env['SPIRE_TS_CONFIG_TEST'];
    }
  });

  it('ignores inherited properties of the env record', () => {
    expect(expandEnv('[$toString][$constructor]', {})).toBe('[][]');
  });

  it('expands a whole config before parsing', () => {
    const text = expandEnv('server {\n  trust_domain = "${TD}"\n  bind_port = $PORT\n}', env);
    expect(toPlain(parseConfig(text))).toEqual({ server: { trust_domain: 'example.org', bind_port: 8081 } });
  });
});
