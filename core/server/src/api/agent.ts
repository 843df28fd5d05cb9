/**
 * `spire.api.server.agent.v1.Agent` (SPIRE's pkg/server/api/agent/v1):
 * listing, inspecting, deleting and banning agents, join tokens, and the
 * agent-facing AttestAgent, RenewAgent and PostStatus. Who may call what is
 * the authorization layer's decision; RenewAgent and PostStatus act on the
 * calling agent only.
 */
import { randomUUID } from 'node:crypto';
import { isAgentId } from '@spire-ts/common';
import type { ServiceImpl } from '@spire-ts/plugin-sdk';
import type { apiTypes } from '@spire-ts/proto';
import { attestAgent, dsCall, signAgentSvid, type AttestStream } from '../attestor/attest-agent.js';
import { joinTokenAgentId, joinTokenProblem } from '../attestor/join-token.js';
import type { AttestedNode, NodeFilters } from '../plugin/datastore/datastore.js';
import { callerOf } from './caller.js';
import { agentToProto, applyAgentMask, maskWantsSelectors, nodeFiltersFromProto, type ProtoAgentFilter } from './convert/agent.js';
import { agentIdFromProto, codeOf, workloadIdFromProto, type ProtoId } from './convert/common.js';
import { x509SvidToProto, svidRecord } from './convert/svid.js';
import type { ApiDeps } from './deps.js';
import { deniedWithReason, internal, invalidArgument, notFound, permissionDenied, Status } from './errors.js';

type Impl = ServiceImpl<'spire.api.server.agent.v1.Agent'>;

/** Page size used to read every node when the caller asked for no paging. */
const LIST_ALL_PAGE = 1000;
const MAX_AGENT_VERSION = 255;

