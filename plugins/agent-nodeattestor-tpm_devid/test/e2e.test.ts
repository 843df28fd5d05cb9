// tpm_devid end to end: real spire-server and spire-agent processes (the
// built CLIs) with NodeAttestor "tpm_devid" on both sides; the agent's plugin
// drives a swtpm provisioned with an EK certificate (test manufacturer) and a
// DevID key + certificate (test DevID CA). The agent attests as
// spiffe://example.org/spire/agent/tpm_devid/<sha1 of the DevID certificate>,
// a registration entry parented to that ID gives this process an X.509-SVID
// over the Workload API; then an agent whose DevID certificate comes from an
// untrusted CA is refused, and says why.
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitCertificates } from '@spire-ts/common';
import { provisionDevId, startSwtpm, x509popTestCa, type ProvisionedDevId, type Swtpm } from '@spire-ts/conformance';
import { AGENT_MAIN, E2eEnv, Proc, SERVER_MAIN, TD, freePort } from '../../../core/agent/test/e2e-harness.js';
import { firstMessage, header, workloadClient, type WorkloadClient } from '../../../core/agent/test/workload-fixtures.js';
import { tpmGate } from './helpers.js';

const gate = await tpmGate();
const notBuilt = E2eEnv.check();
const env = new E2eEnv();
const clients: WorkloadClient[] = [];
let tpm: Swtpm | undefined;
let good: ProvisionedDevId;
let stranger: ProvisionedDevId;
let failed = false;

const hclPairs = (o: Record<string, string>): string => Object.entries(o).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join('\n      ');

/** The server config: the harness's, with the tpm_devid NodeAttestor trusting our CAs. */
function serverConfig(caPath: string, ekCaPath: string): string {
  return `server {
  bind_address = "127.0.0.1"
  bind_port = "${env.port}"
  socket_path = "${env.serverSocket}"
  trust_domain = "${TD}"
  data_dir = "${join(env.dir, 'server', 'data')}"
  log_level = "DEBUG"
}
plugins {
  NodeAttestor "tpm_devid" {
    plugin_data {
      devid_ca_path = "${caPath}"
      endorsement_ca_path = "${ekCaPath}"
    }
  }
  DataStore "sql" { plugin_data { database_type = "sqlite3" connection_string = "${join(env.dir, 'server', 'ds.sqlite3')}" } }
  KeyManager "disk" { plugin_data { keys_path = "${join(env.dir, 'server', 'keys.json')}" } }
}
`;
}

function agentConfig(name: string, devId: ProvisionedDevId, t: Swtpm): string {
  return `agent {
  data_dir = "${join(env.dir, name)}"
  log_level = "DEBUG"
  server_address = "127.0.0.1"
  server_port = "${env.port}"
  socket_path = "${join(env.dir, name, 'public', 'api.sock')}"
  trust_bundle_path = "${env.bundlePath}"
  trust_domain = "${TD}"
  experimental { sync_interval = "1s" }
}
plugins {
  NodeAttestor "tpm_devid" {
    plugin_data {
      ${hclPairs({ devid_cert_path: devId.devIdCertPath, devid_priv_path: devId.devIdPrivPath, devid_pub_path: devId.devIdPubPath, tcti: t.tcti })}
    }
  }
  KeyManager "memory" { plugin_data {} }
  WorkloadAttestor "unix" { plugin_data {} }
}
`;
}

function startAgentProc(name: string, conf: string): Proc {
  mkdirSync(join(env.dir, name), { recursive: true });
  const path = join(env.dir, `${name}.conf`);
  writeFileSync(path, conf);
  const p = new Proc(name, [AGENT_MAIN, 'run', '-config', path], env.dir);
  env.procs.push(p);
  return p;
}

const fingerprint = (p: ProvisionedDevId): string => createHash('sha1').update(p.devIdCert.der).digest('hex');

