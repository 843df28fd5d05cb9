import { describe, expect, it } from 'vitest';
import { printHCL, toPlain } from '@spire-ts/plugin-sdk';
import { parseFile } from '@spire-ts/server';
import type { FileConfig } from '@spire-ts/server';
import { PLUGINS, fixture, lines, server } from './helpers.js';

function parsed(text: string, opts: Partial<Parameters<typeof parseFile>[1]> = {}): FileConfig {
  const r = parseFile(text, { filename: 'server.conf', ...opts });
  if (!r.ok) throw new Error(lines(r.errors).join('\n'));
  return r.file;
}

function errors(text: string, opts: Partial<Parameters<typeof parseFile>[1]> = {}): string[] {
  const r = parseFile(text, { filename: 'server.conf', ...opts });
  if (r.ok) throw new Error('expected errors');
  return lines(r.errors);
}

/** The parsed file without positions or nodes, to compare HCL with JSON. */
function comparable(f: FileConfig): unknown {
  return JSON.parse(
    JSON.stringify(f, (key, value: unknown) => {
      if (key === 'pos') return undefined;
      if (key === 'plugin_data' && value && typeof value === 'object') return printHCL(value as Parameters<typeof printHCL>[0]);
      return value;
    }),
  );
}

describe('parseFile: a full SPIRE-shaped server.conf', () => {
  const hcl = parsed(fixture('server-full.conf'), { filename: 'server-full.conf' });

  it('decodes every section into typed values', () => {
    const s = hcl.server!;
    expect(s.trust_domain).toBe('acme.test');
    expect(s.bind_port).toBe(9081);
    expect(s.ca_ttl).toBe(72 * 3_600_000);
    expect(s.default_jwt_svid_ttl).toBe(10 * 60_000);
    expect(s.ca_subject).toEqual({ country: ['DE'], organization: ['Acme'], common_name: 'acme ca' });
    expect(s.ratelimit).toEqual({ attestation: false, signing: true });
    expect(s.federation?.bundle_endpoint?.profile?.https_web?.acme).toEqual({ domain_name: 'bundle.acme.test', email: 'pki@acme.test', tos_accepted: true });
    expect(s.federation?.federates_with?.map((e) => [e.key, e.pos.line])).toEqual([
      ['partner.test', 32],
      ['web.test', 38],
    ]);
    expect(s.experimental?.auth_opa_policy_engine?.local?.rego_path).toBe('./policy.rego');
    expect(s.profiling_names).toEqual(['heap', 'cpu']);
    expect(hcl.plugins?.map((t) => `${t.key}:${t.value.map((p) => p.key).join(',')}`)).toEqual([
      'DataStore:sql',
      'KeyManager:memory',
      'NodeAttestor:join_token',
      'UpstreamAuthority:disk',
      'Notifier:k8sbundle',
    ]);
    expect(hcl.health_checks).toEqual({ listener_enabled: true, bind_address: '0.0.0.0', bind_port: 8080, live_path: '/alive', ready_path: '/healthy' });
    expect(hcl.telemetry?.Statsd).toEqual([{ address: 'localhost:1337' }, { address: 'collector.acme.test:8125' }]);
  });

  it('gives the same configuration for the JSON form', () => {
    const json = parsed(fixture('server-full.json'), { filename: 'server-full.json' });
    expect(comparable(json)).toEqual(comparable(hcl));
  });

  it('notes that telemetry is not implemented yet', () => {
    const r = parseFile(fixture('server-full.conf'), { filename: 'server-full.conf' });
    expect(lines(r.notes)).toEqual(['server-full.conf:108:1: warning: telemetry is accepted but not implemented yet: no metrics are collected or exported']);
  });

  it('applies the health_checks defaults when the block is absent', () => {
    expect(parsed(server()).health_checks).toEqual({ listener_enabled: false, bind_address: 'localhost', bind_port: 80, live_path: '/live', ready_path: '/ready' });
  });
});

