import { describe, expect, it } from 'vitest';
import type { FlagValues } from '@spire-ts/agent';
import { BUNDLE, agent, check, fixture, lines } from './helpers.js';

const plugins = (body: string): string => `plugins {\n${body}\n}\n`;

describe('validateConfig: errors (SPIRE run.go rules)', () => {
  const cases: [string, string, FlagValues, string[]][] = [
    ['a minimal configuration is valid', agent(), {}, []],
    ['the agent_full-like fixture is valid', fixture('agent-full.conf'), {}, []],
    [
      'no agent block',
      PLUGINS_ONLY(),
      {},
      [
        'agent.conf:1:1: missing required block "agent" (agent { ... })',
        'agent.conf:1:1: missing required key "server_address" in agent (or set it with -serverAddress)',
        'agent.conf:1:1: missing required key "server_port" in agent (or set it with -serverPort)',
        'agent.conf:1:1: missing required key "trust_domain" in agent (or set it with -trustDomain)',
        'agent.conf:1:1: no bootstrap trust bundle: set trust_bundle_path (-trustBundle), trust_bundle_url (-trustBundleUrl) or trust_bundle_spiffe_workload_api, or insecure_bootstrap = true',
      ],
    ],
    ['required keys may come from flags', PLUGINS_ONLY('agent {}\n'), { serverAddress: 'spire', serverPort: 8081, trustDomain: 'example.org', insecureBootstrap: true }, []],
    [
      'no trust bundle source',
      agent(''),
      {},
      ['agent.conf:1:1: no bootstrap trust bundle: set trust_bundle_path (-trustBundle), trust_bundle_url (-trustBundleUrl) or trust_bundle_spiffe_workload_api, or insecure_bootstrap = true'],
    ],
    [
      'trust_bundle_path and trust_bundle_url',
      agent(`${BUNDLE}\n  trust_bundle_url = "https://example.org/bundle"`),
      {},
      ['agent.conf:6:22: set only one of trust_bundle_path or trust_bundle_url, not both'],
    ],
    [
      'insecure_bootstrap with a trust bundle path',
      agent(`${BUNDLE}\n  insecure_bootstrap = true`),
      {},
      ['agent.conf:5:23: trust_bundle_path cannot be used with insecure_bootstrap: set only one way to get the bootstrap trust bundle'],
    ],
    [
      'insecure_bootstrap from a flag with a trust bundle url',
      agent('  trust_bundle_url = "https://example.org/bundle"'),
      { insecureBootstrap: true },
      ['agent.conf:5:22: trust_bundle_url cannot be used with insecure_bootstrap (-insecureBootstrap): set only one way to get the bootstrap trust bundle'],
    ],
    ['an http:// trust_bundle_url', agent('  trust_bundle_url = "http://example.org/bundle"'), {}, ['agent.conf:5:22: trust_bundle_url: must start with https:// (got "http://example.org/bundle")']],
    [
      'trust_bundle_unix_socket without a url',
      agent(`${BUNDLE}\n  trust_bundle_unix_socket = "/run/bundle.sock"`),
      {},
      ['agent.conf:6:30: trust_bundle_unix_socket needs trust_bundle_url (the URL to fetch over that socket)'],
    ],
    [
      'a unix-socket url with https and a reserved query parameter',
      agent('  trust_bundle_url = "https://localhost/b?spiffe-x=1"\n  trust_bundle_unix_socket = "/run/bundle.sock"'),
      {},
      [
        'agent.conf:5:22: trust_bundle_url: must start with http:// when used with trust_bundle_unix_socket',
        'agent.conf:5:22: trust_bundle_url: query parameter "spiffe-x" is reserved (no "spiffe-" or "spire-" prefixes)',
      ],
    ],
    [
      'trust_bundle_spiffe_workload_api with insecure_bootstrap and a bad address',
      agent('  trust_bundle_spiffe_workload_api = "/run/api.sock"\n  insecure_bootstrap = true'),
      {},
      [
        'agent.conf:6:24: set only one of insecure_bootstrap or trust_bundle_spiffe_workload_api, not both',
        'agent.conf:5:38: trust_bundle_spiffe_workload_api "/run/api.sock" is not a Workload API address (expected "unix:///path/to/socket" or "tcp://host:port")',
      ],
    ],
    ['join_token and join_token_file', agent(`${BUNDLE}\n  join_token_file = "/t"`), { joinToken: 'abc' }, ['agent.conf:6:21: set only one of join_token (-joinToken) or join_token_file, not both']],
    [
      'insecure_bootstrap with rebootstrapping',
      agent('  insecure_bootstrap = true\n  rebootstrap_mode = "auto"'),
      {},
      ['agent.conf:6:22: rebootstrap_mode "auto" cannot be used with insecure_bootstrap: rebootstrapping needs a trust bundle source'],
    ],
    ['a short availability_target', agent(`${BUNDLE}\n  availability_target = "1h"`), {}, ['agent.conf:6:25: availability_target (1h0m0s) must be at least 24h']],
    ['no KeyManager', agent(BUNDLE, plugins('  NodeAttestor "join_token" {}\n  WorkloadAttestor "unix" {}')), {}, ['agent.conf:7:1: plugins: exactly one KeyManager plugin is required, found none; for example KeyManager "disk" or KeyManager "memory"']],
    [
      'two KeyManagers',
      agent(BUNDLE, plugins('  KeyManager "memory" {}\n  KeyManager "disk" {}\n  NodeAttestor "join_token" {}\n  WorkloadAttestor "unix" {}')),
      {},
      ['agent.conf:9:14: plugins.KeyManager: exactly one KeyManager plugin is allowed; KeyManager "memory" is already declared at line 8'],
    ],
    [
      'a disabled NodeAttestor',
      agent(BUNDLE, plugins('  KeyManager "memory" {}\n  NodeAttestor "join_token" {\n    enabled = false\n  }\n  WorkloadAttestor "unix" {}')),
      {},
      ['agent.conf:7:1: plugins: exactly one NodeAttestor plugin is required, found none enabled (NodeAttestor "join_token" has enabled = false); for example NodeAttestor "join_token"'],
    ],
    [
      'no WorkloadAttestor',
      agent(BUNDLE, plugins('  KeyManager "memory" {}\n  NodeAttestor "join_token" {}')),
      {},
      ['agent.conf:7:1: plugins: at least one WorkloadAttestor plugin is required, found none; for example WorkloadAttestor "unix"'],
    ],
    ['no plugins', agent(BUNDLE, ''), {}, ['agent.conf:1:1: missing required key "plugins" (the agent needs a KeyManager, a NodeAttestor and a WorkloadAttestor plugin)']],
    ['a named pipe on Linux', agent(`${BUNDLE}\n  experimental { named_pipe_name = "\\\\spire" }`), {}, ['agent.conf:6:18: agent.experimental.named_pipe_name: named pipes exist only on Windows; use agent.socket_path instead']],
    [
      'a jwt_svid_cache_hit_timeout out of range',
      agent(`${BUNDLE}\n  experimental { jwt_svid_cache_hit_timeout = "1m" }`),
      {},
      ['agent.conf:6:47: agent.experimental.jwt_svid_cache_hit_timeout (1m0s) must be greater than 5s and less than 30s'],
    ],
    [
      'a broker without a socket, with a wildcard among other types',
      agent(`${BUNDLE}\n  experimental {\n    broker {\n      brokers = [{ id = "b1", allowed_reference_types = [{ type_url = "*" }, { type_url = "x" }] }]\n    }\n  }`),
      {},
      [
        'agent.conf:7:5: agent.experimental.broker needs socket_path, bind_address, or both',
        'agent.conf:8:18: agent.experimental.broker.brokers[b1].allowed_reference_types: the wildcard "*" must be the only allowed reference type',
      ],
    ],
  ];
  it.each(cases)('%s', (_name, text, flags, expected) => {
    expect(lines(check(text, flags).errors)).toEqual(expected);
  });
});

