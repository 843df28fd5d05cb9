// The Agent API over real components: SQL DataStore and memory KeyManager
// plugins, the CA manager, the entry cache and the fixture NodeAttestor
// plugin (a child process) relaying challenges; plus one AttestAgent round
// trip over a LeanGrpcServer on a Unix socket with a grpc-js client.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeanGrpcServer, Status, addService, type ServiceImpl } from '@spire-ts/plugin-sdk';
import { createClient, type serverApiAgentV1 } from '@spire-ts/proto';
import { agentService } from '../src/api/agent.js';
import { setCaller } from '../src/api/caller.js';
import { decodeDeniedReason } from '../src/api/errors.js';
import { joinTokenAgentId } from '../src/attestor/join-token.js';
import { FakeAttestStream, T0, TD, agentCall, callFromSvid, checkSvid, local, newCsr, startEnv, type Direct, direct, type TestEnv } from './agent-svid-support/env.js';

let env: TestEnv;
let svc: ServiceImpl<'spire.api.server.agent.v1.Agent'>;
let api: Direct<'spire.api.server.agent.v1.Agent'>;
beforeAll(async () => {
  env = await startEnv({ nodeAttestorPlugin: true });
  svc = agentService(env.deps);
  api = direct(svc);
});
afterAll(() => env?.close());

type ApiErr = Error & { code: number; metadata?: grpc.Metadata };
async function rejection(p: Promise<unknown> | unknown): Promise<ApiErr> {
  const err = await Promise.resolve(p).then(
    () => undefined,
    (e: unknown) => e as ApiErr,
  );
  if (!err) throw new Error('expected a rejection');
  return err;
}

const AGENT = (s: string): string => `spiffe://${TD}/spire/agent/test/${s}`;

/** Plays an agent against the fixture attestor: answers `nonce-x` with `answer-x` (or `answers` in order). */
async function attestWithPlugin(payload: string, answers?: string[]): Promise<FakeAttestStream & { key: ReturnType<typeof newCsr>['key'] }> {
  const stream = new FakeAttestStream();
  svc.AttestAgent!(stream as never);
  const { key, csr } = newCsr();
  stream.send({ params: { data: { type: 'test', payload: Buffer.from(payload) }, params: { csr } } });
  let taken = 0;
  const done = stream.finished().then(() => 'done' as const);
  for (;;) {
    const next = await Promise.race([stream.nextWritten(taken), done]);
    if (next === 'done' || !next.challenge) break;
    taken++;
    const c = Buffer.from(next.challenge).toString();
    const answer = answers ? (answers.shift() ?? '') : c.replace(/^nonce-/, 'answer-');
    stream.send({ challenge_response: Buffer.from(answer) });
  }
  await done;
  return Object.assign(stream, { key });
}

async function joinTokenAgent(token: string): Promise<{ id: string; svid: NonNullable<serverApiAgentV1.AttestAgentResponse['result']>['svid'] }> {
  await api.CreateJoinToken({ ttl: 600, token, agent_id: null }, local());
  const stream = new FakeAttestStream();
  svc.AttestAgent!(stream as never);
  stream.send({ params: { data: { type: 'join_token', payload: Buffer.from(token) }, params: { csr: newCsr().csr } } });
  await stream.finished();
  expect(stream.error).toBeUndefined();
  return { id: joinTokenAgentId(TD, token), svid: stream.written[0]?.result?.svid };
}

