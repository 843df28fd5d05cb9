import { describe, expect, it } from 'vitest';
import { AGENT_DEFAULTS, DEFAULT_SOCKET_PATH, loadConfig, mergeConfig, parseFile, toRuntimeConfig } from '@spire-ts/agent';
import { describeIssues } from '@spire-ts/plugin-sdk';
import { FIXTURES, agent, fixture } from './helpers.js';

function parsed(text: string) {
  const r = parseFile(text, { filename: 'agent.conf' });
  if (!r.ok) throw new Error(describeIssues(r.errors));
  return r.file;
}

describe('mergeConfig: flags over file over defaults', () => {
  it('fills the defaults', () => {
    const m = mergeConfig(parsed(agent()), {}, 'agent.conf');
    expect(m.agent.socket_path).toBe(DEFAULT_SOCKET_PATH);
    expect(m.agent.data_dir).toBe('.');
    expect(m.agent.trust_bundle_format).toBe('pem');
    expect(m.agent.rebootstrap_mode).toBe('never');
    expect(m.agent.rebootstrap_delay).toBe(AGENT_DEFAULTS.rebootstrap_delay);
    expect(m.origins.socket_path).toEqual({ kind: 'default' });
    expect(m.origins.server_port).toEqual({ kind: 'file' });
  });

  it('lets flags override the file, and keeps unset flags out', () => {
    const m = mergeConfig(parsed(agent()), { serverPort: 9081, trustBundle: '/other.pem', rebootstrapDelay: '1m30s', joinToken: '' }, 'agent.conf');
    expect(m.agent.server_port).toBe(9081);
    expect(m.agent.trust_bundle_path).toBe('/other.pem');
    expect(m.agent.rebootstrap_delay).toBe(90_000);
    expect(m.agent.join_token).toBeUndefined();
    expect(m.origins.server_port).toEqual({ kind: 'flag', flag: '-serverPort' });
    expect(m.origins.trust_bundle_path).toEqual({ kind: 'flag', flag: '-trustBundle' });
  });

  it('treats an empty file value as unset', () => {
    const m = mergeConfig(parsed(agent(`  trust_bundle_path = "/b"\n  socket_path = ""`)), {}, 'agent.conf');
    expect(m.agent.socket_path).toBe(DEFAULT_SOCKET_PATH);
  });
});

describe('toRuntimeConfig / loadConfig', () => {
  it('turns the agent_full-like fixture into the runtime configuration', () => {
    const r = loadConfig({ config: 'agent-full.conf' }, { readFile: (p) => fixture(p.slice(FIXTURES.length)), cwd: FIXTURES.replace(/\/$/, '') });
    if (!r.ok) throw new Error(describeIssues(r.errors));
    const c = r.config;
    expect(c.trustDomain).toBe('example.org');
    expect([c.serverAddress, c.serverPort]).toEqual(['127.0.0.1', 8081]);
    expect(c.trustBundle).toEqual({ kind: 'path', path: `${FIXTURES}conf/agent/dummy_root_ca.crt`, format: 'pem' });
    expect(c.joinToken).toEqual({ kind: 'value', token: '0b4a6a3e-4b1c-4c0b-9d51-3f1c8a7e2d10' });
    expect(c.dataDir).toBe(`${FIXTURES}.data`);
    expect(c.log).toEqual({ level: 'debug', format: 'json', file: `${FIXTURES}agent.log`, sourceLocation: true, selectors: ['subsystem_name=manager'] });
    expect(c.syncIntervalMs).toBe(10_000);
    expect(c.sds).toEqual({ disabled: false, defaultSvidName: 'default', defaultBundleName: 'ROOTCA', defaultAllBundlesName: 'ALL', disableSpiffeCertValidation: false });
    expect(c.experimental.rateLimit).toEqual({ fetchX509Svid: 100, fetchJwtSvid: 100 });
    expect(c.healthChecks).toEqual({ listenerEnabled: true, bindAddress: 'localhost', bindPort: 8080, livePath: '/live', readyPath: '/ready' });
    expect(c.plugins.map((p) => `${p.type} "${p.name}"`)).toEqual(['KeyManager "memory"', 'NodeAttestor "join_token"', 'WorkloadAttestor "unix"']);
    expect(r.warnings.map((w) => w.message)).toContain('telemetry is accepted but not implemented yet: no metrics are collected or exported');
  });

  it('resolves the trust bundle source', () => {
    const rt = (extra: string) => toRuntimeConfig(mergeConfig(parsed(agent(extra)), {}, 'agent.conf'), [], { cwd: '/opt' });
    expect(rt('  insecure_bootstrap = true').trustBundle).toEqual({ kind: 'insecure' });
    expect(rt('  trust_bundle_url = "https://x/b"\n  trust_bundle_format = "spiffe"').trustBundle).toEqual({ kind: 'url', url: 'https://x/b', unixSocket: undefined, format: 'spiffe' });
    expect(rt('  trust_bundle_path = "/b"').syncIntervalMs).toBe(5_000);
  });

  it('reports a missing config file with the -config hint', () => {
    const r = loadConfig({}, { readFile: () => { throw Object.assign(new Error('nope'), { code: 'ENOENT' }); }, cwd: '/opt' });
    expect(r.ok ? [] : r.errors.map((e) => e.message)).toEqual(['could not find config file /opt/conf/agent/agent.conf: please use the -config flag']);
  });

  it('reports a misspelt plugin type before the plugin count it leaves short', () => {
    const text = agent(undefined, 'plugins {\n  KeyManager "memory" {}\n  NodeAttestor "join_token" {}\n  WorkloadAtestor "unix" {}\n}\n');
    const r = loadConfig({ config: 'agent.conf' }, { readFile: () => text, cwd: '/opt' });
    expect(r.ok ? '' : describeIssues(r.errors).split('\n')).toEqual([
      'agent.conf:10:3: unknown plugin type "WorkloadAtestor" for spire-agent (known: KeyManager, NodeAttestor, WorkloadAttestor, SVIDStore)',
      'agent.conf:10:3: plugins: at least one WorkloadAttestor plugin is required, found none (not counting the unknown plugin type "WorkloadAtestor"); for example WorkloadAttestor "unix"',
    ]);
  });
});
