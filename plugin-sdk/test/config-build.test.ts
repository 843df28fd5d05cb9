import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  ConfigError,
  buildConfig,
  buildConfigOrThrow,
  describeIssues,
  formatDuration,
  formatPath,
  parseConfig,
  parseDuration,
  printHCL,
  s,
  toPlain,
} from '../src/config/index.js';
import type { BuildResult, ConfigEntry, ConfigIssue, ConfigNode, Infer, PlainValue, Schema } from '../src/config/index.js';

const pluginSchema = s.object({
  plugin_cmd: s.string(),
  plugin_checksum: s.string({ pattern: /[0-9a-f]*/ }),
  plugin_data: s.raw(),
  enabled: s.bool({ default: true }),
});

const serverSchema = s.object({
  server: s.object(
    {
      bind_address: s.string({ default: '0.0.0.0' }),
      bind_port: s.int({ min: 0, max: 65535, default: 8081 }),
      trust_domain: s.string({ required: true, nonEmpty: true }),
      ca_ttl: s.duration({ default: '24h', min: '1m' }),
      admin_ids: s.list(s.string({ check: (v) => (v.startsWith('spiffe://') ? undefined : 'must be a SPIFFE ID') }), { default: [] }),
      log_level: s.enum(['DEBUG', 'INFO', 'WARN', 'ERROR'], { default: 'INFO' }),
      socket_path: s.string({ deprecated: 'use bind_address instead' }),
    },
    { required: true },
  ),
  plugins: s.map(s.entries(pluginSchema, { unique: true }), { required: true }),
  health_checks: s.object(
    {
      listener_enabled: s.bool({ default: false }),
      bind_address: s.string({ default: 'localhost' }),
      bind_port: s.int({ default: 80 }),
    },
    { fillDefaults: true },
  ),
});

const SERVER_CONF = `server {
  bind_address = "0.0.0.0"
  bind_port = "8081"
  trust_domain = "example.org"
  ca_ttl = "1h30m"
  admin_ids = ["spiffe://example.org/admin"]
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
    plugin_checksum = "abc123"
    plugin_data { keys_path = "/opt/spire/data/server/keys.json" }
  }
  KeyManager "memory" {
    enabled = false
  }
}
`;

/** Builds and returns the error lines (`file:line:col: message`). */
function errorsOf<T>(schema: Schema<T>, text: string, filename = 'server.conf'): string[] {
  const r = buildConfig(schema, text, { filename });
  if (r.ok) throw new Error(`expected errors, got ${JSON.stringify(r.value)}`);
  return describeIssues(r.errors).split('\n');
}

function valueOf<T>(schema: Schema<T>, text: string): T {
  const r = buildConfig(schema, text, { filename: 'test.conf' });
  if (!r.ok) throw new Error(describeIssues(r.errors));
  return r.value;
}

/** A minimal valid server config with `extra` inside the server block. */
function server(extra: string): string {
  return `server {\n  trust_domain = "example.org"\n${extra}\n}\nplugins {}\n`;
}