describe('AttestAgent', () => {
  it('refuses malformed first messages with "malformed param"', async () => {
    const { csr } = newCsr();
    const cases: Array<[serverApiAgentV1.AttestAgentRequest, string]> = [
      [{ challenge_response: Buffer.from('x') }, 'malformed param: missing params'],
      [{ params: { params: { csr } } }, 'malformed param: missing attestation data'],
      [{ params: { data: { type: 'join_token', payload: Buffer.from('t') } } }, 'malformed param: missing X509-SVID parameters'],
      [{ params: { data: { type: 'join_token', payload: Buffer.from('t') }, params: { csr: Buffer.alloc(0) } } }, 'malformed param: missing CSR'],
      [{ params: { data: { type: '', payload: Buffer.from('t') }, params: { csr } } }, 'malformed param: missing attestation data type'],
      [{ params: { data: { type: 'join_token', payload: Buffer.alloc(0) }, params: { csr } } }, 'malformed param: missing attestation data payload'],
    ];
    for (const [msg, want] of cases) {
      const stream = new FakeAttestStream();
      svc.AttestAgent!(stream as never);
      stream.send(msg);
      await stream.finished();
      expect(stream.error, want).toMatchObject({ code: Status.INVALID_ARGUMENT, message: want });
    }
    const closed = new FakeAttestStream();
    svc.AttestAgent!(closed as never);
    closed.closeSend();
    await closed.finished();
    expect(closed.error?.code).toBe(Status.INVALID_ARGUMENT);
  });

  it('refuses an unknown attestor type with FAILED_PRECONDITION naming it', async () => {
    const stream = new FakeAttestStream();
    svc.AttestAgent!(stream as never);
    stream.send({ params: { data: { type: 'aws_iid', payload: Buffer.from('x') }, params: { csr: newCsr().csr } } });
    await stream.finished();
    expect(stream.error?.code).toBe(Status.FAILED_PRECONDITION);
    expect(stream.error?.message).toContain('"aws_iid"');
  });

  it('refuses join tokens when NodeAttestor "join_token" is not configured, as SPIRE does', async () => {
    await api.CreateJoinToken({ ttl: 600, token: 'unconfigured-jt', agent_id: null }, local());
    const off = agentService({ ...env.deps, joinTokenEnabled: false });
    const stream = new FakeAttestStream();
    off.AttestAgent!(stream as never);
    stream.send({ params: { data: { type: 'join_token', payload: Buffer.from('unconfigured-jt') }, params: { csr: newCsr().csr } } });
    await stream.finished();
    expect(stream.error?.code).toBe(Status.FAILED_PRECONDITION);
    expect(stream.error?.message).toContain('could not find node attestor type "join_token"');
  });

  it('relays plugin challenges, stores deduplicated selectors typed by the plugin name', async () => {
    const s = await attestWithPlugin('ok:node1');
    expect(s.error).toBeUndefined();
    expect(s.written.map((m) => (m.challenge ? Buffer.from(m.challenge).toString() : 'result'))).toEqual(['nonce-node1', 'result']);
    const result = s.written[1]?.result;
    expect(result?.reattestable).toBe(true);
    checkSvid(env, result?.svid, AGENT('node1'), s.key);
    const node = await env.ds.fetchNode(AGENT('node1'), { selectors: true });
    expect(node).toMatchObject({ attestationDataType: 'test', canReattest: true, banned: false });
    expect(node?.selectors?.map((x) => `${x.type}:${x.value}`).sort()).toEqual(['test:a', 'test:b']);

    // Two rounds.
    const twice = await attestWithPlugin('twice:node2', ['a1-node2', 'a2-node2']);
    expect(twice.error).toBeUndefined();
    expect(twice.written.filter((m) => m.challenge)).toHaveLength(2);
    expect(twice.written.at(-1)?.result?.reattestable).toBe(false);
  });

  it('re-attestation of a reattestable agent replaces its certificate', async () => {
    const before = await env.ds.fetchNode(AGENT('node1'));
    const s = await attestWithPlugin('ok:node1');
    expect(s.error).toBeUndefined();
    const after = await env.ds.fetchNode(AGENT('node1'));
    expect(after?.certSerialNumber).not.toBe(before?.certSerialNumber);
    expect(after?.newCertSerialNumber).toBe('');
  });

  it('passes plugin refusals through with their code, prefixed with the plugin label', async () => {
    const deny = await attestWithPlugin('deny');
    expect(deny.error).toMatchObject({ code: Status.PERMISSION_DENIED, message: 'nodeattestor(test): attestation refused by fixture' });
    const wrong = await attestWithPlugin('ok:node3', ['not-the-answer']);
    expect(wrong.error?.code).toBe(Status.PERMISSION_DENIED);
    expect(await env.ds.fetchNode(AGENT('node3'))).toBeUndefined();
  });

  it('treats hostile plugin answers as INTERNAL naming the plugin', async () => {
    const cases: Array<[string, RegExp]> = [
      ['empty', /^nodeattestor\(test\): plugin response missing challenge or agent attributes$/],
      ['noid', /^nodeattestor\(test\): plugin response missing agent ID$/],
      ['badid', /^nodeattestor\(test\): plugin returned an invalid agent ID/],
      ['emptysel:x', /^nodeattestor\(test\): plugin returned an empty selector value/],
      ['eof', /^nodeattestor\(test\): plugin closed stream unexpectedly$/],
      ['other', /not an agent ID of trust domain "example.org"/],
      ['workload', /not an agent ID of trust domain "example.org"/],
      ['server', /agent ID cannot collide with the server ID/],
    ];
    for (const [payload, want] of cases) {
      const s = await attestWithPlugin(payload);
      expect(s.error?.code, payload).toBe(Status.INTERNAL);
      expect(s.error?.message, payload).toMatch(want);
    }
    expect(await env.ds.countNodes({ byAttestationType: 'test' })).toBe(2);
  });

  it('forwards the client IP to the plugin as metadata', async () => {
    const s = await attestWithPlugin('meta:node4');
    expect(s.error).toBeUndefined();
    expect((await env.ds.getNodeSelectors(AGENT('node4'))).map((x) => x.value).sort()).toEqual(['host=', 'ip=10.1.2.3']);
  });

  it('fails INTERNAL when the agent goes away during a challenge', async () => {
    const stream = new FakeAttestStream();
    svc.AttestAgent!(stream as never);
    stream.send({ params: { data: { type: 'test', payload: Buffer.from('ok:gone') }, params: { csr: newCsr().csr } } });
    await stream.nextWritten(0);
    stream.closeSend();
    await stream.finished();
    expect(stream.error?.code).toBe(Status.INTERNAL);
    expect(stream.error?.message).toMatch(/failed to receive challenge from agent/);
  });

  it('refuses a banned agent with PERMISSION_DENIED', async () => {
    expect((await attestWithPlugin('plain:banme')).error).toBeUndefined();
    await api.BanAgent({ id: { trust_domain: TD, path: '/spire/agent/test/banme' } }, local());
    const got = await api.GetAgent({ id: { trust_domain: TD, path: '/spire/agent/test/banme' }, output_mask: null }, local());
    expect(got).toMatchObject({ banned: true, x509svid_serial_number: '' });
    const again = await attestWithPlugin('plain:banme');
    expect(again.error).toMatchObject({ code: Status.PERMISSION_DENIED, message: 'failed to attest: agent is banned' });
  });
});

