/**
 * End to end: real spire-server and spire-agent processes with
 * `NodeAttestor "k8s_psat"` on both sides (the built-in plugins, resolved by
 * package name) against the fake kube-apiserver over HTTPS. The agent
 * attests with its projected token and gets the node-UID agent ID; an agent
 * whose token belongs to a service account the server does not allow is
 * refused and says why.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startK8sPsatEnv, type K8sPsatFixtureEnv } from '../../../conformance/src/fixtures/k8s_psat.js';
import { AGENT_MAIN, Proc, SERVER_MAIN, freePort } from '../../../core/agent/test/e2e-harness.js';

const TD = 'example.org';

class Deployment {
  readonly dir = mkdtempSync(join(tmpdir(), 'k8s-psat-e2e-'));
  readonly serverSocket = join(this.dir, 'server', 'api.sock');
  readonly procs: Proc[] = [];
  port = 0;

  constructor() {
    mkdirSync(join(this.dir, 'server'), { recursive: true });
  }

  spawn(name: string, args: string[]): Proc {
    const p = new Proc(name, args, this.dir);
    this.procs.push(p);
    return p;
  }

  async startServer(pluginData: string): Promise<Proc> {
    this.port = await freePort();
    const conf = join(this.dir, 'server.conf');
    writeFileSync(
      conf,
      `server {
  bind_address = "127.0.0.1"
  bind_port = "${this.port}"
  socket_path = "${this.serverSocket}"
  trust_domain = "${TD}"
  data_dir = "${join(this.dir, 'server', 'data')}"
  log_level = "DEBUG"
}
plugins {
  NodeAttestor "k8s_psat" {
    plugin_data {
${pluginData}
    }
  }
  DataStore "sql" { plugin_data { database_type = "sqlite3" connection_string = "${join(this.dir, 'server', 'ds.sqlite3')}" } }
  KeyManager "disk" { plugin_data { keys_path = "${join(this.dir, 'server', 'keys.json')}" } }
}
`,
    );
    const p = this.spawn('spire-server', [SERVER_MAIN, 'run', '-config', conf]);
    try {
      await p.waitFor('spire-server is ready', 30_000);
      writeFileSync(join(this.dir, 'bundle.pem'), await this.serverCli('bundle', 'show'));
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${this.logs()}`);
    }
    return p;
  }

  serverCli(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(process.execPath, [SERVER_MAIN, ...args, '-socketPath', this.serverSocket], { cwd: this.dir, timeout: 20_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`spire-server ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
        else resolve(stdout);
      });
    });
  }

  /** An agent (its own data dir) attesting with k8s_psat `pluginData`. */
  agent(name: string, pluginData: string): Proc {
    const conf = join(this.dir, `${name}.conf`);
    writeFileSync(
      conf,
      `agent {
  data_dir = "${join(this.dir, name)}"
  log_level = "DEBUG"
  server_address = "127.0.0.1"
  server_port = "${this.port}"
  socket_path = "${join(this.dir, name, 'public', 'api.sock')}"
  trust_bundle_path = "${join(this.dir, 'bundle.pem')}"
  trust_domain = "${TD}"
}
plugins {
  NodeAttestor "k8s_psat" {
    plugin_data {
${pluginData}
    }
  }
  KeyManager "memory" { plugin_data {} }
  WorkloadAttestor "unix" { plugin_data {} }
}
`,
    );
    return this.spawn(name, [AGENT_MAIN, 'run', '-config', conf]);
  }

  logs(): string {
    return this.procs.map((p) => `==== ${p.name} (exit ${JSON.stringify(p.exit ?? null)}) ====\n${p.tail(60)}`).join('\n');
  }

  async close(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop('SIGTERM', 3_000).catch(() => undefined)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let d: Deployment;
let k8s: K8sPsatFixtureEnv;

beforeAll(async () => {
  d = new Deployment();
  k8s = await startK8sPsatEnv(d.dir, TD);
  await d.startServer(k8s.serverPluginData);
}, 60_000);

afterAll(async () => {
  await d?.close();
  await k8s?.close();
});

describe('k8s_psat end to end (spire-server + spire-agent processes)', () => {
  it('the agent attests with its projected token and gets the node-UID agent ID', async () => {
    const agentId = `spiffe://${TD}/spire/agent/k8s_psat/test-cluster/${k8s.node.uid}`;
    const agent = d.agent('agent', k8s.agentPluginData);
    try {
      await agent.waitFor('spire-agent is ready', 30_000);
      const list = await d.serverCli('agent', 'list');
      expect(list).toContain(agentId);
      const shown = await d.serverCli('agent', 'show', '-spiffeID', agentId);
      expect(shown).toContain('k8s_psat');
      for (const sel of [
        'k8s_psat:cluster:test-cluster',
        'k8s_psat:agent_ns:spire',
        'k8s_psat:agent_sa:spire-agent',
        `k8s_psat:agent_pod_uid:${k8s.pod.uid}`,
        `k8s_psat:agent_node_uid:${k8s.node.uid}`,
        'k8s_psat:agent_node_label:topology.kubernetes.io/zone:zone-a',
        'k8s_psat:agent_pod_label:app:spire-agent',
      ]) {
        expect(shown).toContain(sel);
      }
      // The server plugin really asked the API server (with its kubeconfig credentials).
      expect(k8s.apiserver.requests).toEqual(
        expect.arrayContaining([
          'POST /apis/authentication.k8s.io/v1/tokenreviews',
          `GET /api/v1/namespaces/spire/pods/${k8s.pod.name}`,
          'GET /api/v1/nodes/node-1',
        ]),
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${d.logs()}`);
    } finally {
      await agent.stop();
    }
  }, 90_000);

  it('an agent whose token is for a service account the server does not allow is refused', async () => {
    const intruder = [...k8s.apiserver.pods.values()].find((p) => p.serviceAccount === 'intruder');
    if (!intruder) throw new Error('fixture has no intruder pod');
    const tokenPath = join(d.dir, 'intruder-token');
    writeFileSync(tokenPath, k8s.apiserver.issueToken({ pod: intruder }));
    const agent = d.agent('intruder', k8s.agentData(tokenPath));
    try {
      await agent.waitFor('is not an allowed service account for cluster', 30_000);
      const list = await d.serverCli('agent', 'list');
      expect(list).not.toContain(intruder.uid);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${d.logs()}`);
    } finally {
      await agent.stop();
    }
  }, 90_000);
});
