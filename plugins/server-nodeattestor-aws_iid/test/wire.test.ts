// Both aws_iid plugins in-process over their real gRPC sockets: Configure
// errors, the bidi streams' shape (payload first; no payload, or a stream
// that ends early, is INVALID_ARGUMENT), and the agent's payload.
import { Status } from '@spire-ts/plugin-sdk';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejection, servePluginInProcess } from '@spire-ts/conformance';
import { awsIidAgentPlugin } from '@spire-ts/agent-nodeattestor-aws_iid';
import { awsIidServerPlugin } from '../src/index.js';
import { setupAwsIid, type AwsIidFixtureEnv } from '../../../conformance/src/fixtures/aws_iid.js';

let dir: string;
let env: AwsIidFixtureEnv;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aws-iid-wire-'));
  env = await setupAwsIid({ tmpDir: dir, trustDomain: 'example.org' });
});
afterAll(async () => {
  await env.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Msg {
  agent_attributes?: { spiffe_id: string; selector_values: string[]; can_reattest: boolean };
  payload?: Buffer;
}

/** Collects a bidi stream's messages until it ends or fails. */
function drain(stream: NodeJS.EventEmitter): Promise<{ messages: Msg[]; error?: { code: number; details: string } }> {
  return new Promise((resolve) => {
    const messages: Msg[] = [];
    stream.on('data', (m: Msg) => messages.push(m));
    stream.on('error', (error: { code: number; details: string }) => resolve({ messages, error }));
    stream.on('end', () => resolve({ messages }));
  });
}

describe('server plugin over gRPC', () => {
  it('Configure refuses unsupported keys with INVALID_ARGUMENT', async () => {
    const p = await servePluginInProcess(awsIidServerPlugin({ env: {} }));
    try {
      const err = await rejection(p.configure(`${env.serverPluginData}\nassume_role = "x"`));
      expect(err.code).toBe(Status.INVALID_ARGUMENT);
      expect(err.details).toMatch(/assume_role is not supported/);
      const typo = await rejection(p.configure('skip_block_devices = true'));
      expect(typo.code).toBe(Status.INVALID_ARGUMENT);
      expect(typo.details).toMatch(/skip_block_devices/);
    } finally {
      await p.close();
    }
  });

  it('a stream without a payload first, or that ends early, is INVALID_ARGUMENT; a good one gets agent attributes', async () => {
    const p = await servePluginInProcess(awsIidServerPlugin({ env: {}, attested: () => Promise.resolve(false) }));
    try {
      await p.configure(env.serverPluginData);
      const s1 = p.client.Attest();
      const r1 = drain(s1);
      s1.write({ challenge_response: Buffer.from('x') });
      expect((await r1).error).toMatchObject({ code: Status.INVALID_ARGUMENT, details: 'missing attestation payload' });
      const s2 = p.client.Attest();
      const r2 = drain(s2);
      s2.end();
      expect((await r2).error).toMatchObject({ code: Status.INVALID_ARGUMENT, details: 'the stream ended before the attestation payload' });

      const agent = await servePluginInProcess(awsIidAgentPlugin());
      try {
        await agent.configure(env.agentPluginData);
        const a = agent.client.AidAttestation();
        const ra = drain(a);
        a.end();
        const { messages, error } = await ra;
        expect(error).toBeUndefined();
        expect(messages).toHaveLength(1);
        const payload = messages[0]!.payload!;
        expect(Object.keys(JSON.parse(payload.toString()) as object)).toEqual(['document', 'signature', 'rsa2048']);

        const s3 = p.client.Attest();
        const r3 = drain(s3);
        s3.write({ payload });
        const got = await r3;
        expect(got.error).toBeUndefined();
        expect(got.messages[0]?.agent_attributes).toMatchObject({
          spiffe_id: 'spiffe://example.org/spire/agent/aws_iid/123456789012/us-west-2/i-0123456789abcdef0',
          can_reattest: false,
        });
      } finally {
        await agent.close();
      }
    } finally {
      await p.close();
    }
  });

  it('the agent plugin before Configure is FAILED_PRECONDITION', async () => {
    const agent = await servePluginInProcess(awsIidAgentPlugin());
    try {
      const a = agent.client.AidAttestation();
      const r = drain(a);
      expect((await r).error).toMatchObject({ code: Status.FAILED_PRECONDITION });
    } finally {
      await agent.close();
    }
  });
});