describe('RenewAgent', () => {
  it('signs a new SVID and records it as the pending serial', async () => {
    const { id, svid } = await joinTokenAgent('renew-me');
    const before = await env.ds.fetchNode(id);
    const { key, csr } = newCsr();
    const res = await api.RenewAgent({ params: { csr } }, callFromSvid(svid));
    const leaf = checkSvid(env, res.svid, id, key);
    const after = await env.ds.fetchNode(id);
    expect(after?.certSerialNumber).toBe(before?.certSerialNumber);
    expect(after?.newCertSerialNumber).toBe(BigInt(`0x${leaf.serialNumber}`).toString(10));
    expect(after?.newCertNotAfter).toBe(res.svid?.expires_at);
    expect(env.cache.agent(id)?.newCertSerialNumber).toBe(after?.newCertSerialNumber);
  });

  it('tells a reattestable agent to reattest (PermissionDeniedDetails AGENT_MUST_REATTEST)', async () => {
    const err = await rejection(api.RenewAgent({ params: { csr: newCsr().csr } }, agentCall(AGENT('node1'))));
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.message).toBe('agent must reattest instead of renew');
    const details = err.metadata?.get('grpc-status-details-bin')[0];
    expect(details).toBeInstanceOf(Buffer);
    expect(decodeDeniedReason(details as Buffer)).toBe('AGENT_MUST_REATTEST');
  });

  it('checks the caller and the request', async () => {
    expect((await rejection(api.RenewAgent({ params: { csr: newCsr().csr } }, local()))).code).toBe(Status.PERMISSION_DENIED);
    expect((await rejection(api.RenewAgent({ params: { csr: newCsr().csr } }, agentCall(AGENT('nobody'))))).code).toBe(Status.NOT_FOUND);
    const { id } = await joinTokenAgent('renew-bad');
    expect(await rejection(api.RenewAgent({ params: null }, agentCall(id)))).toMatchObject({ code: Status.INVALID_ARGUMENT, message: 'params cannot be nil' });
    expect(await rejection(api.RenewAgent({ params: { csr: Buffer.alloc(0) } }, agentCall(id)))).toMatchObject({ message: 'missing CSR' });
    const bad = await rejection(api.RenewAgent({ params: { csr: Buffer.from('nope') } }, agentCall(id)));
    expect(bad.code).toBe(Status.INVALID_ARGUMENT);
    expect(bad.message).toMatch(/^failed to parse CSR: /);
  });
});

