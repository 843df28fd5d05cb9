// spire-agent end to end: a real spire-server and spire-agent (the built CLIs,
// as child processes), a join token, registration entries made with the
// server CLI, and workloads calling the agent's Workload API over its Unix
// socket. One server/agent pair is shared; the tests run in order and the ban
// comes last.
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pemDecode, pemEncode, splitCertificates, validateX509Svid } from '@spire-ts/common';
import type { workload } from '@spire-ts/proto';
import { E2eEnv, TD, eventually } from './e2e-harness.js';
import { NOBODY, collect, fetchJwtSvid, firstMessage, header, isRoot, runClient, validateJwtSvid, workloadClient, type WorkloadClient } from './workload-fixtures.js';

const myUid = process.geteuid!();
const ME = `spiffe://${TD}/me`;
const SVID_TTL_S = 20;
const DEGRADED = 'Failed to sync with SPIRE Server; serving cached identities';
const RECOVERED = 'Sync with SPIRE Server restored';

const notBuilt = E2eEnv.check();
const env = new E2eEnv({ agentSyncInterval: '1s' });
const clients: WorkloadClient[] = [];
let agentId = '';
let failed = false;

function client(): WorkloadClient {
  const c = workloadClient(env.agentSocket);
  clients.push(c);
  return c;
}

function fetchX509(): Promise<workload.X509SVIDResponse__Output> {
  const call = client().FetchX509SVID({}, header());
  return firstMessage(call).finally(() => call.cancel());
}

const serialOf = (s: workload.X509SVID__Output): string => new X509Certificate(splitCertificates(s.x509_svid)[0]!).serialNumber;

function opensslVerify(dir: string, chain: Uint8Array[], bundle: Uint8Array[]): Promise<string> {
  const leaf = join(dir, 'leaf.pem');
  const untrusted = join(dir, 'untrusted.pem');
  const roots = join(dir, 'roots.pem');
  writeFileSync(leaf, pemEncode('CERTIFICATE', chain[0]!));
  writeFileSync(roots, bundle.map((d) => pemEncode('CERTIFICATE', d)).join(''));
  const args = ['verify', '-CAfile', roots];
  if (chain.length > 1) {
    writeFileSync(untrusted, chain.slice(1).map((d) => pemEncode('CERTIFICATE', d)).join(''));
    args.push('-untrusted', untrusted);
  }
  args.push(leaf);
  return new Promise((resolve, reject) => execFile('openssl', args, (err, stdout, stderr) => (err ? reject(new Error(`openssl verify: ${stdout}${stderr}`)) : resolve(stdout))));
}

