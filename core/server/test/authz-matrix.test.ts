/**
 * The authorization matrix over real TLS: every RPC the server serves ×
 * {anonymous, agent, another agent, workload SVID, admin (admin_ids), admin
 * entry, downstream entry, local admin socket}. A call counts as denied only
 * when the server says "authorization denied for method ..."; anything else
 * (OK, InvalidArgument for an empty request, ...) means the call got past
 * authorization. Expected outcomes come from SPIRE's default policy table.
 */
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceDefinition, type ServiceName } from '@spire-ts/proto';
import { DEFAULT_POLICY, type Rule } from '@spire-ts/server';
import { ADMIN_ID, newKeyAndCsr, pemChain, startServer, TD, unary, type ClientIdentity, type Harness } from './server-harness.js';

type Who = 'anonymous' | 'agent' | 'otherAgent' | 'workload' | 'admin' | 'adminEntry' | 'downstream' | 'local';
const WHO: Who[] = ['anonymous', 'agent', 'otherAgent', 'workload', 'admin', 'adminEntry', 'downstream', 'local'];

const SERVED: ServiceName[] = [
  'spire.api.server.agent.v1.Agent',
  'spire.api.server.entry.v1.Entry',
  'spire.api.server.svid.v1.SVID',
  'spire.api.server.bundle.v1.Bundle',
  'spire.api.server.debug.v1.Debug',
  'grpc.health.v1.Health',
];

function allowed(rule: Rule, who: Who): boolean {
  if (rule.any) return true;
  switch (who) {
    case 'local':
      return rule.local === true;
    case 'admin':
    case 'adminEntry':
      return rule.admin === true;
    case 'agent':
    case 'otherAgent':
      return rule.agent === true;
    case 'downstream':
      return rule.downstream === true;
    default:
      return false;
  }
}

let h: Harness;
const ids = new Map<Who, ClientIdentity | undefined>();

async function attest(): Promise<ClientIdentity> {
  const agentApi = h.local('spire.api.server.agent.v1.Agent');
  const { value: token } = await unary(agentApi.CreateJoinToken.bind(agentApi), { ttl: 600 });
  const client = h.tls('spire.api.server.agent.v1.Agent');
  const { keyPem, csrDer } = newKeyAndCsr();
  return new Promise((resolve, reject) => {
    const call = client.AttestAgent();
    call.on('data', (res: { result?: { svid?: { cert_chain: Buffer[] } } }) => {
      if (!res.result?.svid) return;
      resolve({ keyPem, certChainPem: pemChain(res.result.svid.cert_chain.map((c) => new Uint8Array(c))) });
      call.end();
    });
    call.on('error', reject);
    call.write({ params: { data: { type: 'join_token', payload: Buffer.from(token) }, params: { csr: csrDer } } });
  });
}

async function mint(path: string): Promise<ClientIdentity> {
  const svid = h.local('spire.api.server.svid.v1.SVID');
  const { keyPem, csrDer } = newKeyAndCsr(`spiffe://${TD}${path}`);
  const res = await unary(svid.MintX509SVID.bind(svid), { csr: csrDer, ttl: 600 });
  return { keyPem, certChainPem: pemChain(res.svid!.cert_chain.map((c) => new Uint8Array(c))) };
}

beforeAll(async () => {
  h = await startServer();
  const entries = h.local('spire.api.server.entry.v1.Entry');
  const parent = { trust_domain: TD, path: '/spire/server' };
  const res = await unary(entries.BatchCreateEntry.bind(entries), {
    entries: [
      { spiffe_id: { trust_domain: TD, path: '/admin-entry' }, parent_id: parent, selectors: [{ type: 'unix', value: 'uid:0' }], admin: true },
      { spiffe_id: { trust_domain: TD, path: '/downstream' }, parent_id: parent, selectors: [{ type: 'unix', value: 'uid:1' }], downstream: true },
    ],
  });
  expect(res.results.map((r) => r.status?.code)).toEqual([0, 0]);
  ids.set('anonymous', undefined);
  ids.set('agent', await attest());
  ids.set('otherAgent', await attest());
  ids.set('workload', await mint('/workload'));
  ids.set('admin', await mint(new URL(ADMIN_ID).pathname));
  ids.set('adminEntry', await mint('/admin-entry'));
  ids.set('downstream', await mint('/downstream'));
  // Let the entry cache see the admin/downstream entries.
  await new Promise((r) => setTimeout(r, 1500));
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

interface Outcome {
  code: number;
  details: string;
}

function callOnce(client: grpc.Client, method: string, shape: { requestStream: boolean; responseStream: boolean }): Promise<Outcome> {
  const c = client as unknown as Record<string, (...a: unknown[]) => unknown>;
  const fn = c[method];
  if (!fn) throw new Error(`no client method ${method}`);
  return new Promise((resolve) => {
    const done = (err: grpc.ServiceError | null): void => resolve({ code: err?.code ?? 0, details: err?.details ?? '' });
    if (!shape.requestStream && !shape.responseStream) {
      fn.call(client, {}, (err: grpc.ServiceError | null) => done(err));
      return;
    }
    const call = (shape.requestStream ? fn.call(client) : fn.call(client, {})) as grpc.ClientDuplexStream<unknown, unknown>;
    let settled = false;
    call.on('data', () => {
      if (settled) return;
      settled = true;
      call.cancel();
      resolve({ code: 0, details: '' });
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (!settled) {
        settled = true;
        done(err);
      }
    });
    call.on('status', (s: grpc.StatusObject) => {
      if (!settled) {
        settled = true;
        resolve({ code: s.code, details: s.details });
      }
    });
    if (shape.requestStream) {
      call.write({});
      call.end();
    }
  });
}

describe('authorization matrix', () => {
  const cases: [string, ServiceName, string, Rule][] = [];
  for (const name of SERVED) {
    const def = serviceDefinition(name) as unknown as Record<string, { path: string }>;
    for (const [method, m] of Object.entries(def)) {
      const rule = DEFAULT_POLICY.get(m.path);
      if (rule) cases.push([m.path, name, method, rule]);
    }
  }

  it('covers every RPC of the served services', () => {
    // Agent 9, Entry 8, SVID 7, Bundle 11, Debug 1, Health 3.
    expect(cases.length).toBe(39);
  });

  it.each(cases)('%s', async (path, name, method, rule) => {
    const def = serviceDefinition(name) as unknown as Record<string, { requestStream: boolean; responseStream: boolean }>;
    const shape = def[method]!;
    const got: Record<string, string> = {};
    const want: Record<string, string> = {};
    for (const who of WHO) {
      const client = (who === 'local' ? h.local(name) : h.tls(name, ids.get(who))) as unknown as grpc.Client;
      const o = await callOnce(client, method, shape);
      const denied = o.code === 7 && o.details.startsWith('authorization denied for method');
      got[who] = denied ? 'denied' : 'allowed';
      want[who] = allowed(rule, who) ? 'allowed' : 'denied';
      // Calls that got through never fail with a transport or auth error.
      if (!denied) expect([14, 16], `${who} ${path}: ${o.details}`).not.toContain(o.code);
    }
    expect(got, path).toEqual(want);
  });
});