describe('agent administration', () => {
  it('CreateJoinToken validates and can create the alias entry', async () => {
    expect(await rejection(api.CreateJoinToken({ ttl: 0, token: '', agent_id: null }, local()))).toMatchObject({
      code: Status.INVALID_ARGUMENT,
      message: 'ttl is required, you must provide one',
    });
    const badAlias = await rejection(api.CreateJoinToken({ ttl: 60, token: '', agent_id: { trust_domain: TD, path: '/spire/agent/x' } }, local()));
    expect(badAlias.code).toBe(Status.INVALID_ARGUMENT);
    expect(badAlias.message).toMatch(/^invalid agent ID: .*reserved namespace/);
    expect((await rejection(api.CreateJoinToken({ ttl: 60, token: 'a/b', agent_id: null }, local()))).code).toBe(Status.INVALID_ARGUMENT);

    const tok = await api.CreateJoinToken({ ttl: 60, token: 'aliased', agent_id: { trust_domain: TD, path: '/node/alias' } }, local());
    expect(tok).toEqual({ value: 'aliased', expires_at: T0 / 1000 + 60 });
    const parent = joinTokenAgentId(TD, 'aliased');
    const entries = await env.ds.listEntries({ pageSize: 10 }, { bySpiffeId: `spiffe://${TD}/node/alias` });
    expect(entries.items).toHaveLength(1);
    expect(entries.items[0]).toMatchObject({ parentId: parent, selectors: [{ type: 'spiffe_id', value: parent }] });
  });

  it('GetAgent, ListAgents (filters, mask, paging), CountAgents, DeleteAgent', async () => {
    expect(await rejection(api.GetAgent({ id: null, output_mask: null }, local()))).toMatchObject({
      code: Status.INVALID_ARGUMENT,
      message: 'invalid agent ID: request must specify SPIFFE ID',
    });
    expect((await rejection(api.GetAgent({ id: { trust_domain: TD, path: '/workload' }, output_mask: null }, local()))).code).toBe(Status.INVALID_ARGUMENT);
    expect(await rejection(api.GetAgent({ id: { trust_domain: TD, path: '/spire/agent/none' }, output_mask: null }, local()))).toMatchObject({
      code: Status.NOT_FOUND,
      message: 'agent not found',
    });
    const one = await api.GetAgent({ id: { trust_domain: TD, path: '/spire/agent/test/node1' }, output_mask: null }, local());
    expect(one).toMatchObject({ attestation_type: 'test', can_reattest: true, banned: false });
    expect(one.selectors.map((s) => s.value).sort()).toEqual(['a', 'b']);

    const all = await api.ListAgents({ filter: null, output_mask: null, page_size: 0, page_token: '' }, local());
    const total = (await api.CountAgents({ filter: null }, local())).count;
    expect(all.agents).toHaveLength(total);
    expect(all.next_page_token).toBe('');

    const seen: string[] = [];
    let token = '';
    do {
      const page = await api.ListAgents({ filter: null, output_mask: null, page_size: 2, page_token: token }, local());
      expect(page.agents.length).toBeLessThanOrEqual(2);
      seen.push(...page.agents.map((a) => a.id?.path ?? ''));
      token = page.next_page_token;
    } while (token !== '');
    expect(seen.sort()).toEqual(all.agents.map((a) => a.id?.path ?? '').sort());

    const masked = await api.ListAgents(
      { filter: { by_attestation_type: 'test', by_can_reattest: { value: true } }, output_mask: { attestation_type: true }, page_size: 0, page_token: '' },
      local(),
    );
    expect(masked.agents.map((a) => a.id?.path)).toEqual(['/spire/agent/test/node1']);
    expect(masked.agents[0]).toMatchObject({ attestation_type: 'test', can_reattest: false, selectors: [], x509svid_serial_number: '' });

    const banned = await api.CountAgents({ filter: { by_banned: { value: true } } }, local());
    expect(banned.count).toBe(1);
    const bySel = await api.ListAgents(
      { filter: { by_selector_match: { selectors: [{ type: 'test', value: 'twice' }], match: 'MATCH_SUBSET' } }, output_mask: null, page_size: 0, page_token: '' },
      local(),
    );
    expect(bySel.agents.map((a) => a.id?.path)).toEqual(['/spire/agent/test/node2']);
    const far = await api.CountAgents({ filter: { by_expires_before: '2030-01-01 00:00:00 +0000 UTC' } }, local());
    expect(far.count).toBe(total);
    const past = await api.CountAgents({ filter: { by_expires_before: '2025-01-01T00:00:00Z' } }, local());
    expect(past.count).toBe(0);
    expect((await rejection(api.CountAgents({ filter: { by_expires_before: 'tomorrow' } }, local()))).code).toBe(Status.INVALID_ARGUMENT);
    const badSel = await rejection(api.ListAgents({ filter: { by_selector_match: { selectors: [{ type: 'a:b', value: 'x' }] } }, output_mask: null, page_size: 0, page_token: '' }, local()));
    expect(badSel).toMatchObject({ code: Status.INVALID_ARGUMENT, message: "failed to parse selectors: selector type contains ':'" });

    await api.DeleteAgent({ id: { trust_domain: TD, path: '/spire/agent/test/node2' } }, local());
    expect((await rejection(api.DeleteAgent({ id: { trust_domain: TD, path: '/spire/agent/test/node2' } }, local()))).code).toBe(Status.NOT_FOUND);
    expect((await api.CountAgents({ filter: null }, local())).count).toBe(total - 1);
    expect((await rejection(api.BanAgent({ id: { trust_domain: TD, path: '/spire/agent/test/node2' } }, local()))).code).toBe(Status.NOT_FOUND);
  });

  it('PostStatus records the agent version', async () => {
    const { id } = await joinTokenAgent('status');
    await api.PostStatus({ current_bundle_serial: 1, agent_version: '1.12.0' }, agentCall(id));
    expect((await env.ds.fetchNode(id))?.agentVersion).toBe('1.12.0');
    const long = await rejection(api.PostStatus({ current_bundle_serial: 1, agent_version: 'x'.repeat(256) }, agentCall(id)));
    expect(long).toMatchObject({ code: Status.INVALID_ARGUMENT, message: 'agent version is too long (max 255 characters)' });
  });
});