describe.skipIf(notBuilt !== undefined)('spire-agent end to end (real server and agent processes)', () => {
  beforeAll(async () => {
    try {
      await env.startServer();
      await env.prepareAgent();
      await env.serverCli('entry', 'create', '-spiffeID', ME, '-parentID', `spiffe://${TD}/host`, '-selector', `unix:uid:${myUid}`, '-x509SVIDTTL', String(SVID_TTL_S));
      await env.startAgent();
      agentId = /Node attestation was successful.*?(spiffe:\/\/[^\s"',}]+)/.exec(env.agent!.log)?.[1] ?? '';
    } catch (err) {
      failed = true;
      throw new Error(`${(err as Error).message}\n${env.logs()}`);
    }
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    // Keep the directory (and print the logs) when something failed, for a post-mortem.
    if (failed || process.env.E2E_LOGS) process.stderr.write(`agent-e2e logs${failed ? ` (kept in ${env.dir})` : ''}:\n${env.logs()}\n`);
    await env.killAll(failed);
  }, 30_000);

  const step = (name: string, fn: () => Promise<void>, timeoutMs = 15_000): void => {
    it(
      name,
      async () => {
        try {
          await fn();
        } catch (err) {
          failed = true;
          throw err;
        }
      },
      timeoutMs,
    );
  };

  step('attests with the join token and serves an X.509-SVID that verifies against the bundle', async () => {
    expect(agentId).toMatch(new RegExp(`^spiffe://${TD}/spire/agent/join_token/`));
    expect(env.server!.count('Agent attestation request completed')).toBe(1);
    // The agent posted its version (PostStatus), as SPIRE's does.
    const show = await eventually(() => env.serverCli('agent', 'show', '-spiffeID', agentId), (out) => /Agent version/.test(out), 5_000);
    expect(show).toMatch(/Agent version\s*: 0\.1\.0/);
    const res = await fetchX509();
    expect(res.svids).toHaveLength(1);
    const s = res.svids[0]!;
    expect(s.spiffe_id).toBe(ME);
    const chain = splitCertificates(s.x509_svid);
    const bundle = splitCertificates(s.bundle);
    expect(bundle.length).toBeGreaterThan(0);
    // The bundle served is the server's (what `bundle show` printed).
    expect(bundle.map((d) => Buffer.from(d))).toEqual(pemDecode(readFileSync(env.bundlePath, 'utf8'), 'CERTIFICATE').map((d) => Buffer.from(d)));
    const leaf = new X509Certificate(chain[0]!);
    expect(leaf.subjectAltName).toBe(`URI:${ME}`);
    // The entry's TTL, with SPIRE's 10 s notBefore cushion.
    const lifetime = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 1000;
    expect(lifetime).toBeGreaterThanOrEqual(SVID_TTL_S + 10 - 1);
    expect(lifetime).toBeLessThanOrEqual(SVID_TTL_S + 10 + 1);
    expect(Date.parse(leaf.validTo)).toBeLessThanOrEqual(Date.now() + SVID_TTL_S * 1000 + 1000);
    // node:crypto: each certificate is signed by the next, the last by a bundle authority.
    const certs = chain.map((d) => new X509Certificate(d));
    for (let i = 0; i + 1 < certs.length; i++) expect(certs[i]!.verify(certs[i + 1]!.publicKey)).toBe(true);
    const roots = bundle.map((d) => new X509Certificate(d));
    expect(roots.some((r) => certs[certs.length - 1]!.checkIssued(r) && certs[certs.length - 1]!.verify(r.publicKey))).toBe(true);
    // openssl, independently.
    expect(await opensslVerify(env.dir, chain, bundle)).toMatch(/OK/);
    // SPIFFE rules (core/common).
    expect(validateX509Svid(chain[0]!, chain.slice(1), bundle, new Date()).spiffeId.toString()).toBe(ME);
    // The PKCS#8 key belongs to the leaf.
    expect(leaf.checkPrivateKey(createPrivateKey({ key: Buffer.from(s.x509_svid_key), format: 'der', type: 'pkcs8' }))).toBe(true);
  });

  step('a caller without the security header is INVALID_ARGUMENT', async () => {
    const call = client().FetchX509SVID({}, header({}, false));
    await expect(firstMessage(call)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'security header missing from request' });
    await expect(fetchJwtSvid(client(), { audience: ['a'] }, header({}, false))).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  it.skipIf(!isRoot)('a process of another uid (nobody) no entry matches is PERMISSION_DENIED (needs root to setuid; skipped otherwise)', async () => {
    const other = runClient(env.agentSocket, { uid: NOBODY, gid: NOBODY });
    try {
      expect(await other.firstLine).toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' });
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      other.child.kill();
    }
  });

  step(
    'the open FetchX509SVID stream delivers a rotated SVID (new serial) before the short-lived one expires',
    async () => {
      const call = client().FetchX509SVID({}, header());
      const stream = collect(call);
      try {
        const first = await stream.next(1);
        const serial = serialOf(first.svids[0]!);
        const notAfter = Date.parse(new X509Certificate(splitCertificates(first.svids[0]!.x509_svid)[0]!).validTo);
        let n = 2;
        for (;;) {
          const msg = await stream.next(n++, SVID_TTL_S * 1000 + 2_000);
          const s = msg.svids[0]!;
          if (serialOf(s) === serial) continue;
          expect(s.spiffe_id).toBe(ME);
          expect(Date.now()).toBeLessThan(notAfter);
          const chain = splitCertificates(s.x509_svid);
          expect(validateX509Svid(chain[0]!, chain.slice(1), splitCertificates(s.bundle), new Date()).spiffeId.toString()).toBe(ME);
          break;
        }
        expect(env.agent!.log).toMatch(/Renewing X509-SVID/);
      } finally {
        call.cancel();
      }
    },
    SVID_TTL_S * 1000 + 10_000,
  );

  step('a JWT-SVID for audience A validates for A through the agent and is rejected for B', async () => {
    const c = client();
    const res = await fetchJwtSvid(c, { audience: ['aud-a'] }, header());
    expect(res.svids.map((s) => s.spiffe_id)).toEqual([ME]);
    const token = res.svids[0]!.svid;
    const v = await validateJwtSvid(c, { audience: 'aud-a', svid: token }, header());
    expect(v.spiffe_id).toBe(ME);
    expect(v.claims!.fields.sub).toMatchObject({ stringValue: ME });
    const wrong = validateJwtSvid(c, { audience: 'aud-b', svid: token }, header());
    await expect(wrong).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('aud-b') as string });
  });

  step(
    'with the server stopped the agent keeps serving the cached SVID and logs its degraded state once',
    async () => {
      const before = (await fetchX509()).svids[0]!;
      const from = env.agent!.log.length;
      const exit = await env.server!.stop('SIGTERM');
      expect(exit).toEqual({ code: 0, signal: null });
      const stoppedAt = env.agent!.log.length;
      await env.agent!.waitFor(DEGRADED, 10_000, from);
      // More failed syncs (1 s interval, with backoff) must not repeat the message.
      await new Promise((r) => setTimeout(r, 3_000));
      expect(env.agent!.count(DEGRADED, from)).toBe(1);
      const during = (await fetchX509()).svids[0]!;
      expect(during.spiffe_id).toBe(ME);
      // The cached SVID: the one served before, unless the agent renewed it just before the server went away.
      if (serialOf(during) !== serialOf(before)) expect(env.agent!.log.slice(from, stoppedAt)).toMatch(/Renewing X509-SVID/);
      expect(Date.parse(new X509Certificate(splitCertificates(during.x509_svid)[0]!).validTo)).toBeGreaterThan(Date.now());
      expect(serialOf((await fetchX509()).svids[0]!)).toBe(serialOf(during));

      // The server comes back (same data dir and keys): the agent recovers.
      const recovered = env.agent!.log.length;
      await env.startServer();
      await env.agent!.waitFor(RECOVERED, 15_000, recovered);
      expect(env.agent!.exit).toBeUndefined();
    },
    40_000,
  );

  step(
    'an agent restart resumes its stored SVID: no second attestation',
    async () => {
      const serverFrom = env.server!.log.length;
      expect(await env.agent!.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      const agent = await env.startAgent();
      expect(agent.log).toMatch(/SVID loaded/);
      expect(agent.log).not.toMatch(/Starting node attestation|Node attestation was successful/);
      expect(agent.log).toContain(agentId);
      expect(env.server!.count('Agent attestation request completed', serverFrom)).toBe(0);
      const list = await env.serverCli('agent', 'list');
      expect(list).toMatch(/Found 1 attested agent:/);
      expect(list).toContain(agentId);
      expect((await fetchX509()).svids[0]!.spiffe_id).toBe(ME);
    },
    40_000,
  );

  step(
    'a banned agent stops serving: it exits with code 1 and says it is banned',
    async () => {
      const agent = env.agent!;
      expect(await env.serverCli('agent', 'ban', '-spiffeID', agentId)).toMatch(/Agent banned successfully/);
      const started = Date.now();
      const exit = await Promise.race([agent.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000))]);
      expect(exit, `agent still running ${Date.now() - started} ms after the ban:\n${agent.tail()}`).toEqual({ code: 1, signal: null });
      expect(agent.log).toMatch(/agent is banned/);
      expect(agent.log).toMatch(/Agent stopped serving/);
      // As SPIRE's: the refused SVID is removed, so a restart attests again (and is refused there).
      expect(agent.log).toMatch(/Agent is banned: removing SVID and shutting down/);
      expect(existsSync(join(env.dir, 'agent', 'agent_svid.der'))).toBe(false);
      // Its Workload API is gone.
      const call = workloadClient(env.agentSocket);
      clients.push(call);
      await expect(firstMessage(call.FetchX509SVID({}, header(), { deadline: Date.now() + 2_000 }))).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    },
    20_000,
  );
});
