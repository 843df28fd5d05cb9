import { describe, expect, it } from 'vitest';
import { describeIssues } from '@spire-ts/plugin-sdk';
import { loadConfig } from '@spire-ts/server';
import type { FlagValues, LoadIO, RuntimeConfig } from '@spire-ts/server';
import { fixture, lines, PLUGINS } from './helpers.js';

/** An in-memory file system rooted at /etc/spire. */
function io(files: Record<string, string>, env: Record<string, string> = {}): LoadIO {
  return {
    cwd: '/etc/spire',
    env,
    readFile: (p) => {
      const f = files[p];
      if (f === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' });
      return f;
    },
  };
}

function load(files: Record<string, string>, flags: FlagValues = { config: 'server.conf' }, env: Record<string, string> = {}): RuntimeConfig {
  const r = loadConfig(flags, io(files, env));
  if (!r.ok) throw new Error(describeIssues(r.errors));
  return r.config;
}

function loadErrors(files: Record<string, string>, flags: FlagValues = { config: 'server.conf' }): string[] {
  const r = loadConfig(flags, io(files));
  if (r.ok) throw new Error('expected errors');
  return lines(r.errors);
}

const MINIMAL = 'server {\n  trust_domain = "example.org"\n  data_dir = "./data"\n}\n' + PLUGINS;

describe('toRuntimeConfig (through loadConfig)', () => {
  it('resolves SPIRE defaults for a minimal configuration', () => {
    const c = load({ '/etc/spire/server.conf': MINIMAL });
    expect(c).toEqual({
      configPath: 'server.conf',
      trustDomain: 'example.org',
      bindAddress: '0.0.0.0',
      bindPort: 8081,
      socketPath: '/tmp/spire-server/private/api.sock',
      dataDir: '/etc/spire/data',
      log: { level: 'info', format: 'text', file: undefined, sourceLocation: false },
      ca: { keyType: 'ec-p256', ttlMs: 86_400_000, subject: { country: ['US'], organization: ['SPIFFE'], commonName: undefined } },
      jwt: { keyType: 'ec-p256', issuer: undefined, disabled: false },
      wit: { keyType: 'ec-p256', issuer: undefined },
      x509SvidTtlMs: 3_600_000,
      jwtSvidTtlMs: 300_000,
      agentTtlMs: 3_600_000,
      adminIds: [],
      auditLogEnabled: false,
      rateLimit: { attestation: true, signing: true },
      federation: { bundleEndpoint: undefined, federatesWith: [] },
      pruneAttestedNodes: undefined,
      proxyProtocolTrustedCidrs: [],
      maxAttestedNodeInfoStalenessMs: 0,
      profiling: { enabled: false, port: 0, freq: 0, names: [] },
      experimental: {
        agentSpiffeIdAsSelector: false,
        cacheReloadIntervalMs: undefined,
        fullCacheReloadIntervalMs: undefined,
        eventsBasedCache: false,
        pruneEventsOlderThanMs: undefined,
        eventTimeoutMs: undefined,
        requirePqKem: false,
        authOpaPolicyEngine: undefined,
        featureFlags: [],
      },
      healthChecks: { listenerEnabled: false, bindAddress: 'localhost', bindPort: 80, livePath: '/live', readyPath: '/ready' },
      telemetry: undefined,
      plugins: [
        { type: 'DataStore', name: 'sql', enabled: true },
        { type: 'KeyManager', name: 'memory', enabled: true },
      ],
    });
  });

  it('carries every key of the full configuration', () => {
    const c = load({ '/etc/spire/server-full.conf': fixture('server-full.conf') }, { config: 'server-full.conf' });
    expect(c).toMatchObject({
      trustDomain: 'acme.test',
      bindAddress: '127.0.0.1',
      bindPort: 9081,
      socketPath: '/run/spire-ts/server/api.sock',
      dataDir: '/var/lib/spire-ts/server',
      log: { level: 'debug', format: 'json', file: '/var/log/spire-ts/server.log', sourceLocation: true },
      ca: { keyType: 'ec-p384', ttlMs: 72 * 3_600_000, subject: { country: ['DE'], organization: ['Acme'], commonName: 'acme ca' } },
      jwt: { keyType: 'rsa-2048', issuer: 'https://oidc.acme.test', disabled: false },
      wit: { keyType: 'ec-p256', issuer: 'acme-wit' },
      x509SvidTtlMs: 2 * 3_600_000,
      jwtSvidTtlMs: 600_000,
      agentTtlMs: 2 * 3_600_000,
      adminIds: ['spiffe://acme.test/ops/admin', 'spiffe://partner.test/ops/admin'],
      auditLogEnabled: true,
      rateLimit: { attestation: false, signing: true },
      federation: {
        bundleEndpoint: {
          address: '0.0.0.0',
          port: 8443,
          refreshHintMs: 600_000,
          profile: {
            kind: 'https_web',
            acme: {
              directoryUrl: 'https://acme-v02.api.letsencrypt.org/directory',
              domainName: 'bundle.acme.test',
              email: 'pki@acme.test',
              tosAccepted: true,
              cacheDir: '/var/lib/spire-ts/server/bundle-acme',
            },
          },
        },
        federatesWith: [
          { trustDomain: 'partner.test', bundleEndpointUrl: 'https://bundle.partner.test:8443', profile: { kind: 'https_spiffe', endpointSpiffeId: 'spiffe://partner.test/spire/server' } },
          { trustDomain: 'web.test', bundleEndpointUrl: 'https://web.test/bundle.json', profile: { kind: 'https_web' } },
        ],
      },
      pruneAttestedNodes: { expiredForMs: 720 * 3_600_000, batchSize: 500, includeNonReattestable: true },
      proxyProtocolTrustedCidrs: ['10.0.0.0/8', 'fd00::/8'],
      maxAttestedNodeInfoStalenessMs: 30_000,
      profiling: { enabled: true, port: 6060, freq: 30, names: ['heap', 'cpu'] },
      experimental: {
        agentSpiffeIdAsSelector: true,
        cacheReloadIntervalMs: 10_000,
        fullCacheReloadIntervalMs: 12 * 3_600_000,
        eventsBasedCache: true,
        pruneEventsOlderThanMs: 6 * 3_600_000,
        eventTimeoutMs: 300_000,
        requirePqKem: false,
        authOpaPolicyEngine: { regoPath: './policy.rego', policyDataPath: './policy_data.json' },
        featureFlags: ['wit-svid'],
      },
      healthChecks: { listenerEnabled: true, bindAddress: '0.0.0.0', bindPort: 8080, livePath: '/alive', readyPath: '/healthy' },
      telemetry: { Prometheus: { port: 9988 }, MetricPrefix: 'acme' },
    });
    expect(c.plugins.map((p) => [p.type, p.name, p.enabled])).toEqual([
      ['DataStore', 'sql', true],
      ['KeyManager', 'memory', true],
      ['NodeAttestor', 'join_token', true],
      ['UpstreamAuthority', 'disk', true],
      ['Notifier', 'k8sbundle', false],
    ]);
    expect(c.plugins[0]!.pluginData).toBe('database_type = "sqlite3"\nconnection_string = "/var/lib/spire-ts/server/datastore.sqlite3"\n');
  });

  it('gives the same runtime configuration for the JSON form', () => {
    const hcl = load({ '/etc/spire/s.conf': fixture('server-full.conf') }, { config: 's.conf' });
    const json = load({ '/etc/spire/s.json': fixture('server-full.json') }, { config: 's.json' });
    expect({ ...json, configPath: '' }).toEqual({ ...hcl, configPath: '' });
  });

  it('takes the JWT and WIT key types from ca_key_type unless set', () => {
    const c = load({ '/etc/spire/server.conf': MINIMAL.replace('server {', 'server {\n  ca_key_type = "RSA-4096"') });
    expect([c.ca.keyType, c.jwt.keyType, c.wit.keyType]).toEqual(['rsa-4096', 'rsa-4096', 'rsa-4096']);
  });
});

describe('loadConfig: files, flags and -expandEnv', () => {
  it('names the missing config file and the flag to use', () => {
    expect(loadErrors({}, {})).toEqual(['could not find config file /etc/spire/conf/server/server.conf: please use the -config flag']);
    expect(loadErrors({}, { config: '/x/server.conf' })).toEqual(['could not find config file /x/server.conf: please use the -config flag']);
  });

  it('reads conf/server/server.conf by default', () => {
    expect(load({ '/etc/spire/conf/server/server.conf': MINIMAL }, {}).configPath).toBe('conf/server/server.conf');
  });

  const flagCases: [string, FlagValues, Partial<RuntimeConfig>][] = [
    ['-trustDomain', { trustDomain: 'flag.test' }, { trustDomain: 'flag.test' }],
    ['-bindAddress and -serverPort', { bindAddress: '127.0.0.1', serverPort: 9999 }, { bindAddress: '127.0.0.1', bindPort: 9999 }],
    ['-socketPath (relative to the working directory)', { socketPath: 'run/api.sock' }, { socketPath: '/etc/spire/run/api.sock' }],
    ['-dataDir', { dataDir: '/srv/data' }, { dataDir: '/srv/data' }],
    ['-logLevel, -logFormat, -logFile', { logLevel: 'WARN', logFormat: 'json', logFile: 'server.log' }, { log: { level: 'warn', format: 'json', file: '/etc/spire/server.log', sourceLocation: false } }],
  ];
  it.each(flagCases)('%s overrides the file', (_name, flags, expected) => {
    const text = MINIMAL.replace('server {', 'server {\n  bind_port = 1234\n  log_level = "DEBUG"\n  socket_path = "/tmp/file.sock"');
    expect(load({ '/etc/spire/server.conf': text }, { config: 'server.conf', ...flags })).toMatchObject(expected);
  });

  it('expands the environment with -expandEnv only', () => {
    const text = 'server {\n  trust_domain = "$TD"\n  data_dir = "${DATA}"\n}\n' + PLUGINS;
    const env = { TD: 'env.test', DATA: '/env/data' };
    expect(load({ '/etc/spire/server.conf': text }, { config: 'server.conf', expandEnv: true }, env)).toMatchObject({ trustDomain: 'env.test', dataDir: '/env/data' });
    const r = loadConfig({ config: 'server.conf' }, io({ '/etc/spire/server.conf': text }, env));
    expect(r.ok).toBe(false);
  });

  it('reads plugin_data_file relative to the working directory', () => {
    const text = MINIMAL.replace('KeyManager "memory" {}', 'KeyManager "disk" {\n    plugin_data_file = "km.hcl"\n  }');
    const c = load({ '/etc/spire/server.conf': text, '/etc/spire/km.hcl': 'keys_path = "/k.json"\n' });
    expect(c.plugins[1]).toMatchObject({ type: 'KeyManager', name: 'disk', pluginData: 'keys_path = "/k.json"\n' });
  });

  it('reports plugin declaration problems with the other errors, in file order', () => {
    const text =
      'server {\n  data_dir = "/d"\n}\nplugins {\n  DataStore "sql" {}\n  KeyManager "memory" {\n    plugin_data {}\n    plugin_data_file = "x"\n  }\n  WorkloadAttestor "unix" {}\n}\n';
    expect(loadErrors({ '/etc/spire/server.conf': text })).toEqual([
      'server.conf:1:1: missing required key "trust_domain" in server (or set it with -trustDomain)',
      'server.conf:6:14: KeyManager "memory": plugin_data and plugin_data_file are mutually exclusive',
      'server.conf:10:3: unknown plugin type "WorkloadAttestor" for spire-server (known: DataStore, KeyManager, NodeAttestor, UpstreamAuthority, Notifier, CredentialComposer, BundlePublisher)',
    ]);
  });

  it('reports a misspelt plugin type before the plugin count it leaves short', () => {
    const text = MINIMAL.replace('DataStore "sql" {}', 'DataStre "sql" {}');
    expect(loadErrors({ '/etc/spire/server.conf': text })).toEqual([
      'server.conf:6:3: unknown plugin type "DataStre" for spire-server (known: DataStore, KeyManager, NodeAttestor, UpstreamAuthority, Notifier, CredentialComposer, BundlePublisher)',
      'server.conf:6:3: plugins: exactly one DataStore plugin is required, found none (not counting the unknown plugin type "DataStre"); for example DataStore "sql"',
    ]);
  });

  it('reports a plugin declared twice once', () => {
    const text = MINIMAL.replace('KeyManager "memory" {}', 'KeyManager "memory" {}\n  KeyManager "memory" {}');
    expect(loadErrors({ '/etc/spire/server.conf': text })).toEqual(['server.conf:8:14: KeyManager "memory" is declared more than once (first at line 7)']);
  });

    it('stops at structural errors, with the warnings found so far', () => {
    const r = loadConfig({ config: 'server.conf' }, io({ '/etc/spire/server.conf': MINIMAL + 'telemetry {\n  Prometeus {}\n}\n' }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(lines(r.errors)).toEqual(['server.conf:10:3: unknown key "Prometeus" in telemetry (did you mean "Prometheus"?)']);
    expect(lines(r.warnings)).toEqual(['server.conf:9:1: warning: telemetry is accepted but not implemented yet: no metrics are collected or exported']);
  });
});