describe.skipIf(gate.skip || notBuilt !== undefined)('tpm_devid end to end (real server, agent and swtpm)', () => {
  beforeAll(async () => {
    try {
      const manufacturer = await x509popTestCa('e2e TPM manufacturer');
      const root = await x509popTestCa('e2e DevID root');
      const other = await x509popTestCa('e2e untrusted DevID root');
      tpm = await startSwtpm({ dir: env.dir });
      good = await provisionDevId(tpm, { dir: join(env.dir, 'devid'), manufacturer, devIdCa: { root }, commonName: 'e2e-node' });
      stranger = await provisionDevId(tpm, { dir: join(env.dir, 'devid'), devIdCa: { root: other }, commonName: 'e2e-node', name: 'stranger' });
      const caPath = join(env.dir, 'devid-ca.pem');
      const ekCaPath = join(env.dir, 'ek-ca.pem');
      writeFileSync(caPath, root.pem);
      writeFileSync(ekCaPath, manufacturer.pem);
      // The harness's startServer writes a join_token config; write ours and start the server the same way.
      env.port = await freePort();
      mkdirSync(join(env.dir, 'server'), { recursive: true });
      const conf = join(env.dir, 'server-tpm.conf');
      writeFileSync(conf, serverConfig(caPath, ekCaPath));
      const server = new Proc('spire-server (tpm_devid)', [SERVER_MAIN, 'run', '-config', conf], env.dir);
      env.procs.push(server);
      env.server = server;
      await server.waitFor('spire-server is ready', 30_000);
      writeFileSync(env.bundlePath, await env.serverCli('bundle', 'show'));
    } catch (err) {
      failed = true;
      throw new Error(`${(err as Error).message}\n${env.logs()}`);
    }
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    if (failed || process.env.E2E_LOGS) process.stderr.write(`tpm_devid e2e logs${failed ? ` (kept in ${env.dir})` : ''}:\n${env.logs()}\n`);
    await env.killAll(failed);
    await tpm?.stop();
  }, 30_000);

  it('the agent attests with its TPM DevID and a workload gets an X.509-SVID', async () => {
    try {
      const agentId = `spiffe://${TD}/spire/agent/tpm_devid/${fingerprint(good)}`;
      const workloadId = `spiffe://${TD}/tpm-workload`;
      await env.serverCli('entry', 'create', '-spiffeID', workloadId, '-parentID', agentId, '-selector', `unix:uid:${process.geteuid!()}`);
      const agent = startAgentProc('agent', agentConfig('agent', good, tpm!));
      await agent.waitFor('spire-agent is ready', 60_000);
      expect(agent.log).toMatch(new RegExp(`Node attestation was successful.*${agentId.replace(/[/.]/g, '\\$&')}`));
      // The server lists the agent, attested by tpm_devid, with SPIRE's selectors.
      const show = await env.serverCli('agent', 'show', '-spiffeID', agentId);
      expect(show).toContain('tpm_devid');
      expect(show).toContain('subject:cn:e2e-node');
      expect(show).toContain('issuer:cn:e2e DevID root');
      // A workload (this process) gets the entry's SVID through the agent.
      const c = workloadClient(join(env.dir, 'agent', 'public', 'api.sock'));
      clients.push(c);
      let svidId = '';
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        const call = c.FetchX509SVID({}, header());
        try {
          const res = await firstMessage(call);
          svidId = res.svids[0]?.spiffe_id ?? '';
          if (svidId !== '') {
            const leaf = new X509Certificate(splitCertificates(res.svids[0]!.x509_svid)[0]!);
            expect(leaf.subjectAltName).toBe(`URI:${workloadId}`);
            break;
          }
        } catch {
          // no identity yet: the agent syncs every second
        } finally {
          call.cancel();
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(svidId).toBe(workloadId);
      expect(await tpm!.transientHandles()).toEqual([]);
    } catch (err) {
      failed = true;
      throw err;
    }
  }, 90_000);

  it('an agent whose DevID certificate comes from an untrusted CA is refused, and says why', async () => {
    try {
      const agent = startAgentProc('stranger', agentConfig('stranger', stranger, tpm!));
      const exit = await Promise.race([agent.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000))]);
      if (exit === 'timeout') await agent.stop();
      expect(exit).not.toBe('timeout');
      expect((exit as { code: number | null }).code).not.toBe(0);
      // The server's refusal, relayed by the agent: the status, the plugin and its reason.
      expect(agent.log).toMatch(/node attestation with tpm_devid failed: PermissionDenied: nodeattestor\(tpm_devid\): unable to verify DevID signature: verification failed: x509: certificate signed by unknown authority/);
      expect(env.server!.log).not.toContain(`tpm_devid/${fingerprint(stranger)}`);
    } catch (err) {
      failed = true;
      throw err;
    }
  }, 90_000);
});
