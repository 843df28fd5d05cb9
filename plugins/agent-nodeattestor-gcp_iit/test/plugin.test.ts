// The agent side of gcp_iit over its real gRPC socket against the fixture's
// fake metadata server: configuration, the request it makes (path, audience,
// format=full, Metadata-Flavor), the payload (the raw token) and failures.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@spire-ts/plugin-sdk';
import { rejection, servePluginInProcess, type InProcessPlugin } from '@spire-ts/conformance';
import { GCP_IIT_INSTANCE } from '../../../conformance/src/fixtures/gcp_iit.js';
import { makeGcpSigner, startGcpFakes, type GcpFakes } from '../../../conformance/src/fixtures/gcp_iit-fakes.js';
import { fetchIdentityToken, gcpIitAgentPlugin, identityTokenUrl } from '../src/index.js';

type Svc = 'spire.plugin.agent.nodeattestor.v1.NodeAttestor';
interface Outcome {
  messages: { data?: string; payload?: Buffer }[];
  error?: { code: number; details: string };
}

function aid(p: InProcessPlugin<Svc>): Promise<Outcome> {
  return new Promise((resolve) => {
    const call = p.client.AidAttestation({ deadline: Date.now() + 15_000 });
    const out: Outcome = { messages: [] };
    call.on('data', (m: Outcome['messages'][number]) => out.messages.push(m));
    call.on('error', (err: { code: number; details: string }) => {
      out.error = { code: err.code, details: err.details };
      resolve(out);
    });
    call.on('status', (s: { code: number }) => {
      if (s.code === 0) resolve(out);
    });
  });
}

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

let fakes: GcpFakes;
let p: InProcessPlugin<Svc>;

beforeAll(async () => {
  const signer = await makeGcpSigner('k1');
  fakes = await startGcpFakes({ instance: GCP_IIT_INSTANCE, signer, published: [signer] });
  p = await servePluginInProcess(gcpIitAgentPlugin());
});

afterAll(async () => {
  await p?.close();
  await fakes?.close();
});

describe('agent gcp_iit', () => {
  it('is not usable before Configure', async () => {
    const fresh = await servePluginInProcess(gcpIitAgentPlugin());
    try {
      expect((await aid(fresh)).error).toMatchObject({ code: Status.FAILED_PRECONDITION, details: 'not configured' });
    } finally {
      await fresh.close();
    }
  });

  it("builds SPIRE's metadata URL", () => {
    expect(identityTokenUrl('metadata.google.internal', 'default')).toBe(
      'http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/identity?audience=spire-gcp-node-attestor&format=full',
    );
  });

  it('refuses unknown keys and a host with a scheme or path', async () => {
    for (const [hcl, re] of [
      ['identity_token_host = "http://metadata.google.internal"', /identity_token_host/],
      ['identity_token_host = "h/x"', /identity_token_host/],
      ['service_account = "a/b"', /service_account/],
      ['audience = "x"', /audience/],
    ] as const) {
      const err = await rejection(p.configure(hcl));
      expect(err.code).toBe(Status.INVALID_ARGUMENT);
      expect(err.details).toMatch(re);
    }
  });

  it('sends the full-format token for the default service account, fetched anew each time', async () => {
    await p.configure(`identity_token_host = ${JSON.stringify(fakes.metadataHost)}`);
    const before = fakes.counts.get('identity') ?? 0;
    const out = await aid(p);
    expect(out.error).toBeUndefined();
    expect(out.messages).toHaveLength(1);
    expect(out.messages[0]!.data).toBe('payload');
    const claims = claimsOf(out.messages[0]!.payload!.toString('utf8'));
    expect(claims.aud).toBe('spire-gcp-node-attestor');
    expect((claims.google as { compute_engine: { instance_id: string } }).compute_engine.instance_id).toBe(GCP_IIT_INSTANCE.instanceId);
    await aid(p);
    expect((fakes.counts.get('identity') ?? 0) - before).toBe(2);
  });

  it('asks for the configured service account; an unknown one fails with the status', async () => {
    await p.configure(`identity_token_host = ${JSON.stringify(fakes.metadataHost)}\nservice_account = ${JSON.stringify(GCP_IIT_INSTANCE.email)}`);
    expect((await aid(p)).error).toBeUndefined();
    await p.configure(`identity_token_host = ${JSON.stringify(fakes.metadataHost)}\nservice_account = "nobody@example.iam.gserviceaccount.com"`);
    const out = await aid(p);
    expect(out.error?.code).toBe(Status.INTERNAL);
    expect(out.error?.details).toMatch(/^unable to retrieve valid identity token: GET http:\/\/.*nobody%40example.*: unexpected status code: 404/);
    expect(out.messages).toEqual([]);
  });

  it('the fake insists on Metadata-Flavor: Google, as GCE does', async () => {
    const res = await fetch(`http://${fakes.metadataHost}/computeMetadata/v1/instance/service-accounts/default/identity?audience=a&format=full`);
    expect(res.status).toBe(403);
  });

  it('refuses an unreachable host, a non-JWT answer and an oversized one', async () => {
    const server = createServer((req, res) => {
      res.writeHead(200).end(req.url?.includes('big') ? 'a'.repeat(20_000) : '<html>captive portal</html>');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await expect(fetchIdentityToken(identityTokenUrl(host, 'default'))).rejects.toThrow(/the answer is not a compact JWT/);
      await expect(fetchIdentityToken(identityTokenUrl(host, 'big'))).rejects.toThrow(/larger than 16384 bytes/);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    await p.configure(`identity_token_host = ${JSON.stringify(host)}`);
    const out = await aid(p);
    expect(out.error?.code).toBe(Status.INTERNAL);
    expect(out.error?.details).toMatch(/ECONNREFUSED .*is the agent running on a GCE instance/);
  });
});