describe('validateConfig: warnings', () => {
  const cases: [string, string, string[]][] = [
    ['experimental features', agent(`${BUNDLE}\n  experimental { sync_interval = "1s" }`), ['agent.conf:6:3: warning: experimental features are enabled: they may change or go away in any release']],
    [
      'a developer feature flag',
      agent(`${BUNDLE}\n  experimental { feature_flags = ["i_am_a_test_flag"] }`),
      ['agent.conf:6:3: warning: experimental features are enabled: they may change or go away in any release', 'agent.conf:6:34: warning: developer feature flag "i_am_a_test_flag" is enabled'],
    ],
    [
      'the same SDS bundle names',
      agent(`${BUNDLE}\n  sds { default_bundle_name = "ALL" }`),
      ['agent.conf:6:3: warning: sds: default_bundle_name and default_all_bundles_name are the same, so default_all_bundles_name is ignored; give them distinct values (SPIRE will make this an error)'],
    ],
  ];
  it.each(cases)('%s', (_name, text, expected) => {
    const v = check(text);
    expect(lines(v.errors)).toEqual([]);
    expect(lines(v.warnings)).toEqual(expected);
  });

  it('accepts named pipes on Windows', () => {
    expect(check(agent(`${BUNDLE}\n  experimental { named_pipe_name = "\\\\spire" }`), {}, 'win32').errors).toEqual([]);
  });
});

function PLUGINS_ONLY(prefix = ''): string {
  return `${prefix}plugins {\n  KeyManager "memory" {}\n  NodeAttestor "join_token" {}\n  WorkloadAttestor "unix" {}\n}\n`;
}