export function agentService(deps: ApiDeps): Impl {
  const agentIdOf = (proto: ProtoId): string => {
    try {
      return agentIdFromProto(deps.trustDomain, proto);
    } catch (err) {
      throw invalidArgument(`invalid agent ID: ${(err as Error).message}`);
    }
  };

  const filtersOf = (filter: ProtoAgentFilter | null | undefined): NodeFilters => {
    try {
      return nodeFiltersFromProto(filter);
    } catch (err) {
      throw invalidArgument((err as Error).message);
    }
  };

  const refresh = async (why: string): Promise<void> => {
    try {
      await deps.entries.refresh();
    } catch (err) {
      deps.log.warn(`Failed to refresh the entry cache after ${why}`, { error: (err as Error).message });
    }
  };

  /** The calling agent's SPIFFE ID (RenewAgent, PostStatus). */
  const callingAgent = (call: object): string => {
    const caller = callerOf(call);
    if (caller.kind !== 'x509' || !isAgentId(caller.spiffeId, deps.trustDomain)) {
      throw permissionDenied('caller is not an agent of this trust domain');
    }
    return caller.spiffeId;
  };

  /** Fetches the node, applies `change` and stores every field back (SPIRE updates with a field mask). */
  const updateNode = async (id: string, change: Partial<AttestedNode>): Promise<AttestedNode> => {
    const node = await dsCall('failed to fetch agent', () => deps.ds.fetchNode(id));
    if (!node) throw notFound('agent not found');
    const { banned: _banned, selectors: _selectors, ...fields } = node;
    try {
      return await deps.ds.updateNode({ ...fields, ...change, spiffeId: id });
    } catch (err) {
      if (codeOf(err) === Status.NOT_FOUND) throw notFound('agent not found');
      throw internal(`failed to update agent: ${(err as Error).message}`, err);
    }
  };

  return {
    async CountAgents(req) {
      const filters = filtersOf(req.filter);
      const count = await dsCall('failed to count agents', () => deps.ds.countNodes(filters));
      return { count };
    },

    async ListAgents(req) {
      const filters = filtersOf(req.filter);
      const selectors = maskWantsSelectors(req.output_mask);
      const nodes: AttestedNode[] = [];
      let nextPageToken = '';
      if (req.page_size > 0) {
        const page = await dsCall('failed to list agents', () =>
          deps.ds.listNodes({ pageSize: req.page_size, pageToken: req.page_token }, filters, { selectors }),
        );
        nodes.push(...page.items);
        nextPageToken = page.nextPageToken;
      } else {
        let token = '';
        do {
          const page = await dsCall('failed to list agents', () => deps.ds.listNodes({ pageSize: LIST_ALL_PAGE, pageToken: token }, filters, { selectors }));
          nodes.push(...page.items);
          token = page.items.length === 0 ? '' : page.nextPageToken;
        } while (token !== '');
      }
      const agents: apiTypes.Agent__Output[] = [];
      for (const node of nodes) {
        try {
          agents.push(applyAgentMask(agentToProto(node, node.selectors), req.output_mask));
        } catch (err) {
          deps.log.warn('Failed to parse agent', { spiffe_id: node.spiffeId, error: (err as Error).message });
        }
      }
      return { agents, next_page_token: nextPageToken };
    },

    async GetAgent(req) {
      const id = agentIdOf(req.id);
      const node = await dsCall('failed to fetch agent', () => deps.ds.fetchNode(id, { selectors: true }));
      if (!node) throw notFound('agent not found');
      return applyAgentMask(agentToProto(node, node.selectors), req.output_mask);
    },

    async DeleteAgent(req) {
      const id = agentIdOf(req.id);
      try {
        await deps.ds.deleteNode(id);
      } catch (err) {
        if (codeOf(err) === Status.NOT_FOUND) throw notFound('agent not found');
        throw internal(`failed to remove agent: ${(err as Error).message}`, err);
      }
      deps.log.info('Agent deleted', { spiffe_id: id });
      await refresh('deleting an agent');
      return {};
    },

    async BanAgent(req) {
      const id = agentIdOf(req.id);
      // The banned state is an agent without current or pending certificate serial numbers.
      await updateNode(id, { certSerialNumber: '', newCertSerialNumber: '' });
      deps.log.info('Agent banned', { spiffe_id: id });
      await refresh('banning an agent');
      return {};
    },

    AttestAgent(call) {
      void attestAgent(deps, call as unknown as AttestStream);
    },

    async RenewAgent(req, call) {
      const id = callingAgent(call);
      const node = await dsCall('failed to fetch agent', () => deps.ds.fetchNode(id));
      if (!node) throw notFound('agent not found');
      if (node.canReattest) throw deniedWithReason('agent must reattest instead of renew', 'AGENT_MUST_REATTEST');
      if (!req.params) throw invalidArgument('params cannot be nil');
      if (!req.params.csr || req.params.csr.length === 0) throw invalidArgument('missing CSR');
      deps.log.info('Renewing agent SVID', { spiffe_id: id });
      const svid = await signAgentSvid(deps, id, new Uint8Array(req.params.csr));
      const { serialNumber, notAfter } = svidRecord(svid);
      // Two-phase: the new serial becomes current when the agent first calls with the new SVID.
      await updateNode(id, { newCertSerialNumber: serialNumber, newCertNotAfter: notAfter });
      await refresh('renewing an agent');
      return { svid: x509SvidToProto(id, svid) };
    },

    async PostStatus(req, call) {
      const id = callingAgent(call);
      const version = req.agent_version ?? '';
      if (version !== '') {
        if (version.length > MAX_AGENT_VERSION) throw invalidArgument(`agent version is too long (max ${MAX_AGENT_VERSION} characters)`);
        await updateNode(id, { agentVersion: version });
        deps.log.debug('Agent status updated', { spiffe_id: id, agent_version: version });
      }
      return {};
    },

    async CreateJoinToken(req) {
      if (!(req.ttl >= 1)) throw invalidArgument('ttl is required, you must provide one');
      // Check the alias ID before creating anything, so a bad one fails early.
      let aliasId: string | undefined;
      if (req.agent_id) {
        try {
          aliasId = workloadIdFromProto(deps.trustDomain, req.agent_id);
        } catch (err) {
          throw invalidArgument(`invalid agent ID: ${(err as Error).message}`);
        }
      }
      const token = req.token || randomUUID();
      const problem = joinTokenProblem(deps.trustDomain, token);
      if (problem !== undefined) throw invalidArgument(`invalid join token: ${problem}`);
      const expiresAt = Math.floor(deps.clock.now().getTime() / 1000) + req.ttl;
      await dsCall('failed to create token', () => deps.ds.createJoinToken({ token, expiresAt }));
      if (aliasId !== undefined) {
        const parentId = joinTokenAgentId(deps.trustDomain, token);
        // The auto-alias entry shape the SQL DataStore's node deletion cascades on: parent = the token's
        // agent ID, its only selector `spiffe_id:<that ID>`.
        await dsCall('failed to create join token registration entry', () =>
          deps.ds.createEntry({ parentId, spiffeId: aliasId, selectors: [{ type: 'spiffe_id', value: parentId }] }),
        );
        await refresh('creating a join token alias entry');
      }
      return { value: token, expires_at: expiresAt } satisfies apiTypes.JoinToken__Output;
    },
  };
}