describe('parseFile: bad configuration, every problem with file:line:col', () => {
  const federation = (inner: string): string =>
    server(`  federation {\n    federates_with "b.test" {\n      bundle_endpoint_url = "https://b.test"\n${inner}\n    }\n  }`);
  const cases: [string, string, string[]][] = [
    ['unknown key with a suggestion', server('  bind_adress = "0.0.0.0"'), ['server.conf:4:3: unknown key "bind_adress" in server (did you mean "bind_address"?)']],
    ['unknown key, transposed letters', server('  ca_tlt = "1h"'), ['server.conf:4:3: unknown key "ca_tlt" in server (did you mean "ca_ttl"?)']],
    ['unknown key, nothing close', server('  frobnicate = 1'), ['server.conf:4:3: unknown key "frobnicate" in server']],
    ['unknown top-level key', server() + 'healthchecks {}\n', ['server.conf:10:1: unknown key "healthchecks" (did you mean "health_checks"?)']],
    [
      'unknown key in a nested block',
      server('  ratelimit {\n    attestaton = true\n  }'),
      ['server.conf:5:5: unknown key "attestaton" in server.ratelimit (did you mean "attestation"?)'],
    ],
    [
      'unknown key in health_checks',
      'health_checks {\n  listener_enable = true\n}\n' + server(),
      ['server.conf:2:3: unknown key "listener_enable" in health_checks (did you mean "listener_enabled"?)'],
    ],
    ['unknown key in experimental', server('  experimental {\n    events_based_cahce = true\n  }'), ['server.conf:5:5: unknown key "events_based_cahce" in server.experimental (did you mean "events_based_cache"?)']],
    ['unknown telemetry sink', server() + 'telemetry {\n  Prometheus {}\n  Prometeus {}\n}\n', ['server.conf:12:3: unknown key "Prometeus" in telemetry (did you mean "Prometheus"?)']],
    ['wrong type: string for integer', server('  bind_port = "abc"'), ['server.conf:4:15: server.bind_port: expected integer, got string "abc"']],
    ['wrong type: string for list', server('  admin_ids = "spiffe://example.org/a"'), ['server.conf:4:15: server.admin_ids: expected list, got string "spiffe://example.org/a"']],
    ['wrong type: string for boolean', server('  audit_log_enabled = "maybe"'), ['server.conf:4:23: server.audit_log_enabled: expected boolean, got string "maybe"']],
    ['wrong type: string for block', 'server = "x"\n' + PLUGINS, ['server.conf:1:10: server: expected object, got string "x"']],
    ['port out of range', server('  bind_port = 80810'), ['server.conf:4:15: server.bind_port: value 80810 is out of range (must be between 0 and 65535)']],
    [
      'bad trust domain: uppercase',
      'server {\n  trust_domain = "Example.org"\n}\n' + PLUGINS,
      ['server.conf:2:18: server.trust_domain: invalid trust domain "Example.org": only lowercase letters, digits, ".", "-" and "_" are allowed (did you mean "example.org"?)'],
    ],
    [
      'bad trust domain: a SPIFFE ID',
      'server {\n  trust_domain = "spiffe://example.org"\n}\n' + PLUGINS,
      ['server.conf:2:18: server.trust_domain: must be a bare trust domain name like "example.org", not a SPIFFE ID or URL'],
    ],
    ['bad trust domain: a port', 'server {\n  trust_domain = "example.org:443"\n}\n' + PLUGINS, ['server.conf:2:18: server.trust_domain: trust domain must not have a port (use "example.org")']],
    ['bad duration: unknown unit', server('  ca_ttl = "1d"'), ['server.conf:4:12: server.ca_ttl: unknown unit "d" in duration "1d" (valid units: ns, us, ms, s, m, h)']],
    [
      'bad duration: no unit',
      server('  default_x509_svid_ttl = "3600"'),
      ['server.conf:4:27: server.default_x509_svid_ttl: missing unit in duration "3600" (for example "3600s")'],
    ],
    ['bad duration: a number', server('  ca_ttl = 24'), ['server.conf:4:12: server.ca_ttl: expected duration string (like "1h30m"), got number 24']],
    ['bad duration: zero', server('  ca_ttl = "0s"'), ['server.conf:4:12: server.ca_ttl: must be greater than zero']],
    [
      'bad log level',
      server('  log_level = "VERBOSE"'),
      ['server.conf:4:15: server.log_level: invalid log level "VERBOSE" (expected DEBUG, INFO, WARN or ERROR, in any case)'],
    ],
    ['bad log format', server('  log_format = "xml"'), ['server.conf:4:16: server.log_format: invalid log format "xml" (expected "text" or "json")']],
    [
      'bad key type',
      server('  ca_key_type = "ec-p521"'),
      ['server.conf:4:17: server.ca_key_type: unknown key type "ec-p521" (expected one of ec-p256, ec-p384, rsa-2048, rsa-4096)'],
    ],
    [
      'bad admin ID',
      server('  admin_ids = ["spiffe://example.org/ok", "example.org/admin"]'),
      ['server.conf:4:43: server.admin_ids[1]: invalid SPIFFE ID "example.org/admin": must start with "spiffe://"'],
    ],
    [
      'bad CIDR',
      server('  proxy_protocol_trusted_cidrs = ["10.0.0.0"]'),
      ['server.conf:4:35: server.proxy_protocol_trusted_cidrs[0]: invalid CIDR "10.0.0.0" (expected an address and a prefix length, like "10.0.0.0/8")'],
    ],
    [
      'federation: plain http bundle endpoint',
      server('  federation {\n    federates_with "b.test" {\n      bundle_endpoint_url = "http://b.test"\n      bundle_endpoint_profile "https_web" {}\n    }\n  }'),
      ['server.conf:6:29: server.federation.federates_with."b.test".bundle_endpoint_url: must use https:// (got "http://b.test")'],
    ],
    [
      'federation: no bundle endpoint profile',
      federation(''),
      ['server.conf:5:20: missing required key "bundle_endpoint_profile" in server.federation.federates_with."b.test"'],
    ],
    [
      'federation: unknown profile',
      federation('      bundle_endpoint_profile "http_web" {}'),
      ['server.conf:7:31: unknown key "http_web" in server.federation.federates_with."b.test".bundle_endpoint_profile (did you mean "https_web"?)'],
    ],
    [
      'federation: https_spiffe without endpoint_spiffe_id',
      federation('      bundle_endpoint_profile "https_spiffe" {}'),
      ['server.conf:7:31: missing required key "endpoint_spiffe_id" in server.federation.federates_with."b.test".bundle_endpoint_profile.https_spiffe'],
    ],
    [
      'federation: two profiles',
      federation('      bundle_endpoint_profile "https_web" {}\n      bundle_endpoint_profile "https_spiffe" { endpoint_spiffe_id = "spiffe://b.test/s" }'),
      ['server.conf:8:7: duplicate key "bundle_endpoint_profile" in server.federation.federates_with."b.test" (first defined at 7:7)'],
    ],
    [
      'federation: the same trust domain twice',
      server('  federation {\n    federates_with "b.test" {}\n    federates_with "b.test" {}\n  }'),
      [
        'server.conf:5:20: missing required key "bundle_endpoint_url" in server.federation.federates_with."b.test"',
        'server.conf:5:20: missing required key "bundle_endpoint_profile" in server.federation.federates_with."b.test"',
        'server.conf:6:20: duplicate key "b.test" in server.federation.federates_with (first defined at 5:20)',
      ],
    ],
    [
      'bundle endpoint: acme and profile both',
      server('  federation {\n    bundle_endpoint {\n      acme {\n        domain_name = "a.test"\n        email = "x@a.test"\n      }\n      profile "https_spiffe" {}\n    }\n  }'),
      ['server.conf:5:21: server.federation.bundle_endpoint: set either "acme" or "profile", not both'],
    ],
    [
      'bundle endpoint: https_web without acme or serving_cert_file',
      server('  federation {\n    bundle_endpoint {\n      profile "https_web" {}\n    }\n  }'),
      ['server.conf:6:27: server.federation.bundle_endpoint.profile.https_web: the https_web profile needs exactly one of "acme" or "serving_cert_file"'],
    ],
    [
      'unknown profiling name',
      server('  profiling_names = ["heap", "hep"]'),
      ['server.conf:4:30: server.profiling_names[1]: invalid value "hep", expected one of "goroutine", "threadcreate", "heap", "block", "mutex", "trace", "cpu" (did you mean "heap"?)'],
    ],
    [
      'unknown feature flag',
      server('  experimental {\n    feature_flags = ["wit_svid"]\n  }'),
      ['server.conf:5:22: server.experimental.feature_flags[0]: unknown feature flag "wit_svid" (known: i_am_a_test_flag, wit-svid)'],
    ],
    ['health check path', 'health_checks {\n  live_path = "live"\n}\n' + server(), ['server.conf:2:15: health_checks.live_path: must start with "/" (got "live")']],
    ['duplicate key', server('  bind_port = 1\n  bind_port = 2'), ['server.conf:5:3: duplicate key "bind_port" in server (first defined at 4:3)']],
    ['syntax error', 'server {\n  trust_domain: "x"\n}', ['server.conf:2:15: expected "=" or "{" after key "trust_domain", found ":"']],
    [
      'several problems, in file order',
      'plugins {}\nserver {\n  bind_port = "x"\n  log_level = "loud"\n  bogus = 2\n  ca_ttl = "forever"\n}\n',
      [
        'server.conf:3:15: server.bind_port: expected integer, got string "x"',
        'server.conf:4:15: server.log_level: invalid log level "loud" (expected DEBUG, INFO, WARN or ERROR, in any case)',
        'server.conf:5:3: unknown key "bogus" in server',
        'server.conf:6:12: server.ca_ttl: invalid duration "forever"',
      ],
    ],
  ];
  it.each(cases)('%s', (_name, text, expected) => expect(errors(text)).toEqual(expected));

  it('reports the same errors in the JSON form, at their JSON positions', () => {
    const json = '{\n  "server": {\n    "trust_domain": "example.org",\n    "bind_adress": "0.0.0.0",\n    "bind_port": "x"\n  }\n}\n';
    expect(errors(json)).toEqual([
      'server.conf:4:5: unknown key "bind_adress" in server (did you mean "bind_address"?)',
      'server.conf:5:18: server.bind_port: expected integer, got string "x"',
    ]);
  });

  it('warns about deprecated keys', () => {
    const r = parseFile(server('  experimental {\n    sql_transaction_timeout = "1m"\n  }'), { filename: 'server.conf' });
    expect(r.ok).toBe(true);
    expect(lines(r.notes)).toEqual(['server.conf:5:5: warning: server.experimental.sql_transaction_timeout is deprecated: use experimental.event_timeout instead']);
  });
});

