/**
 * Agent API conversions: attested nodes to `spire.api.types.Agent` (with
 * SPIRE's output mask), and the ListAgents/CountAgents filters to DataStore
 * node filters.
 */
import type { apiTypes } from '@spire-ts/proto';
import type { AttestedNode, NodeFilters, Selector } from '../../plugin/datastore/datastore.js';
import { matchFromProto, protoFromId, protoFromSelectors, selectorsFromProto } from './common.js';

type AgentMask = apiTypes.AgentMask__Output | apiTypes.AgentMask | null | undefined;

/** The proto Agent of a node (SPIRE's AttestedNodeToProto): banned = no current certificate serial. */
export function agentToProto(node: AttestedNode, selectors: readonly Selector[] | undefined): apiTypes.Agent__Output {
  return {
    id: protoFromId(node.spiffeId),
    attestation_type: node.attestationDataType,
    x509svid_serial_number: node.certSerialNumber,
    x509svid_expires_at: node.certNotAfter,
    selectors: protoFromSelectors(selectors ?? node.selectors ?? []),
    banned: node.certSerialNumber === '',
    can_reattest: node.canReattest,
    agent_version: node.agentVersion,
  };
}

/** SPIRE's applyMask: fields the mask leaves out are zeroed (the ID is always kept); no mask = everything. */
export function applyAgentMask(agent: apiTypes.Agent__Output, mask: AgentMask): apiTypes.Agent__Output {
  if (!mask) return agent;
  return {
    id: agent.id,
    attestation_type: mask.attestation_type ? agent.attestation_type : '',
    x509svid_serial_number: mask.x509svid_serial_number ? agent.x509svid_serial_number : '',
    x509svid_expires_at: mask.x509svid_expires_at ? agent.x509svid_expires_at : 0,
    selectors: mask.selectors ? agent.selectors : [],
    banned: mask.banned ? agent.banned : false,
    can_reattest: mask.can_reattest ? agent.can_reattest : false,
    agent_version: mask.agent_version ? agent.agent_version : '',
  };
}

/** Whether a mask asks for selectors (SPIRE fetches them only then). */
export function maskWantsSelectors(mask: AgentMask): boolean {
  return !mask || mask.selectors === true;
}

/** The filter shape shared by ListAgentsRequest.Filter and CountAgentsRequest.Filter. */
export interface ProtoAgentFilter {
  by_attestation_type?: string | undefined;
  by_selector_match?: apiTypes.SelectorMatch__Output | apiTypes.SelectorMatch | null | undefined;
  by_banned?: { value?: boolean | undefined } | null | undefined;
  by_can_reattest?: { value?: boolean | undefined } | null | undefined;
  by_expires_before?: string | undefined;
}

const GO_TIME = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?) ([+-]\d{2})(\d{2})(?: [A-Za-z0-9+-]+)?$/;

/**
 * `by_expires_before` as Unix seconds. SPIRE's CLI sends Go's time layout
 * `2006-01-02 15:04:05 -0700 MST`; RFC 3339 is accepted too.
 * @throws Error when it is neither.
 */
export function parseExpiresBefore(text: string): number {
  const go = GO_TIME.exec(text.trim());
  const iso = go ? `${go[1]}T${go[2]}${go[3]}:${go[4]}` : text.trim();
  const ms = /^\d{4}-\d{2}-\d{2}T/.test(iso) ? Date.parse(iso) : NaN;
  if (Number.isNaN(ms)) throw new Error(`cannot parse ${JSON.stringify(text)}: want "2006-01-02 15:04:05 -0700 MST" or RFC 3339`);
  // notAfter (whole seconds) < t  ⟺  notAfter < ceil(t).
  return Math.ceil(ms / 1000);
}

/**
 * DataStore node filters from a proto filter.
 * @throws Error naming the bad field (selectors, match behaviour, expiry).
 */
export function nodeFiltersFromProto(filter: ProtoAgentFilter | null | undefined): NodeFilters {
  const out: NodeFilters = {};
  if (!filter) return out;
  if (filter.by_attestation_type) out.byAttestationType = filter.by_attestation_type;
  if (filter.by_banned) out.byBanned = filter.by_banned.value === true;
  if (filter.by_can_reattest) out.byCanReattest = filter.by_can_reattest.value === true;
  if (filter.by_expires_before) {
    try {
      out.byExpiresBefore = parseExpiresBefore(filter.by_expires_before);
    } catch (err) {
      throw new Error(`failed to parse by_expires_before: ${(err as Error).message}`, { cause: err });
    }
  }
  if (filter.by_selector_match) {
    let selectors: Selector[];
    try {
      selectors = selectorsFromProto(filter.by_selector_match.selectors);
    } catch (err) {
      throw new Error(`failed to parse selectors: ${(err as Error).message}`, { cause: err });
    }
    out.bySelectorMatch = { selectors, match: matchFromProto(filter.by_selector_match.match) };
  }
  return out;
}

/** Selectors without duplicates, first occurrence kept (SPIRE's selector.Dedupe keeps one of each). */
export function dedupeSelectors(list: readonly Selector[]): Selector[] {
  const seen = new Set<string>();
  const out: Selector[] = [];
  for (const s of list) {
    const key = `${s.type}\u0000${s.value}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ type: s.type, value: s.value });
  }
  return out;
}
