// The agent side of k8s_psat over its real gRPC socket: configuration, the
// payload it sends (SPIRE's PSATAttestationData JSON) and its refusals.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@spire-ts/plugin-sdk';
import { rejection, servePluginInProcess, type InProcessPlugin } from '@spire-ts/conformance';
import { DEFAULT_TOKEN_PATH, MAX_TOKEN_BYTES, k8sPsatAgentPlugin } from '../src/index.js';

type Svc = 'spire.plugin.agent.nodeattestor.v1.NodeAttestor';
interface Outcome {
  messages: { data?: string; payload?: Buffer; challenge_response?: Buffer }[];
  error?: { code: number; details: string };
}

/** One AidAttestation stream: collect what the plugin sends until it ends. */
function aid(p: InProcessPlugin<Svc>): Promise<Outcome> {
  return new Promise((resolve) => {
    const call = p.client.AidAttestation({ deadline: Date.now() + 10_000 });
    const out: Outcome = { messages: [] };
    call.on('data', (m: Outcome['messages'][number]) => {
      out.messages.push(m);
    });
    call.on('error', (err: { code: number; details: string }) => {
      out.error = { code: err.code, details: err.details };
      resolve(out);
    });
    call.on('end', () => resolve(out));
    call.on('status', (s: { code: number }) => {
      if (s.code === 0) resolve(out);
    });
  });
}

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';
let dir: string;
let p: InProcessPlugin<Svc>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'k8s-psat-agent-'));
  p = await servePluginInProcess(k8sPsatAgentPlugin());
});

afterAll(async () => {
  await p?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('agent k8s_psat', () => {
  it('is not usable before Configure', async () => {
    const fresh = await servePluginInProcess(k8sPsatAgentPlugin());
    try {
      const out = await aid(fresh);
      expect(out.error).toMatchObject({ code: Status.FAILED_PRECONDITION, details: 'not configured' });
    } finally {
      await fresh.close();
    }
  });

  it('requires a cluster and refuses unknown keys', async () => {
    const missing = await rejection(p.configure('token_path = "/x"'));
    expect(missing.code).toBe(Status.INVALID_ARGUMENT);
    expect(missing.details).toMatch(/cluster/);
    const unknown = await rejection(p.configure('cluster = "c"\ntoken_file = "/x"'));
    expect(unknown.code).toBe(Status.INVALID_ARGUMENT);
    expect(unknown.details).toMatch(/token_file/);
  });

  it("sends SPIRE's payload: {cluster, token}, the token's trailing newline dropped", async () => {
    const path = join(dir, 'token');
    writeFileSync(path, `${JWT}\n`);
    await p.configure(`cluster = "prod-eu"\ntoken_path = ${JSON.stringify(path)}`);
    const out = await aid(p);
    expect(out.error).toBeUndefined();
    expect(out.messages).toHaveLength(1);
    expect(out.messages[0]!.data).toBe('payload');
    expect(JSON.parse(out.messages[0]!.payload!.toString('utf8'))).toEqual({ cluster: 'prod-eu', token: JWT });
  });

  it('reads the token anew on each attestation (kubelet rotates it)', async () => {
    const path = join(dir, 'rotating');
    writeFileSync(path, 'a.b.c');
    await p.configure(`cluster = "c"\ntoken_path = ${JSON.stringify(path)}`);
    expect(JSON.parse((await aid(p)).messages[0]!.payload!.toString()).token).toBe('a.b.c');
    writeFileSync(path, 'd.e.f');
    expect(JSON.parse((await aid(p)).messages[0]!.payload!.toString()).token).toBe('d.e.f');
  });

  it("defaults token_path to SPIRE's default", async () => {
    await p.configure('cluster = "c"');
    const out = await aid(p);
    // Not mounted on a test machine: the error names the default path.
    expect(out.error?.code).toBe(Status.INVALID_ARGUMENT);
    expect(out.error?.details).toContain(`unable to load token from ${DEFAULT_TOKEN_PATH}`);
  });

  it('refuses a missing, empty or oversized token file with INVALID_ARGUMENT naming the path', async () => {
    const missing = join(dir, 'nope');
    await p.configure(`cluster = "c"\ntoken_path = ${JSON.stringify(missing)}`);
    let out = await aid(p);
    expect(out.error).toMatchObject({ code: Status.INVALID_ARGUMENT });
    expect(out.error?.details).toBe(`unable to load token from ${missing}: no such file (is the projected token volume mounted?)`);

    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    await p.configure(`cluster = "c"\ntoken_path = ${JSON.stringify(empty)}`);
    out = await aid(p);
    expect(out.error?.details).toMatch(/unable to load token from .*empty: ".*empty" is empty/);

    const big = join(dir, 'big');
    writeFileSync(big, 'x'.repeat(MAX_TOKEN_BYTES + 1));
    await p.configure(`cluster = "c"\ntoken_path = ${JSON.stringify(big)}`);
    out = await aid(p);
    expect(out.error?.details).toMatch(/larger than .* bytes; it is not a service account token/);
    expect(out.messages).toEqual([]);
  });
});