describe('buildConfig: a SPIRE server config', () => {
  it('builds the typed value with defaults', () => {
    const r = buildConfig(serverSchema, SERVER_CONF, { filename: 'server.conf' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const v = r.value;
    expect(v.server).toEqual({
      bind_address: '0.0.0.0',
      bind_port: 8081,
      trust_domain: 'example.org',
      ca_ttl: 5_400_000,
      admin_ids: ['spiffe://example.org/admin'],
      log_level: 'INFO',
    });
    expect(v.health_checks).toEqual({ listener_enabled: false, bind_address: 'localhost', bind_port: 80 });
    expect(Object.keys(v.plugins)).toEqual(['DataStore', 'KeyManager']);
    const km = v.plugins['KeyManager']!;
    expect(km.map((e) => [e.key, e.pos.line, e.pos.column, e.value.enabled])).toEqual([
      ['disk', 15, 14, true],
      ['memory', 20, 14, false],
    ]);
    expect(km[0]!.value.plugin_cmd).toBe('/path/bin');
    // plugin_data stays a node, re-printed as text for the plugin's Configure.
    const data = km[0]!.value.plugin_data!;
    expect(data.kind).toBe('object');
    expect(printHCL(data)).toBe('keys_path = "/opt/spire/data/server/keys.json"\n');
    expect(r.notes).toEqual([]);
  });

  it('gives the same value for the JSON form', () => {
    const json = JSON.stringify({
      server: {
        bind_address: '0.0.0.0',
        bind_port: '8081',
        trust_domain: 'example.org',
        ca_ttl: '1h30m',
        admin_ids: ['spiffe://example.org/admin'],
      },
      plugins: {
        DataStore: { sql: { plugin_data: { database_type: 'sqlite3', connection_string: '/opt/spire/data/server/datastore.sqlite3' } } },
        KeyManager: [
          { disk: { plugin_cmd: '/path/bin', plugin_checksum: 'abc123', plugin_data: { keys_path: '/opt/spire/data/server/keys.json' } } },
          { memory: { enabled: false } },
        ],
      },
    });
    const fromHcl = valueOf(serverSchema, SERVER_CONF);
    const fromJson = valueOf(serverSchema, json);
    const comparable = (v: typeof fromHcl): unknown => ({
      ...v,
      plugins: Object.fromEntries(
        Object.entries(v.plugins).map(([type, list]) => [
          type,
          list.map((e) => ({ key: e.key, value: { ...e.value, plugin_data: e.value.plugin_data && toPlain(e.value.plugin_data) } })),
        ]),
      ),
    });
    expect(comparable(fromJson)).toEqual(comparable(fromHcl));
  });

  it('infers the value type from the schema', () => {
    type Config = Infer<typeof serverSchema>;
    type Plugin = { plugin_cmd?: string; plugin_checksum?: string; plugin_data?: ConfigNode; enabled: boolean };
    expectTypeOf<Config>().toEqualTypeOf<{
      server: {
        bind_address: string;
        bind_port: number;
        trust_domain: string;
        ca_ttl: number;
        admin_ids: string[];
        log_level: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
        socket_path?: string;
      };
      plugins: Record<string, ConfigEntry<Plugin>[]>;
      health_checks: { listener_enabled: boolean; bind_address: string; bind_port: number };
    }>();
    const r = buildConfig(serverSchema, SERVER_CONF);
    expectTypeOf(r).toEqualTypeOf<BuildResult<Config>>();
    if (r.ok) {
      // Assignment checks: these compile only with the precise inferred types.
      const port: number = r.value.server.bind_port;
      const level: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' = r.value.server.log_level;
      const socket: string | undefined = r.value.server.socket_path;
      expect([port, level, socket]).toEqual([8081, 'INFO', undefined]);
    }
    expectTypeOf(s.string()).toEqualTypeOf<Schema<string, 'optional'>>();
    expectTypeOf(s.string({ required: true })).toEqualTypeOf<Schema<string, 'required'>>();
    expectTypeOf(s.int({ min: 0, default: 100 })).toEqualTypeOf<Schema<number, 'default'>>();
    expectTypeOf(s.enum(['ec-p256', 'rsa-2048'])).toEqualTypeOf<Schema<'ec-p256' | 'rsa-2048', 'optional'>>();
    expectTypeOf(s.list(s.int())).toEqualTypeOf<Schema<number[], 'optional'>>();
    expectTypeOf(s.map(s.object({ a: s.bool({ required: true }) }))).toEqualTypeOf<Schema<Record<string, { a: boolean }>, 'optional'>>();
    expectTypeOf(s.plain({ required: true })).toEqualTypeOf<Schema<PlainValue, 'required'>>();
    expectTypeOf(s.object({}, { fillDefaults: true }).presence).toEqualTypeOf<'default'>();
    // Type-level only (never called): these must not compile.
    const _typeErrors = (): void => {
      // @ts-expect-error: the default must be one of the values
      s.enum(['a', 'b'], { default: 'c' });
      // @ts-expect-error: the default must have the schema's type
      s.int({ default: 'x' });
      // @ts-expect-error: an optional field may be absent
      const _port: number = ({} as Infer<typeof serverSchema>).server.socket_path;
    };
    void _typeErrors;
  });
});

describe('buildConfig: errors', () => {
  const cases: [string, string, string[]][] = [
    [
      'unknown key with a suggestion',
      server('  bind_adress = "0.0.0.0"'),
      ['server.conf:3:3: unknown key "bind_adress" in server (did you mean "bind_address"?)'],
    ],
    ['unknown key, transposed letters', server('  trsut_domain = "x"'), ['server.conf:3:3: unknown key "trsut_domain" in server (did you mean "trust_domain"?)']],
    ['unknown key, no close match', server('  frobnicate = 1'), ['server.conf:3:3: unknown key "frobnicate" in server']],
    ['unknown top-level key', 'sever {}\n' + server(''), ['server.conf:1:1: unknown key "sever" (did you mean "server"?)']],
    ['wrong type: string for int', server('  bind_port = "abc"'), ['server.conf:3:15: server.bind_port: expected integer, got string "abc"']],
    ['wrong type: float for int', server('  bind_port = 80.5'), ['server.conf:3:15: server.bind_port: expected integer, got number 80.5']],
    ['wrong type: bool for string', server('  bind_address = true'), ['server.conf:3:18: server.bind_address: expected string, got bool true']],
    ['wrong type: string for object', 'server = "x"\nplugins {}', ['server.conf:1:10: server: expected object, got string "x"']],
    ['wrong type: object for list', server('  admin_ids { a = 1 }'), ['server.conf:3:13: server.admin_ids: expected list, got object']],
    ['wrong type in a list item', server('  admin_ids = ["spiffe://a/b", true]'), ['server.conf:3:32: server.admin_ids[1]: expected string, got bool true']],
    [
      'custom check on a list item',
      server('  admin_ids = ["spiffe://a/b", "admin"]'),
      ['server.conf:3:32: server.admin_ids[1]: must be a SPIFFE ID'],
    ],
    ['missing required key', 'server {\n  bind_port = 1\n}\nplugins {}', ['server.conf:1:1: missing required key "trust_domain" in server']],
    ['missing required top-level keys', '', ['server.conf:1:1: missing required key "server"', 'server.conf:1:1: missing required key "plugins"']],
    [
      'duplicate key',
      server('  bind_port = 1\n  bind_port = 2'),
      ['server.conf:4:3: duplicate key "bind_port" in server (first defined at 3:3)'],
    ],
    [
      'duplicate block',
      server('') + 'server {\n  trust_domain = "b"\n}\n',
      ['server.conf:6:1: duplicate key "server" (first defined at 1:1)'],
    ],
    ['out of range', server('  bind_port = 70000'), ['server.conf:3:15: server.bind_port: value 70000 is out of range (must be between 0 and 65535)']],
    ['out of range (negative string)', server('  bind_port = "-1"'), ['server.conf:3:15: server.bind_port: value -1 is out of range (must be between 0 and 65535)']],
    [
      'integer too large',
      server('  bind_port = 99999999999999999999'),
      ['server.conf:3:15: server.bind_port: value 99999999999999999999 is out of range (too large for an integer)'],
    ],
    [
      'enum mismatch',
      server('  log_level = "VERBOSE"'),
      ['server.conf:3:15: server.log_level: invalid value "VERBOSE", expected one of "DEBUG", "INFO", "WARN", "ERROR"'],
    ],
    [
      'enum mismatch with a suggestion',
      server('  log_level = "debug"'),
      ['server.conf:3:15: server.log_level: invalid value "debug", expected one of "DEBUG", "INFO", "WARN", "ERROR" (did you mean "DEBUG"?)'],
    ],
    [
      'bad duration unit',
      server('  ca_ttl = "24x"'),
      ['server.conf:3:12: server.ca_ttl: unknown unit "x" in duration "24x" (valid units: ns, us, ms, s, m, h)'],
    ],
    ['duration without unit', server('  ca_ttl = "24"'), ['server.conf:3:12: server.ca_ttl: missing unit in duration "24" (for example "24s")']],
    ['malformed duration', server('  ca_ttl = "h1"'), ['server.conf:3:12: server.ca_ttl: invalid duration "h1"']],
    ['duration as a number', server('  ca_ttl = 24'), ['server.conf:3:12: server.ca_ttl: expected duration string (like "1h30m"), got number 24']],
    ['duration out of range', server('  ca_ttl = "30s"'), ['server.conf:3:12: server.ca_ttl: duration "30s" is out of range (must be >= 1m0s)']],
    ['empty string', 'server {\n  trust_domain = ""\n}\nplugins {}', ['server.conf:2:18: server.trust_domain: must not be empty']],
    [
      'pattern mismatch',
      'server {\n  trust_domain = "x"\n}\nplugins {\n  KeyManager "disk" {\n    plugin_checksum = "XYZ"\n  }\n}',
      ['server.conf:6:23: plugins.KeyManager.disk.plugin_checksum: invalid value "XYZ" (must match /[0-9a-f]*/)'],
    ],
    [
      'duplicate plugin',
      'server {\n  trust_domain = "x"\n}\nplugins {\n  KeyManager "disk" {}\n  KeyManager "memory" {}\n  KeyManager "disk" {}\n}',
      ['server.conf:7:14: duplicate key "disk" in plugins.KeyManager (first defined at 5:14)'],
    ],
    [
      'duplicate plugin (JSON)',
      '{"server": {"trust_domain": "x"},\n "plugins": {"KeyManager": [{"disk": {}},\n   {"disk": {}}]}}',
      ['server.conf:3:5: duplicate key "disk" in plugins.KeyManager (first defined at 2:30)'],
    ],
    [
      'error deep inside a plugin',
      'server {\n  trust_domain = "x"\n}\nplugins {\n  KeyManager "disk" {\n    enabled = "maybe"\n    plugin_cmd = ["x"]\n  }\n}',
      [
        'server.conf:6:15: plugins.KeyManager.disk.enabled: expected boolean, got string "maybe"',
        'server.conf:7:18: plugins.KeyManager.disk.plugin_cmd: expected string, got list',
      ],
    ],
    [
      'unknown plugin key',
      'server {\n  trust_domain = "x"\n}\nplugins {\n  KeyManager "disk" {\n    plugin_dat {}\n  }\n}',
      ['server.conf:6:5: unknown key "plugin_dat" in plugins.KeyManager.disk (did you mean "plugin_data"?)'],
    ],
    ['plugin type that is not an object', 'server {\n  trust_domain = "x"\n}\nplugins {\n  KeyManager = 5\n}', ['server.conf:5:16: plugins.KeyManager: expected object, got number 5']],
    [
      'several errors, sorted by position',
      'plugins {}\nserver {\n  bind_port = "x"\n  log_level = 1\n  bogus = 2\n}\n',
      [
        'server.conf:2:1: missing required key "trust_domain" in server',
        'server.conf:3:15: server.bind_port: expected integer, got string "x"',
        'server.conf:4:15: server.log_level: invalid value "1", expected one of "DEBUG", "INFO", "WARN", "ERROR"',
        'server.conf:5:3: unknown key "bogus" in server',
      ],
    ],
    ['syntax error', 'server {\n  trust_domain: "x"\n}', ['server.conf:2:15: expected "=" or "{" after key "trust_domain", found ":"']],
  ];
  it.each(cases)('%s', (_name, text, expected) => {
    expect(errorsOf(serverSchema, text)).toEqual(expected);
  });

  it('reports issues with code, path and position', () => {
    const r = buildConfig(serverSchema, server('  bind_adress = 1\n  bind_port = "abc"'), { filename: 'server.conf' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([
      {
        code: 'unknown_key',
        severity: 'error',
        path: 'server.bind_adress',
        message: 'unknown key "bind_adress" in server (did you mean "bind_address"?)',
        pos: { filename: 'server.conf', line: 3, column: 3, offset: 42 },
      },
      {
        code: 'type',
        severity: 'error',
        path: 'server.bind_port',
        message: 'server.bind_port: expected integer, got string "abc"',
        pos: { filename: 'server.conf', line: 4, column: 15, offset: 72 },
      },
    ]);
  });

  it('covers every issue code', () => {
    const codes = (text: string): string[] => {
      const r = buildConfig(serverSchema, text);
      return r.ok ? [] : r.errors.map((e) => e.code);
    };
    expect(codes('server {')).toEqual(['syntax']);
    expect(codes(server('  x = 1'))).toEqual(['unknown_key']);
    expect(codes(server('  bind_port = true'))).toEqual(['type']);
    expect(codes('plugins {}')).toEqual(['missing']);
    expect(codes(server('  bind_port = 1\n  bind_port = 1'))).toEqual(['duplicate']);
    expect(codes(server('  bind_port = -1'))).toEqual(['range']);
    expect(codes(server('  log_level = "x"'))).toEqual(['enum']);
    expect(codes(server('  ca_ttl = "x"'))).toEqual(['duration']);
    expect(codes(server('  admin_ids = ["x"]'))).toEqual(['invalid']);
  });
});

describe('buildConfig: notes and options', () => {
  it('warns about deprecated keys', () => {
    const r = buildConfig(serverSchema, server('  socket_path = "/tmp/s"'), { filename: 'server.conf' });
    expect(r.ok).toBe(true);
    expect(describeIssues(r.notes)).toBe('server.conf:3:3: warning: server.socket_path is deprecated: use bind_address instead');
    expect(r.notes[0]).toMatchObject({ code: 'deprecated', severity: 'warning', path: 'server.socket_path' });
  });

  it('can warn about or ignore unknown keys', () => {
    const warn = s.object({ a: s.int() }, { unknownKeys: 'warn' });
    const r = buildConfig(warn, 'a = 1\nb = 2', { filename: 'p' });
    expect(r).toMatchObject({ ok: true, value: { a: 1 } });
    expect(describeIssues(r.notes)).toBe('p:2:1: warning: unknown key "b"');
    const ignore = s.object({ a: s.int() }, { unknownKeys: 'ignore' });
    expect(buildConfig(ignore, 'a = 1\nb = 2')).toEqual({ ok: true, value: { a: 1 }, notes: [] });
  });

  it('fills defaults of absent objects only with fillDefaults', () => {
    const schema = s.object({
      a: s.object({ x: s.int({ default: 1 }) }),
      b: s.object({ x: s.int({ default: 2 }) }, { fillDefaults: true }),
    });
    expect(valueOf(schema, '')).toEqual({ b: { x: 2 } });
    expect(valueOf(schema, 'a {}\nb { x = 5 }')).toEqual({ a: { x: 1 }, b: { x: 5 } });
  });

  it('returns fresh copies of defaults', () => {
    const schema = s.object({ l: s.list(s.string(), { default: ['a'] }) });
    const one = valueOf(schema, '');
    one.l.push('mutated');
    expect(valueOf(schema, '').l).toEqual(['a']);
  });

  it('runs object-level checks', () => {
    const schema = s.object(
      { min: s.int({ required: true }), max: s.int({ required: true }) },
      { check: (v) => (v.min <= v.max ? undefined : `min (${v.min}) must not exceed max (${v.max})`) },
    );
    expect(valueOf(schema, 'min = 1\nmax = 2')).toEqual({ min: 1, max: 2 });
    expect(errorsOf(s.object({ limits: schema }), 'limits {\n  min = 3\n  max = 2\n}', 'f')).toEqual(['f:1:8: limits: min (3) must not exceed max (2)']);
  });

  it('checks list lengths', () => {
    const schema = s.object({ l: s.list(s.int(), { minItems: 1, maxItems: 2 }) });
    expect(errorsOf(schema, 'l = []', 'f')).toEqual(['f:1:5: l: list has 0 items (must be between 1 and 2 items)']);
    expect(errorsOf(schema, 'l = [1, 2, 3]', 'f')).toEqual(['f:1:5: l: list has 3 items (must be between 1 and 2 items)']);
  });
});

describe('buildConfig: value coercions (HCL v1 decoding rules)', () => {
  const int = s.object({ v: s.int() });
  const num = s.object({ v: s.number() });
  const bool = s.object({ v: s.bool() });
  const str = s.object({ v: s.string() });
  const ok: [string, Schema<{ v?: unknown }>, string, unknown][] = [
    ['int', int, '8081', 8081],
    ['int from digits string', int, '"8081"', 8081],
    ['int from signed string', int, '"-5"', -5],
    ['int from hex literal', int, '0x10', 16],
    ['int from integral float', int, '2.0', 2],
    ['number', num, '1.5', 1.5],
    ['number from string', num, '"2.5e1"', 25],
    ['bool', bool, 'true', true],
    ['bool from "false"', bool, '"false"', false],
    ['bool from "1"', bool, '"1"', true],
    ['bool from "F"', bool, '"F"', false],
    ['string', str, '"x"', 'x'],
    ['string from number literal', str, '0755', '0755'],
    ['string from heredoc', str, '<<EOF\nx\nEOF', 'x\n'],
  ];
  it.each(ok)('accepts %s', (_name, schema, src, expected) => {
    expect(valueOf(schema, `v = ${src}`).v).toEqual(expected);
  });

  const bad: [string, Schema<{ v?: unknown }>, string, string][] = [
    ['int from decimal string', int, '"1.5"', 'expected integer, got string "1.5"'],
    ['int from padded string', int, '" 8081"', 'expected integer, got string " 8081"'],
    ['int from hex string', int, '"0x10"', 'expected integer, got string "0x10"'],
    ['int from list', int, '[1]', 'expected integer, got list'],
    ['number from word', num, '"ten"', 'expected number, got string "ten"'],
    ['bool from "yes"', bool, '"yes"', 'expected boolean, got string "yes"'],
    ['bool from number', bool, '1', 'expected boolean, got number 1'],
    ['string from object', str, '{}', 'expected string, got object'],
    ['long strings are shortened', int, `"${'x'.repeat(60)}"`, `expected integer, got string "${'x'.repeat(37)}..."`],
  ];
  it.each(bad)('rejects %s', (_name, schema, src, message) => {
    expect(errorsOf(schema, `v = ${src}`, 'f')).toEqual([`f:1:5: v: ${message}`]);
  });
});

describe('buildConfig: maps, lists of blocks, entries, raw and plain', () => {
  it('accumulates repeated blocks into a list of objects (HCL and JSON)', () => {
    const schema = s.object({ rule: s.list(s.object({ name: s.string({ required: true }) })) });
    const expected = { rule: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] };
    expect(valueOf(schema, 'rule { name = "a" }\nrule { name = "b" }\nrule = [{ name = "c" }]')).toEqual(expected);
    expect(valueOf(schema, '{"rule": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}')).toEqual(expected);
    expect(valueOf(schema, 'rule { name = "a" }')).toEqual({ rule: [{ name: 'a' }] });
    expect(errorsOf(schema, 'rule { name = "a" }\nrule {}', 'f')).toEqual(['f:2:1: missing required key "name" in rule[1]']);
  });

  it('rejects repeated scalar lists as duplicates', () => {
    const schema = s.object({ ids: s.list(s.string()) });
    expect(errorsOf(schema, 'ids = ["a"]\nids = ["b"]', 'f')).toEqual(['f:2:1: duplicate key "ids" (first defined at 1:1)']);
  });

  it('maps free-form keys, with nested paths in errors', () => {
    const schema = s.object({
      clusters: s.map(s.object({ service_account_allow_list: s.list(s.string(), { required: true }), enabled: s.bool() })),
    });
    const text = 'clusters = {\n  "demo-cluster" = {\n    service_account_allow_list = ["spire:spire-agent"]\n  }\n  "b.c" = { enabled = 1 }\n}';
    expect(errorsOf(schema, text, 'p')).toEqual([
      'p:5:3: missing required key "service_account_allow_list" in clusters."b.c"',
      'p:5:23: clusters."b.c".enabled: expected boolean, got number 1',
    ]);
    expect(valueOf(schema, 'clusters "demo-cluster" { service_account_allow_list = ["x"] }')).toEqual({
      clusters: { 'demo-cluster': { service_account_allow_list: ['x'] } },
    });
    expect(errorsOf(schema, 'clusters "a" { service_account_allow_list = [] }\nclusters "a" { service_account_allow_list = [] }', 'p')).toEqual([
      'p:2:10: duplicate key "a" in clusters (first defined at 1:10)',
    ]);
  });

  it('merges repeated blocks for nested maps (SPIRE plugins)', () => {
    const schema = s.object({ plugins: s.map(s.map(s.object({ plugin_data: s.plain() })), { required: true }) });
    const text = 'plugins {\n  KeyManager "disk" { plugin_data { a = 1 } }\n  NodeAttestor "join_token" {}\n  KeyManager "memory" {}\n}';
    const v = valueOf(schema, text);
    expect(v).toEqual({ plugins: { KeyManager: { disk: { plugin_data: { a: 1 } }, memory: {} }, NodeAttestor: { join_token: {} } } });
    expect(Object.keys(v.plugins['KeyManager']!)).toEqual(['disk', 'memory']);
    expect(errorsOf(schema, 'plugins {\n  KeyManager "disk" {}\n  KeyManager "disk" {}\n}', 'f')).toEqual([
      'f:3:14: duplicate key "disk" in plugins.KeyManager (first defined at 2:14)',
    ]);
  });

  it('keeps order, positions and repeats with entries', () => {
    const schema = s.object({ plugins: s.entries(s.entries(s.object({}, { unknownKeys: 'ignore' })), { required: true }) });
    const v = valueOf(schema, 'plugins {\n  KeyManager "disk" {}\n  NodeAttestor "a" {}\n  KeyManager "disk" {}\n}');
    expect(v.plugins.map((e) => `${e.key}/${e.value.map((x) => x.key).join()}@${e.pos.line}:${e.pos.column}`)).toEqual([
      'KeyManager/disk@2:3',
      'NodeAttestor/a@3:3',
      'KeyManager/disk@4:3',
    ]);
  });

  it('has safe keys in maps and plain values', () => {
    const schema = s.object({ m: s.map(s.int(), { required: true }), p: s.plain() });
    const v = valueOf(schema, 'm { "__proto__" = 1, constructor = 2 }\np { "__proto__" { x = 1 } }');
    expect(Object.keys(v.m)).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(v.m)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
    expect(JSON.stringify(v.p)).toBe('{"__proto__":{"x":1}}');
  });

  it('passes raw plugin_data on as text that the plugin validates with positions', () => {
    const core = valueOf(serverSchema, SERVER_CONF);
    const data = core.plugins['KeyManager']![0]!.value.plugin_data!;
    const text = printHCL(data);
    const diskSchema = s.object({ keys_path: s.string({ required: true }) });
    expect(buildConfigOrThrow(diskSchema, text, { filename: 'plugin_data' })).toEqual({ keys_path: '/opt/spire/data/server/keys.json' });
    // The core can also validate a plugin's data in place, with the file's positions.
    const typed = s.object({
      plugins: s.map(s.map(s.object({ plugin_cmd: s.string(), plugin_checksum: s.string(), plugin_data: s.object({ keys_path: s.string({ required: true }) }) }))),
    });
    const bad = 'plugins {\n  KeyManager "disk" {\n    plugin_data {\n      keys_path = true\n    }\n  }\n}';
    expect(errorsOf(typed, bad)).toEqual(['server.conf:4:19: plugins.KeyManager.disk.plugin_data.keys_path: expected string, got bool true']);
  });

  it('accepts a node as input and ignores parse options then', () => {
    const node = parseConfig('a = 1', { filename: 'x' });
    expect(buildConfig(s.object({ a: s.int() }), node, { format: 'json' })).toEqual({ ok: true, value: { a: 1 }, notes: [] });
  });

  it('validates non-object top-level schemas too', () => {
    expect(valueOf(s.map(s.string()), 'a = "x"\nb = "y"')).toEqual({ a: 'x', b: 'y' });
    expect(valueOf(s.plain(), 'a = [1]')).toEqual({ a: [1] });
  });
});

describe('schema construction errors', () => {
  it('rejects contradictory or invalid options', () => {
    expect(() => s.string({ required: true, default: 'x' })).toThrow(/both required and have a default/);
    expect(() => s.enum(['a', 'b'] as [string, string], { default: 'c' })).toThrow(/enum default "c" is not one of "a", "b"/);
    expect(() => s.duration({ default: 'forever' })).toThrow(/bad duration default/);
    expect(() => s.object({ a: s.int({ required: true }) }, { fillDefaults: true })).toThrow(/fillDefaults: missing required key "a"/);
  });
});

describe('ConfigError and formatting', () => {
  const issue = (n: number): ConfigIssue => ({
    code: 'type',
    severity: 'error',
    message: `problem ${n}`,
    path: `k${n}`,
    pos: { filename: 'f.conf', line: n, column: 2, offset: 0 },
  });

  it('joins the first three issues in its message', () => {
    const err = new ConfigError([1, 2, 3, 4, 5].map(issue));
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ConfigError');
    expect(err.message).toBe('f.conf:1:2: problem 1; f.conf:2:2: problem 2; f.conf:3:2: problem 3 (and 2 more)');
    expect(err.issues).toHaveLength(5);
    expect(new ConfigError([issue(1)]).message).toBe('f.conf:1:2: problem 1');
    expect(new ConfigError([]).message).toBe('invalid configuration');
  });

  it('is thrown by buildConfigOrThrow with all issues', () => {
    let caught: unknown;
    try {
      buildConfigOrThrow(serverSchema, server('  a = 1\n  b = 2\n  c = 3\n  d = 4'), { filename: 'server.conf' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const err = caught as ConfigError;
    expect(err.issues).toHaveLength(4);
    expect(err.message).toBe(
      'server.conf:3:3: unknown key "a" in server; server.conf:4:3: unknown key "b" in server; server.conf:5:3: unknown key "c" in server (and 1 more)',
    );
  });

  it('formats positions with and without file names', () => {
    expect(describeIssues([issue(3)])).toBe('f.conf:3:2: problem 3');
    expect(describeIssues([{ ...issue(3), pos: { filename: '', line: 3, column: 2, offset: 0 } }])).toBe('3:2: problem 3');
    expect(describeIssues([{ ...issue(3), pos: { filename: 'gen', line: 0, column: 0, offset: 0 } }])).toBe('gen: problem 3');
    const { pos: _pos, ...noPos } = issue(3);
    expect(describeIssues([noPos, { ...issue(4), severity: 'warning' }])).toBe('problem 3\nf.conf:4:2: warning: problem 4');
  });

  it('formats key paths', () => {
    expect(formatPath([])).toBe('');
    expect(formatPath(['plugins', 'KeyManager', 'disk', 'plugin_data', 'keys_path'])).toBe('plugins.KeyManager.disk.plugin_data.keys_path');
    expect(formatPath(['server', 'admin_ids', 1])).toBe('server.admin_ids[1]');
    expect(formatPath(['clusters', 'demo-cluster', 'a.b', 'with space'])).toBe('clusters.demo-cluster."a.b"."with space"');
  });
});

describe('durations', () => {
  const good: [string, number][] = [
    ['0', 0],
    ['-0', 0],
    ['24h', 86_400_000],
    ['1h30m', 5_400_000],
    ['300ms', 300],
    ['1.5s', 1500],
    ['.5s', 500],
    ['1.s', 1000],
    ['-1m', -60_000],
    ['+2s', 2000],
    ['1h1m1s1ms', 3_661_001],
    ['1500us', 1.5],
    ['1500µs', 1.5],
    ['1500μs', 1.5],
    ['1000000ns', 1],
    ['1ns', 0.000001],
  ];
  it.each(good)('parses %j', (text, ms) => {
    expect(parseDuration(text)).toBeCloseTo(ms, 9);
  });

  const bad: [string, string][] = [
    ['', 'invalid duration ""'],
    ['24', 'missing unit in duration "24" (for example "24s")'],
    ['1h30', 'missing unit in duration "1h30" (for example "1h30s")'],
    ['24x', 'unknown unit "x" in duration "24x" (valid units: ns, us, ms, s, m, h)'],
    ['1 h', 'unknown unit " h" in duration "1 h" (valid units: ns, us, ms, s, m, h)'],
    ['1d', 'unknown unit "d" in duration "1d" (valid units: ns, us, ms, s, m, h)'],
    ['h', 'invalid duration "h"'],
    ['.s', 'invalid duration ".s"'],
    ['-', 'invalid duration "-"'],
    ['3000000h', 'invalid duration "3000000h" (out of range)'],
  ];
  it.each(bad)('rejects %j', (text, message) => {
    expect(() => parseDuration(text)).toThrow(new RangeError(message));
  });

  const formats: [number, string][] = [
    [0, '0s'],
    [0.000001, '1ns'],
    [0.0015, '1.5µs'],
    [1.5, '1.5ms'],
    [300, '300ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [60_000, '1m0s'],
    [5_400_000, '1h30m0s'],
    [86_400_000, '24h0m0s'],
    [-90_000, '-1m30s'],
  ];
  it.each(formats)('formats %d ms as %j (Go Duration.String)', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBeCloseTo(ms, 9);
  });
});