describe('AttestAgent over gRPC (LeanGrpcServer on a Unix socket, grpc-js client)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'api-agent-grpc-'));
  const socket = join(dir, 'api.sock');
  const server = new LeanGrpcServer();
  let client: ReturnType<typeof createClient<'spire.api.server.agent.v1.Agent'>>;
  beforeAll(async () => {
    const impl = agentService(env.deps);
    addService(server, 'spire.api.server.agent.v1.Agent', {
      ...impl,
      AttestAgent(call) {
        setCaller(call, { kind: 'anonymous', address: call.getPeer() });
        impl.AttestAgent!(call);
      },
    });
    await server.listen(socket);
    client = createClient('spire.api.server.agent.v1.Agent', `unix:${socket}`, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    client?.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function attest(type: string, payload: string): Promise<{ messages: serverApiAgentV1.AttestAgentResponse__Output[]; error?: grpc.ServiceError; key: ReturnType<typeof newCsr>['key'] }> {
    const { key, csr } = newCsr();
    const call = client.AttestAgent();
    const messages: serverApiAgentV1.AttestAgentResponse__Output[] = [];
    return new Promise((resolve) => {
      call.on('data', (m: serverApiAgentV1.AttestAgentResponse__Output) => {
        messages.push(m);
        if (m.challenge) call.write({ challenge_response: Buffer.from(Buffer.from(m.challenge).toString().replace(/^nonce-/, 'answer-')) });
        if (m.result) call.end();
      });
      call.on('error', (error: grpc.ServiceError) => resolve({ messages, error, key }));
      call.on('status', (s: grpc.StatusObject) => {
        if (s.code === grpc.status.OK) resolve({ messages, key });
      });
      call.write({ params: { data: { type, payload: Buffer.from(payload) }, params: { csr } } });
    });
  }

  it('attests with a join token and with a challenge-response plugin', async () => {
    await api.CreateJoinToken({ ttl: 600, token: 'over-grpc', agent_id: null }, local());
    const jt = await attest('join_token', 'over-grpc');
    expect(jt.error).toBeUndefined();
    checkSvid(env, jt.messages[0]?.result?.svid, joinTokenAgentId(TD, 'over-grpc'), jt.key);

    const reused = await attest('join_token', 'over-grpc');
    expect(reused.error?.code).toBe(grpc.status.INVALID_ARGUMENT);

    const pl = await attest('test', 'ok:grpc');
    expect(pl.error).toBeUndefined();
    expect(pl.messages.map((m) => m.step)).toEqual(['challenge', 'result']);
    checkSvid(env, pl.messages[1]?.result?.svid, AGENT('grpc'), pl.key);
  });
});
