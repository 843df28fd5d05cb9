// Join-token attestation over the real SQL DataStore plugin: a token attests
// once (even under a race), unknown and expired tokens are refused, and the
// whole AttestAgent flow with a token issues a verifiable agent SVID.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@spire-ts/plugin-sdk';
import { agentService } from '../src/api/agent.js';
import { attestJoinToken, joinTokenAgentId, joinTokenProblem } from '../src/attestor/join-token.js';
import { FakeAttestStream, T0, TD, checkSvid, local, newCsr, startEnv, type TestEnv } from './agent-svid-support/env.js';

let env: TestEnv;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(() => env?.close());

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

async function rejection(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as { code: number; message: string },
  );
  if (!err) throw new Error('expected a rejection');
  return err;
}

describe('join token attestation', () => {
  it('derives the agent ID from the token and checks token shape', () => {
    expect(joinTokenAgentId(TD, 'abc-123')).toBe('spiffe://example.org/spire/agent/join_token/abc-123');
    expect(joinTokenProblem(TD, 'abc-123')).toBeUndefined();
    expect(joinTokenProblem(TD, '')).toBe('token is empty');
    expect(joinTokenProblem(TD, 'a/b')).toMatch(/./);
    expect(joinTokenProblem(TD, 'a b')).toMatch(/./);
  });

  it('attests once; a second use is refused', async () => {
    await env.ds.createJoinToken({ token: 'once', expiresAt: T0 / 1000 + 60 });
    const r = await attestJoinToken(env.deps, bytes('once'));
    expect(r).toEqual({ agentId: 'spiffe://example.org/spire/agent/join_token/once', selectors: [], canReattest: false });
    const err = await rejection(attestJoinToken(env.deps, bytes('once')));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.message).toBe('failed to attest: join token does not exist or has already been used');
  });

  it('lets only one of two racing attestations win', async () => {
    await env.ds.createJoinToken({ token: 'race', expiresAt: T0 / 1000 + 60 });
    const results = await Promise.allSettled([attestJoinToken(env.deps, bytes('race')), attestJoinToken(env.deps, bytes('race'))]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
  });

  it('refuses unknown and malformed tokens', async () => {
    for (const t of ['never-issued', 'a/b', '']) {
      const err = await rejection(attestJoinToken(env.deps, bytes(t)));
      expect(err.code).toBe(Status.INVALID_ARGUMENT);
      expect(err.message).toMatch(/does not exist or has already been used/);
    }
  });

  it('refuses an expired token (expiresAt <= now) and consumes it', async () => {
    await env.ds.createJoinToken({ token: 'expired', expiresAt: T0 / 1000 });
    const err = await rejection(attestJoinToken(env.deps, bytes('expired')));
    expect(err).toMatchObject({ code: Status.INVALID_ARGUMENT, message: 'join token expired' });
    expect(await env.ds.fetchJoinToken('expired')).toBeUndefined();
    // One second before expiry it still works.
    await env.ds.createJoinToken({ token: 'fresh', expiresAt: T0 / 1000 + 1 });
    await expect(attestJoinToken(env.deps, bytes('fresh'))).resolves.toMatchObject({ canReattest: false });
  });

  it('AttestAgent with a token made by CreateJoinToken issues an agent SVID and records the node', async () => {
    const svc = agentService(env.deps);
    const created = await svc.CreateJoinToken!({ ttl: 600, token: '', agent_id: null }, local() as never);
    expect(created.value).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.expires_at).toBe(T0 / 1000 + 600);

    const stream = new FakeAttestStream();
    svc.AttestAgent!(stream as never);
    const { key, csr } = newCsr();
    stream.send({ params: { data: { type: 'join_token', payload: Buffer.from(String(created.value)) }, params: { csr } } });
    await stream.finished();
    expect(stream.error).toBeUndefined();
    const result = stream.written[0]?.result;
    expect(result?.reattestable).toBe(false);
    const id = joinTokenAgentId(TD, String(created.value));
    const leaf = checkSvid(env, result?.svid as never, id, key);
    const node = await env.ds.fetchNode(id, { selectors: true });
    expect(node).toMatchObject({
      attestationDataType: 'join_token',
      certSerialNumber: BigInt(`0x${leaf.serialNumber}`).toString(10),
      certNotAfter: Math.floor(new Date(leaf.validTo).getTime() / 1000),
      canReattest: false,
      banned: false,
    });
    expect(env.cache.agent(id)).toBeDefined();

    // The same token again: refused, nothing changes.
    const again = new FakeAttestStream();
    svc.AttestAgent!(again as never);
    again.send({ params: { data: { type: 'join_token', payload: Buffer.from(String(created.value)) }, params: { csr } } });
    await again.finished();
    expect(again.error?.code).toBe(Status.INVALID_ARGUMENT);
    expect((await env.ds.fetchNode(id))?.certSerialNumber).toBe(node?.certSerialNumber);
  });

  it('AttestAgent refuses an expired token with "join token expired"', async () => {
    const svc = agentService(env.deps);
    await svc.CreateJoinToken!({ ttl: 10, token: 'short-lived', agent_id: null }, local() as never);
    env.setNow(T0 + 10_000);
    try {
      const stream = new FakeAttestStream();
      svc.AttestAgent!(stream as never);
      stream.send({ params: { data: { type: 'join_token', payload: Buffer.from('short-lived') }, params: { csr: newCsr().csr } } });
      await stream.finished();
      expect(stream.error).toMatchObject({ code: Status.INVALID_ARGUMENT, message: 'join token expired' });
      expect(await env.ds.fetchNode(joinTokenAgentId(TD, 'short-lived'))).toBeUndefined();
    } finally {
      env.setNow(T0);
    }
  });
});
