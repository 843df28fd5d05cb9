import { describe, expect, it } from 'vitest';
import { parseFile } from '@spire-ts/agent';
import { agent, fixture, lines } from './helpers.js';

/** The value without positions and HCL syntax forms (which differ between the twins). */
function withoutPositions(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutPositions);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k]) => !['pos', 'keyPos', 'form'].includes(k)).map(([k, x]) => [k, withoutPositions(x)]));
  return v;
}

describe('parseFile: the agent_full-like fixture', () => {
  it('parses the HCL and JSON twins to the same configuration', () => {
    const hcl = parseFile(fixture('agent-full.conf'), { filename: 'agent-full.conf' });
    const json = parseFile(fixture('agent-full.json'), { filename: 'agent-full.json' });
    if (!hcl.ok || !json.ok) throw new Error('expected both fixtures to parse');
    expect(withoutPositions(json.file)).toEqual(withoutPositions(hcl.file));
    expect(hcl.file.agent?.server_port).toBe(8081);
    expect(hcl.file.agent?.experimental?.sync_interval).toBe(10_000);
    expect(hcl.file.agent?.sds?.default_bundle_name).toBe('ROOTCA');
    expect(hcl.file.health_checks.bind_port).toBe(8080);
    expect(hcl.file.plugins?.map((t) => t.key)).toEqual(['KeyManager', 'NodeAttestor', 'WorkloadAttestor']);
  });

  it('warns that telemetry is accepted but not implemented, at the telemetry block', () => {
    const r = parseFile(fixture('agent-full.conf'), { filename: 'agent-full.conf' });
    expect(lines(r.notes)).toEqual(['agent-full.conf:76:1: warning: telemetry is accepted but not implemented yet: no metrics are collected or exported']);
  });
});

describe('parseFile: bad configuration lines, with exact positions', () => {
  const cases: [string, string, string[]][] = [
    ['an unknown agent key, with a suggestion', agent('  trust_bundle_pth = "/b.pem"'), ['agent.conf:5:3: unknown key "trust_bundle_pth" in agent (did you mean "trust_bundle_path"?)']],
    ['an unknown top-level block', `${agent()}agnet {}\n`, ['agent.conf:12:1: unknown key "agnet" (did you mean "agent"?)']],
    ['a port out of range', agent('  trust_bundle_path = "/b.pem"').replace('server_port = 8081', 'server_port = 70000'), ['agent.conf:3:17: agent.server_port: value 70000 is out of range (must be between 0 and 65535)']],
    ['a bad trust_bundle_format', agent(`${'  trust_bundle_path = "/b.pem"'}\n  trust_bundle_format = "jwks"`), ['agent.conf:6:25: agent.trust_bundle_format: invalid trust bundle format "jwks" (expected "pem" or "spiffe")']],
    ['a bad rebootstrap_mode', agent('  rebootstrap_mode = "sometimes"'), ['agent.conf:5:22: agent.rebootstrap_mode: unknown rebootstrap mode "sometimes" (expected "never", "auto" or "always")']],
    ['a bad log level', agent('  log_level = "loud"'), ['agent.conf:5:15: agent.log_level: invalid log level "loud" (expected DEBUG, INFO, WARN or ERROR, in any case)']],
    ['a bad delegate SPIFFE ID', agent('  authorized_delegates = ["example.org/x"]'), ['agent.conf:5:27: agent.authorized_delegates[0]: invalid SPIFFE ID "example.org/x": must start with "spiffe://"']],
    ['a bad duration', agent('  experimental { sync_interval = "5 seconds" }'), ['agent.conf:5:34: agent.experimental.sync_interval: unknown unit " seconds" in duration "5 seconds" (valid units: ns, us, ms, s, m, h)']],
    ['a negative rate limit', agent('  experimental {\n    ratelimit { fetch_x509_svid = -1 }\n  }'), ['agent.conf:6:35: agent.experimental.ratelimit.fetch_x509_svid: value -1 is out of range (must be >= 0)']],
    ['an unknown sds key', agent('  sds { default_svid = "x" }'), ['agent.conf:5:9: unknown key "default_svid" in agent.sds']],
    ['a trust domain with a scheme', agent('').replace('"example.org"', '"spiffe://example.org"'), ['agent.conf:4:18: agent.trust_domain: must be a bare trust domain name like "example.org", not a SPIFFE ID or URL']],
  ];
  it.each(cases)('%s', (_name, text, expected) => {
    const r = parseFile(text, { filename: 'agent.conf' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(lines(r.errors)).toEqual(expected);
  });

  it('reports every structural problem at once', () => {
    const r = parseFile(agent('  bogus = 1\n  server_port = "x"'), { filename: 'agent.conf' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.length).toBeGreaterThanOrEqual(2);
  });

  it('expands $VARIABLES with expandEnv', () => {
    const r = parseFile(agent('  join_token = "$TOKEN"'), { filename: 'agent.conf', expandEnv: true, env: { TOKEN: 'abc' } });
    expect(r.ok && r.file.agent?.join_token).toBe('abc');
  });
});
