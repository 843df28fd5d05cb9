// The built `spire-server` binary, run as a user would.
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A fresh directory with `server.conf` (and more files) in it. */
function workdir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'spire-server-cli-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function spire(cwd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '', ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A valid config: DataStore "sql" on SQLite in the work directory, KeyManager "memory". */
function conf(opts: { km?: string; extraServer?: string; td?: string } = {}): string {
  return `server {
  trust_domain = "${opts.td ?? 'example.org'}"
  data_dir = "./data"
${opts.extraServer ?? ''}
}
plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = "./datastore.sqlite3"
    }
  }
${opts.km ?? '  KeyManager "memory" {\n    plugin_data {}\n  }'}
}
`;
}

/** Pids of the plugin processes a run started (from its debug log). */
function pluginPids(log: string): number[] {
  return [...log.matchAll(/msg="plugin handshake complete" .*?pid=(\d+)/g)].map((m) => Number(m[1]));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('spire-server validate', () => {
  it('accepts a valid configuration after each plugin validated its plugin_data (exit 0), without configuring anything', () => {
    const dir = workdir({ 'server.conf': conf() });
    const r = spire(dir, ['validate', '-config', 'server.conf']);
    expect(r).toEqual({ code: 0, stdout: 'SPIRE server configuration file is valid.\n', stderr: '' });
    expect(existsSync(join(dir, 'datastore.sqlite3'))).toBe(false);
  });

  it("prints a plugin's notes about its plugin_data (exit 1)", () => {
    const dir = workdir({ 'server.conf': conf({ km: '  KeyManager "memory" {\n    plugin_data { x = 1 }\n  }' }) });
    const r = spire(dir, ['validate', '-config', 'server.conf']);
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: 'SPIRE server configuration file is invalid.\nValidation errors:\n\tKeyManager "memory":\n\t\tplugin_data:1:1: unknown key "x"\n',
    });
  });

  it("prints the DataStore's notes", () => {
    const dir = workdir({ 'server.conf': conf().replace('"sqlite3"', '"oracle"') });
    const r = spire(dir, ['validate', '-config', 'server.conf']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^SPIRE server configuration file is invalid\.\nValidation errors:\n\tDataStore "sql":\n\t\t.*"oracle"/);
  });

  it("reports an unknown built-in plugin with the catalog's message (exit 1)", () => {
    const dir = workdir({ 'server.conf': conf({ km: '  KeyManager "memroy" {}' }) });
    const r = spire(dir, ['validate', '-config', 'server.conf']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^Could not validate configuration file: keymanager\(memroy\): no built-in KeyManager plugin named "memroy" for spire-server \(built-in: [^)]*\bmemory\b[^)]*\); set plugin_cmd to load an external plugin\n$/,
    );
  });

  it('lists every configuration problem with file:line:col (exit 1)', () => {
    const dir = workdir({ 'server.conf': conf({ extraServer: '  bind_adress = "0.0.0.0"\n  ca_ttl = "1d"\n  admin_ids = "spiffe://example.org/admin"' }) });
    const r = spire(dir, ['validate', '-config', 'server.conf']);
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'SPIRE server configuration file is invalid:\n' +
        'server.conf:4:3: unknown key "bind_adress" in server (did you mean "bind_address"?)\n' +
        'server.conf:5:12: server.ca_ttl: unknown unit "d" in duration "1d" (valid units: ns, us, ms, s, m, h)\n' +
        'server.conf:6:15: server.admin_ids: expected list, got string "spiffe://example.org/admin"\n',
    });
  });

  it('refuses a bad trust domain', () => {
    const dir = workdir({ 'server.conf': conf({ td: 'spiffe://example.org' }) });
    expect(spire(dir, ['validate', '-config', 'server.conf']).stderr).toBe(
      'SPIRE server configuration file is invalid:\nserver.conf:2:18: server.trust_domain: must be a bare trust domain name like "example.org", not a SPIFFE ID or URL\n',
    );
  });

  it('refuses two DataStores and a missing KeyManager', () => {
    const text = conf({ km: '  DataStore "sql2" {}' });
    const dir = workdir({ 'server.conf': text });
    expect(spire(dir, ['validate', '-config', 'server.conf'])).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'SPIRE server configuration file is invalid:\n' +
        'server.conf:6:1: plugins: exactly one KeyManager plugin is required, found none; for example KeyManager "disk" or KeyManager "memory"\n' +
        'server.conf:13:13: plugins.DataStore: exactly one DataStore plugin is allowed; DataStore "sql" is already declared at line 7\n',
    });
  });

  it('names a missing config file and the flag to use', () => {
    const dir = workdir({});
    expect(spire(dir, ['validate'])).toEqual({
      code: 1,
      stdout: '',
      stderr: `SPIRE server configuration file is invalid:\ncould not find config file ${dir}/conf/server/server.conf: please use the -config flag\n`,
    });
  });

  it('expands the environment with -expandEnv', () => {
    const dir = workdir({ 'server.conf': conf({ td: '${TD}' }) });
    expect(spire(dir, ['validate', '-config', 'server.conf', '-expandEnv'], { TD: 'env.example' }).code).toBe(0);
    expect(spire(dir, ['validate', '-config', 'server.conf'], { TD: 'env.example' }).stderr).toBe(
      'SPIRE server configuration file is invalid:\nserver.conf:2:18: server.trust_domain: invalid trust domain "${TD}": only lowercase letters, digits, ".", "-" and "_" are allowed\n',
    );
  });

  it('accepts the built-in NodeAttestor "join_token" and refuses plugin_data for it', () => {
    const jt = (data: string): string => `  NodeAttestor "join_token" {\n    plugin_data {${data}}\n  }\n  KeyManager "memory" {\n    plugin_data {}\n  }`;
    expect(spire(workdir({ 'server.conf': conf({ km: jt('') }) }), ['validate', '-config', 'server.conf'])).toMatchObject({ code: 0 });
    const bad = spire(workdir({ 'server.conf': conf({ km: jt(' x = 1 ') }) }), ['validate', '-config', 'server.conf']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('\tNodeAttestor "join_token":\n\t\tplugin_data: the built-in join_token node attestor takes no configuration');
  });

  it('takes values from flags over the file', () => {
    const dir = workdir({ 'server.conf': conf().replace('  trust_domain = "example.org"\n', '') });
    expect(spire(dir, ['validate', '-config', 'server.conf']).stderr).toBe(
      'SPIRE server configuration file is invalid:\nserver.conf:1:1: missing required key "trust_domain" in server (or set it with -trustDomain)\n',
    );
    expect(spire(dir, ['validate', '-config', 'server.conf', '-trustDomain', 'flag.example']).code).toBe(0);
  });

  it('prints warnings and still validates', () => {
    const dir = workdir({ 'server.conf': conf({ extraServer: '  default_x509_svid_ttl = "6h"' }) });
    const r = spire(dir, ['validate', '-config', 'server.conf']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^server\.conf:4:27: warning: default_x509_svid_ttl \(6h\) is too long for ca_ttl \(24h\)/);
  });
});

