/**
 * `spire-server agent list|show|ban|evict|count` and `token generate`, as SPIRE's.
 *
 * @module
 */

import { AdminError } from './client.js';
import type { AdminCommand, AdminContext } from './command.js';
import { idProto, matchBehavior, parseSelector } from './entry-filter.js';
import type { CliFlag } from '@spire-ts/common';
import { formatAgent, formatAgentList, plural } from './print.js';
import { protoJsonLine } from './protojson.js';

const AGENT = 'spire.api.server.agent.v1.Agent';
const PKG = 'spire.api.server.agent.v1';
const PAGE_SIZE = 1000;

const FILTER_FLAGS: readonly CliFlag[] = [
  { name: 'selector', kind: 'strings', usage: 'A colon-delimited type:value selector. Can be used more than once' },
  { name: 'attestationType', kind: 'string', usage: 'Filter by attestation type, like join_token or x509pop.' },
  { name: 'canReattest', kind: 'tristate', usage: "Filter based on string received, 'true': agents that can reattest, 'false': agents that can't reattest, other value will return all." },
  { name: 'banned', kind: 'tristate', usage: "Filter based on string received, 'true': banned agents, 'false': not banned agents, other value will return all." },
  { name: 'expiresBefore', kind: 'string', usage: 'Filter by expiration time (format: "2006-01-02 15:04:05 -0700 -07")' },
  { name: 'matchSelectorsOn', kind: 'string', usage: 'The match mode used when filtering by selectors. Options: exact, any, superset and subset', default: 'superset' },
];

const EXPIRES_BEFORE = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4} [+-]\d{2}$/;

function agentFilter(ctx: AdminContext): Record<string, unknown> {
  const f = ctx.flags;
  const filter: Record<string, unknown> = {};
  if (f.list('selector').length > 0) {
    const match = matchBehavior(f.str('matchSelectorsOn'), 'matchSelectorsOn');
    filter.by_selector_match = { selectors: f.list('selector').map((s) => parseSelector(s)), match };
  }
  const before = f.str('expiresBefore');
  if (before !== '') {
    if (!EXPIRES_BEFORE.test(before) || Number.isNaN(Date.parse(before.slice(0, 10)))) {
      throw new AdminError(`date is not valid: ${JSON.stringify(before)} (expected "2006-01-02 15:04:05 -0700 -07")`);
    }
    filter.by_expires_before = before;
  }
  if (f.str('attestationType') !== '') filter.by_attestation_type = f.str('attestationType');
  const reattest = f.tristate('canReattest');
  if (reattest !== undefined) filter.by_can_reattest = { value: reattest };
  const banned = f.tristate('banned');
  if (banned !== undefined) filter.by_banned = { value: banned };
  return filter;
}

function agentId(ctx: AdminContext): { trust_domain: string; path: string } {
  const id = ctx.flags.str('spiffeID');
  if (id === '') throw new AdminError('a SPIFFE ID is required (set -spiffeID to the agent ID)');
  return idProto(id, 'SPIFFE ID');
}

export const agentList: AdminCommand = {
  name: 'agent list',
  synopsis: 'Lists attested agents and their SPIFFE IDs',
  flags: FILTER_FLAGS,
  async run(ctx) {
    const filter = agentFilter(ctx);
    const agents = [];
    let page_token = '';
    do {
      const resp = await ctx.conn.call(AGENT, 'ListAgents', { page_size: PAGE_SIZE, page_token, filter });
      agents.push(...resp.agents);
      page_token = resp.next_page_token;
    } while (page_token !== '');
    ctx.io.stdout(ctx.output === 'json' ? protoJsonLine(AGENT, `${PKG}.ListAgentsResponse`, { agents, next_page_token: '' }) : formatAgentList(agents));
    return 0;
  },
};

export const agentCount: AdminCommand = {
  name: 'agent count',
  synopsis: 'Count attested agents',
  flags: FILTER_FLAGS,
  async run(ctx) {
    const resp = await ctx.conn.call(AGENT, 'CountAgents', { filter: agentFilter(ctx) });
    const n = Number(resp.count);
    ctx.io.stdout(ctx.output === 'json' ? protoJsonLine(AGENT, `${PKG}.CountAgentsResponse`, { count: n }) : `${plural(`${n} attested `, 'agent', 'agents', n)}\n`);
    return 0;
  },
};

const ID_FLAG = (what: string): CliFlag => ({ name: 'spiffeID', kind: 'string', usage: `The SPIFFE ID of the agent to ${what} (agent identity)` });

export const agentShow: AdminCommand = {
  name: 'agent show',
  synopsis: 'Shows the details of an attested agent given its SPIFFE ID',
  flags: [ID_FLAG('show')],
  async run(ctx) {
    const agent = await ctx.conn.call(AGENT, 'GetAgent', { id: agentId(ctx) });
    ctx.io.stdout(
      ctx.output === 'json'
        ? protoJsonLine(AGENT, 'spire.api.types.Agent', agent as unknown as Record<string, unknown>)
        : `Found an attested agent given its SPIFFE ID\n\n${formatAgent(agent, true)}`,
    );
    return 0;
  },
};

export const agentBan: AdminCommand = {
  name: 'agent ban',
  synopsis: 'Ban an attested agent given its SPIFFE ID',
  flags: [ID_FLAG('ban')],
  async run(ctx) {
    await ctx.conn.call(AGENT, 'BanAgent', { id: agentId(ctx) });
    ctx.io.stdout(ctx.output === 'json' ? '{}\n' : 'Agent banned successfully\n');
    return 0;
  },
};

export const agentEvict: AdminCommand = {
  name: 'agent evict',
  synopsis: 'Evicts an attested agent given its SPIFFE ID',
  flags: [ID_FLAG('evict')],
  async run(ctx) {
    await ctx.conn.call(AGENT, 'DeleteAgent', { id: agentId(ctx) });
    ctx.io.stdout(ctx.output === 'json' ? '{}\n' : 'Agent evicted successfully\n');
    return 0;
  },
};

export const tokenGenerate: AdminCommand = {
  name: 'token generate',
  synopsis: 'Generates a join token',
  flags: [
    { name: 'ttl', kind: 'int', usage: 'Token TTL in seconds', default: 600 },
    { name: 'spiffeID', kind: 'string', usage: 'Additional SPIFFE ID to assign the token owner (optional)' },
  ],
  async run(ctx) {
    const ttl = ctx.flags.int('ttl');
    if (ttl < -(2 ** 31) || ttl > 2 ** 31 - 1) throw new AdminError(`invalid value for TTL: ${ttl} is out of range (at most ${2 ** 31 - 1} seconds)`);
    const sid = ctx.flags.str('spiffeID');
    const agent_id = sid === '' ? null : idProto(sid, 'SPIFFE ID');
    const token = await ctx.conn.call(AGENT, 'CreateJoinToken', { agent_id, ttl });
    if (ctx.output === 'json') {
      ctx.io.stdout(protoJsonLine(AGENT, 'spire.api.types.JoinToken', token as unknown as Record<string, unknown>));
    } else {
      ctx.io.stdout(`Token: ${token.value}\n${sid === '' ? 'Warning: Missing SPIFFE ID.\n' : ''}`);
    }
    return 0;
  },
};