describe('parseFile: -expandEnv', () => {
  const text = 'server {\n  trust_domain = "${TD}"\n  data_dir = "$DATA/server"\n  jwt_issuer = "https://$$issuer"\n  bind_port = $PORT\n}\n' + PLUGINS;
  const env = { TD: 'acme.test', DATA: '/srv/spire', PORT: '9443' };

  it('expands $VAR and ${VAR}, keeps $$ as $', () => {
    const f = parsed(text, { expandEnv: true, env });
    expect(f.server).toMatchObject({ trust_domain: 'acme.test', data_dir: '/srv/spire/server', jwt_issuer: 'https://$issuer', bind_port: 9443 });
  });

  it('accepts a lookup function', () => {
    const f = parsed(text, { expandEnv: true, env: (name) => (name === 'PORT' ? '1' : name === 'TD' ? 'x.test' : undefined) });
    expect(f.server).toMatchObject({ trust_domain: 'x.test', data_dir: '/server', bind_port: 1 });
  });

  it('leaves the text alone without the flag', () => {
    expect(errors(text, { env })).toEqual(['server.conf:5:15: expected value after "=" for key "bind_port", found "$"']);
    expect(errors('server {\n  trust_domain = "${TD}"\n}\n', { env })).toEqual([
      'server.conf:2:18: server.trust_domain: invalid trust domain "${TD}": only lowercase letters, digits, ".", "-" and "_" are allowed',
    ]);
  });

  it('reports an unset variable at its position', () => {
    expect(errors(text, { expandEnv: true, env: { DATA: '/d', PORT: '1' } })).toEqual(['server.conf:2:18: server.trust_domain: trust domain must not be empty']);
  });
});

describe('parseFile: plugin_data stays as written for the plugin', () => {
  it('keeps the node, re-printed as HCL', () => {
    const f = parsed(server('', 'plugins {\n  DataStore "sql" {\n    plugin_data {\n      database_type = "sqlite3"\n    }\n  }\n}\n'));
    const ds = f.plugins?.[0]?.value[0]?.value.plugin_data;
    expect(ds && toPlain(ds)).toEqual({ database_type: 'sqlite3' });
  });
});