describe('spire-server run', () => {
  /** Starts the bin, waits for "spire-server is ready", sends SIGTERM and collects the outcome. */
  async function runUntilReady(dir: string, args: string[], ready: (stderr: string) => boolean = (e) => e.includes('spire-server is ready')) {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const deadline = Date.now() + 30_000;
    while (!ready(stderr) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const wasReady = ready(stderr);
    child.kill('SIGTERM');
    const code = await exited;
    return { code, stdout, stderr, wasReady };
  }

  const serving = async (extraServer = ''): Promise<string> => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const a = s.address();
        s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
      });
    });
    return conf({ extraServer: `  bind_address = "127.0.0.1"\n  bind_port = ${port}\n  socket_path = "./api.sock"\n${extraServer}` });
  };

  it('starts the plugins, the CA and the APIs, then stops everything on SIGTERM (exit 0)', async () => {
    const dir = workdir({ 'server.conf': await serving() });
    const r = await runUntilReady(dir, ['run', '-config', 'server.conf', '-logLevel', 'DEBUG']);
    expect(r.wasReady, r.stderr).toBe(true);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/level=info msg="Starting spire-server" config=server.conf data_dir=\S+\/data trust_domain=example.org/);
    expect(r.stderr).toMatch(/level=info msg="Plugins loaded" count=2\n/);
    expect(r.stderr).toMatch(/msg="X509 CA activated"/);
    expect(r.stderr).toMatch(/msg="Starting Server APIs" address=127.0.0.1:\d+/);
    expect(r.stderr).toMatch(/msg="Stopping spire-server" signal=SIGTERM/);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(/level=info msg="Plugins stopped"/);
    expect(existsSync(join(dir, 'datastore.sqlite3'))).toBe(true);
    expect(existsSync(join(dir, 'api.sock'))).toBe(false);
    const pids = pluginPids(r.stderr);
    expect(pids).toHaveLength(2);
    expect(pids.filter(alive)).toEqual([]);
  }, 60_000);

  it('logs JSON with -logFormat json', async () => {
    const dir = workdir({ 'server.conf': await serving() });
    const r = await runUntilReady(dir, ['run', '-config', 'server.conf', '-logFormat', 'json'], (e) => e.includes('"spire-server is ready"'));
    expect(r.code).toBe(0);
    const entries = r.stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string });
    expect(entries.some((e) => e.msg === 'spire-server is ready' && e.level === 'info')).toBe(true);
    expect(entries.at(-1)).toMatchObject({ level: 'info', msg: 'Plugins stopped' });
  }, 60_000);

  it('writes logs to -logFile, nothing to the terminal on a clean run', async () => {
    const dir = workdir({ 'server.conf': await serving() });
    const log = join(dir, 'logs/server.log');
    const r = await runUntilReady(dir, ['run', '-config', 'server.conf', '-logFile', 'logs/server.log'], () => existsSync(log) && readFileSync(log, 'utf8').includes('spire-server is ready'));
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(readFileSync(log, 'utf8')).toMatch(/msg="Plugins loaded" count=2/);
  }, 60_000);

  it('says what is wrong when the port is taken, and stops its plugins (exit 1)', async () => {
    const blocker = createServer();
    const port = await new Promise<number>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as { port: number }).port)));
    try {
      const dir = workdir({ 'server.conf': conf({ extraServer: `  bind_address = "127.0.0.1"\n  bind_port = ${port}\n  socket_path = "./api.sock"` }) });
      const r = spire(dir, ['run', '-config', 'server.conf', '-logLevel', 'DEBUG']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/spire-server failed.*EADDRINUSE/);
      expect(pluginPids(r.stderr).filter(alive)).toEqual([]);
      // The admin socket, listening before the TCP port failed, is removed.
      expect(r.stderr).toContain(`address=${join(dir, 'api.sock')} network=unix`);
      expect(existsSync(join(dir, 'api.sock'))).toBe(false);
    } finally {
      blocker.close();
    }
  }, 60_000);

  it('fails when a plugin refuses its configuration', () => {
    const dir = workdir({ 'server.conf': conf({ km: '  KeyManager "memory" {\n    plugin_data { x = 1 }\n  }' }) });
    const r = spire(dir, ['run', '-config', 'server.conf']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/level=error msg="Failed to load plugins" error="keymanager\(memory\): failed to configure: INVALID_ARGUMENT: plugin_data:1:1: unknown key \\"x\\""/);
  });

  it('stops on configuration errors before starting anything', () => {
    const dir = workdir({ 'server.conf': conf({ extraServer: '  bind_port = "http"' }) });
    expect(spire(dir, ['run', '-config', 'server.conf'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'server.conf:4:15: server.bind_port: expected integer, got string "http"\n',
    });
  });
});

