// End to end: real spire-server and spire-agent processes with
// `NodeAttestor "aws_iid"` on both sides (the built-in plugins, launched by
// the hosts as child processes) against the fixture's fake IMDSv2, EC2 and
// IAM. The agent must attest with SPIRE's aws_iid agent ID and selectors; a
// second agent on the same instance must be refused (trust on first use).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, type FixtureEnv } from '@spire-ts/conformance';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const SERVER_MAIN = join(repo, 'core/server/dist/cli/main.js');
const AGENT_MAIN = join(repo, 'core/agent/dist/cli/main.js');
const TD = 'example.org';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** A child process with its output collected. */
class Proc {
  readonly child: ChildProcess;
  log = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<void>;

  constructor(readonly name: string, readonly args: string[], cwd: string) {
    this.child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const append = (d: Buffer): void => {
      this.log += d.toString();
    };
    this.child.stdout!.on('data', append);
    this.child.stderr!.on('data', append);
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve();
      }),
    );
  }

  async waitFor(text: string | RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const seen = () => (typeof text === 'string' ? this.log.includes(text) : text.test(this.log));
    while (!seen()) {
      if (this.exit) throw new Error(`${this.name} exited (${String(this.exit.code ?? this.exit.signal)}) before logging ${String(text)}:\n${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`${this.name} did not log ${String(text)} within ${timeoutMs} ms:\n${this.tail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    if (this.exit) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }

  tail(lines = 60): string {
    return this.log.split('\n').slice(-lines).join('\n');
  }
}

/** Turns a plugin_data HCL body into a plugin block. */
function block(type: string, name: string, data: string): string {
  return `  ${type} "${name}" {\n    plugin_data {\n${data.split('\n').filter(Boolean).map((l) => `      ${l}`).join('\n')}\n    }\n  }`;
}

const missing = [SERVER_MAIN, AGENT_MAIN].find((f) => !existsSync(f));

describe.skipIf(missing !== undefined)('aws_iid end to end: spire-server and spire-agent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spire-e2e-aws_iid-'));
  const procs: Proc[] = [];
  let env: FixtureEnv;
  let port = 0;
  const serverSocket = join(dir, 'server', 'api.sock');

  const serverCli = (...args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile(process.execPath, [SERVER_MAIN, ...args, '-socketPath', serverSocket], { cwd: dir, timeout: 20_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`spire-server ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
        else resolve(stdout);
      });
    });

  const writeAgentConf = (name: string): string => {
    const conf = join(dir, `${name}.conf`);
    writeFileSync(
      conf,
      `agent {
  data_dir = "${join(dir, name)}"
  log_level = "DEBUG"
  server_address = "127.0.0.1"
  server_port = "${port}"
  socket_path = "${join(dir, name, 'api.sock')}"
  trust_bundle_path = "${join(dir, 'bundle.pem')}"
  trust_domain = "${TD}"
}
plugins {
${block('NodeAttestor', 'aws_iid', env.agentPluginData)}
  KeyManager "memory" { plugin_data {} }
  WorkloadAttestor "unix" { plugin_data {} }
}
`,
    );
    mkdirSync(join(dir, name), { recursive: true });
    return conf;
  };

  beforeAll(async () => {
    const fixture = FIXTURES.aws_iid;
    if (!fixture) throw new Error('aws_iid fixture not registered');
    env = await fixture.setup({ tmpDir: dir, trustDomain: TD });
    port = await freePort();
    mkdirSync(join(dir, 'server'), { recursive: true });
    const conf = join(dir, 'server.conf');
    writeFileSync(
      conf,
      `server {
  bind_address = "127.0.0.1"
  bind_port = "${port}"
  socket_path = "${serverSocket}"
  trust_domain = "${TD}"
  data_dir = "${join(dir, 'server', 'data')}"
  log_level = "DEBUG"
}
plugins {
${block('NodeAttestor', 'aws_iid', env.serverPluginData)}
  DataStore "sql" { plugin_data { database_type = "sqlite3" connection_string = "${join(dir, 'server', 'ds.sqlite3')}" } }
  KeyManager "disk" { plugin_data { keys_path = "${join(dir, 'server', 'keys.json')}" } }
}
`,
    );
    const server = new Proc('spire-server', [SERVER_MAIN, 'run', '-config', conf], dir);
    procs.push(server);
    await server.waitFor('spire-server is ready', 30_000);
    writeFileSync(join(dir, 'bundle.pem'), await serverCli('bundle', 'show'));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop().catch(() => undefined)));
    await env?.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  const expectedId = `spiffe://${TD}/spire/agent/aws_iid/123456789012/us-west-2/i-0123456789abcdef0`;

  it('the agent attests with the aws_iid agent ID and the server records its selectors', async () => {
    const agent = new Proc('spire-agent', [AGENT_MAIN, 'run', '-config', writeAgentConf('agent1')], dir);
    procs.push(agent);
    try {
      await agent.waitFor('spire-agent is ready', 30_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n==== server ====\n${procs[0]!.tail()}`);
    }
    expect(agent.log).toContain('Node attestation was successful');
    expect(agent.log).toContain(expectedId);
    const list = await serverCli('agent', 'list');
    expect(list).toContain(expectedId);
    const show = await serverCli('agent', 'show', '-spiffeID', expectedId);
    for (const sel of ['aws_iid:instance:id:i-0123456789abcdef0', 'aws_iid:tag:Name:blog', 'aws_iid:sg:name:blog-web', 'aws_iid:iamrole:arn:aws:iam::123456789012:role/Blog']) {
      expect(show).toContain(sel);
    }
  }, 60_000);

  it('a second agent presenting the same instance is refused (trust on first use)', async () => {
    const agent = new Proc('spire-agent-2', [AGENT_MAIN, 'run', '-config', writeAgentConf('agent2')], dir);
    procs.push(agent);
    await Promise.race([agent.exited, new Promise((r) => setTimeout(r, 30_000))]);
    await agent.stop();
    expect(agent.log).toMatch(/attestation data has already been used to attest an agent/);
    expect(agent.log).not.toContain('spire-agent is ready');
  }, 60_000);

  it('the refusal survives a server restart (the DataStore answers through AgentStore), and an evicted agent attests again', async () => {
    const old = procs[0]!;
    await old.stop();
    const server = new Proc('spire-server-restarted', old.args, dir);
    procs[0] = server;
    await server.waitFor('spire-server is ready', 30_000);
    const replay = new Proc('spire-agent-3', [AGENT_MAIN, 'run', '-config', writeAgentConf('agent3')], dir);
    procs.push(replay);
    await Promise.race([replay.exited, new Promise((r) => setTimeout(r, 30_000))]);
    await replay.stop();
    expect(replay.log).toMatch(/attestation data has already been used to attest an agent/);

    expect(await serverCli('agent', 'evict', '-spiffeID', expectedId)).toMatch(/evicted successfully/i);
    const again = new Proc('spire-agent-4', [AGENT_MAIN, 'run', '-config', writeAgentConf('agent4')], dir);
    procs.push(again);
    await again.waitFor('spire-agent is ready', 30_000);
    expect(again.log).toContain(expectedId);
  }, 90_000);
});
