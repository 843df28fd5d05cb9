// The built `spire-agent` binary, run as a user would.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function workdir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'spire-agent-cli-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function spire(cwd: string, args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function conf(opts: { km?: string; extra?: string } = {}): string {
  return `agent {
  server_address = "127.0.0.1"
  server_port = 8081
  trust_domain = "example.org"
  trust_bundle_path = "./bundle.pem"
  data_dir = "./data"
${opts.extra ?? ''}
}
plugins {
${opts.km ?? '  KeyManager "memory" {\n    plugin_data {}\n  }'}
  NodeAttestor "join_token" {
    plugin_data {}
  }
  WorkloadAttestor "unix" {
    plugin_data {}
  }
}
`;
}

describe('spire-agent validate', () => {
  it('accepts KeyManager memory + WorkloadAttestor unix + the built-in NodeAttestor join_token (exit 0)', () => {
    const r = spire(workdir({ 'agent.conf': conf() }), ['validate', '-config', 'agent.conf']);
    expect(r).toEqual({ code: 0, stdout: 'SPIRE agent configuration file is valid.\n', stderr: '' });
  });

  it("prints a plugin's note about its plugin_data (exit 1)", () => {
    const r = spire(workdir({ 'agent.conf': conf({ km: '  KeyManager "memory" {\n    plugin_data { x = 1 }\n  }' }) }), ['validate', '-config', 'agent.conf']);
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: 'SPIRE agent configuration file is invalid.\nValidation errors:\n\tKeyManager "memory":\n\t\tplugin_data:1:1: unknown key "x"\n',
    });
  });

  it('prints configuration errors with file:line:col (exit 1)', () => {
    const unknown = spire(workdir({ 'agent.conf': conf({ extra: '  sockt_path = "/x"' }) }), ['validate', '-config', 'agent.conf']);
    expect(unknown).toEqual({ code: 1, stdout: '', stderr: 'SPIRE agent configuration file is invalid:\nagent.conf:7:3: unknown key "sockt_path" in agent (did you mean "socket_path"?)\n' });
    const rule = spire(workdir({ 'agent.conf': conf({ extra: '  insecure_bootstrap = true' }) }), ['validate', '-config', 'agent.conf']);
    expect(rule).toEqual({
      code: 1,
      stdout: '',
      stderr: 'SPIRE agent configuration file is invalid:\nagent.conf:5:23: trust_bundle_path cannot be used with insecure_bootstrap: set only one way to get the bootstrap trust bundle\n',
    });
  });

  it('rejects plugin_data on the built-in join_token attestor (exit 1)', () => {
    const text = conf().replace('NodeAttestor "join_token" {\n    plugin_data {}', 'NodeAttestor "join_token" {\n    plugin_data { token = "x" }');
    const r = spire(workdir({ 'agent.conf': text }), ['validate', '-config', 'agent.conf']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('\tNodeAttestor "join_token":\n\t\tplugin_data: the built-in join_token node attestor takes no configuration');
  });

  it('refuses a socket_path where the Workload API socket cannot be created (exit 1)', () => {
    const r = spire(workdir({ 'agent.conf': conf({ extra: '  socket_path = "/proc/api.sock"' }) }), ['validate', '-config', 'agent.conf']);
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: 'SPIRE agent configuration file is invalid.\nValidation errors:\n\tagent:\n\t\tsocket_path "/proc/api.sock": cannot create the Workload API socket there: EACCES: permission denied\n',
    });
  });

  it('refuses an unknown flag with the usage (exit 1)', () => {
    const r = spire(workdir({}), ['validate', '-confg', 'agent.conf']);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe('flag provided but not defined: -confg (did you mean -config?)');
    expect(r.stderr).toContain('Usage of validate:\n');
  });
});

describe('spire-agent run', () => {
  it('loads the plugins, says why it cannot attest (no bootstrap bundle), stops them and exits 1', () => {
    const dir = workdir({ 'agent.conf': conf({ extra: '  socket_path = "./api.sock"' }) });
    const r = spire(dir, ['run', '-config', 'agent.conf', '-logLevel', 'DEBUG', '-joinToken', 'abc']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Starting spire-agent');
    expect(r.stderr).toContain(`msg="spire-agent failed" error="cannot load the bootstrap trust bundle from trust_bundle_path ${join(dir, 'bundle.pem')}: ENOENT`);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toContain('Plugins stopped');
  });

  it('checks the sockets before node attestation: a bad socket_path fails before the trust bundle is even read', () => {
    const dir = workdir({ 'agent.conf': conf({ extra: '  socket_path = "/proc/api.sock"' }) });
    const r = spire(dir, ['run', '-config', 'agent.conf', '-joinToken', 'abc']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('msg="spire-agent failed" error="socket_path \\"/proc/api.sock\\": cannot create the Workload API socket there: EACCES: permission denied"');
    expect(r.stderr).not.toContain('trust_bundle_path');
  });

  it('lets flags override the file', () => {
    const r = spire(workdir({ 'agent.conf': conf() }), ['run', '-config', 'agent.conf', '-insecureBootstrap']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('agent.conf:5:23: trust_bundle_path cannot be used with insecure_bootstrap (-insecureBootstrap)');
  });
});

describe('spire-agent', () => {
  it('lists its commands without one (exit 127)', () => {
    const r = spire(workdir({}), []);
    expect(r.code).toBe(127);
    expect(r.stderr).toContain('Usage: spire-agent [--version] [--help] <command> [<args>]');
    expect(r.stderr).toContain('Validates a SPIRE agent configuration file');
    // Every command, sorted: the client verbs with run and validate.
    expect([...r.stderr.matchAll(/^ {4}(\S+) +(.*)$/gm)].map((m) => m[1])).toEqual(['api', 'healthcheck', 'run', 'validate']);
    expect(r.stderr).toMatch(/^ {4}healthcheck +Determines agent health status$/m);
  });
});