describe('spire-server flags, help and commands', () => {
  const dir = workdir({});
  it.each(['run', 'validate'])('%s -h lists the flags (exit 0)', (cmd) => {
    const r = spire(dir, [cmd, '-h']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^Usage of ${cmd}:\\n  -bindAddress string\\n`));
    for (const f of ['-config string', '-expandEnv\n', '-serverPort int', '-socketPath string', '-trustDomain string', '-dataDir string', '-logLevel string', '-logFile string', '-logFormat string']) {
      expect(r.stderr).toContain(`  ${f}`);
    }
  });

  it('refuses an unknown flag (exit 1)', () => {
    const r = spire(dir, ['run', '-confg', 'server.conf']);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').slice(0, 2)).toEqual(['flag provided but not defined: -confg (did you mean -config?)', 'Usage of run:']);
  });

  it('refuses a bad flag value (exit 1)', () => {
    const r = spire(dir, ['validate', '-serverPort', 'http']);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe('invalid value "http" for flag -serverPort: expected a port number (0-65535)');
  });

  it('lists the commands without one (exit 127), or with -h (exit 0)', () => {
    const none = spire(dir, []);
    expect(none.code).toBe(127);
    expect(none.stderr).toMatch(/^Usage: spire-server \[--version\] \[--help\] <command> \[<args>\]\n\nAvailable commands are:\n/);
    // Every command, sorted, as SPIRE lists them: the admin verbs with run and validate.
    const listed = [...none.stderr.matchAll(/^ {4}(\S+) +(.*)$/gm)].map((m) => m[1]);
    expect(listed).toEqual(['agent', 'bundle', 'entry', 'federation', 'healthcheck', 'jwt', 'run', 'token', 'validate', 'x509']);
    expect(none.stderr).toMatch(/^ {4}run +Runs the server$/m);
    expect(none.stderr).toMatch(/^ {4}validate +Validates a SPIRE server configuration file$/m);
    expect(none.stderr).toMatch(/^ {4}entry +Manages registration entries \(count, create, delete, show, update\)$/m);
    expect(spire(dir, ['--help']).code).toBe(0);
    const unknown = spire(dir, ['serve']);
    expect(unknown.code).toBe(127);
    expect(unknown.stderr.split('\n')[0]).toBe('spire-server: unknown command "serve"');
  });

  it('prints its version', () => {
    expect(spire(dir, ['--version'])).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
  });
});
