/**
 * Method-level authorization, table-driven like SPIRE's default policy
 * (pkg/server/authpolicy/policy_data.json): each RPC lists who may call it.
 * Per-caller filtering inside an RPC (an agent's own entries, its own renewal)
 * is the service's job; this decides only whether the call may start.
 */
import { isAgentId } from '@spire-ts/common';
import type { Caller } from './caller.js';
import type { ApiDeps } from './deps.js';
import { apiError, decodeDeniedReason, deniedWithReason, Status } from './errors.js';
import type { PluginError } from '@spire-ts/plugin-sdk';

/** Who may call one RPC. */
export interface Rule {
  /** Anyone, even without a client certificate. */
  readonly any?: boolean;
  /** Callers on the admin Unix socket. */
  readonly local?: boolean;
  /** X.509-SVIDs of `admin_ids` or of entries with `admin = true`. */
  readonly admin?: boolean;
  /** Attested, active, unbanned agents presenting their current SVID. */
  readonly agent?: boolean;
  /** X.509-SVIDs of entries with `downstream = true`. */
  readonly downstream?: boolean;
}

const ADMIN: Rule = { admin: true, local: true };
const LOCAL: Rule = { local: true };
const AGENT: Rule = { agent: true };
const DOWNSTREAM: Rule = { downstream: true };
const ANY: Rule = { any: true };

const svc = (service: string, rules: Record<string, Rule>): [string, Rule][] =>
  Object.entries(rules).map(([method, rule]) => [`/${service}/${method}`, rule]);

/** SPIRE's default policy, method by method. A method not listed is denied to everyone. */
export const DEFAULT_POLICY: ReadonlyMap<string, Rule> = new Map<string, Rule>([
  ...svc('spire.api.server.svid.v1.SVID', {
    MintX509SVID: ADMIN,
    MintJWTSVID: ADMIN,
    MintWITSVID: ADMIN,
    BatchNewX509SVID: AGENT,
    NewJWTSVID: AGENT,
    BatchNewWITSVID: AGENT,
    NewDownstreamX509CA: DOWNSTREAM,
  }),
  ...svc('spire.api.server.bundle.v1.Bundle', {
    GetBundle: ANY,
    AppendBundle: ADMIN,
    PublishJWTAuthority: DOWNSTREAM,
    PublishWITAuthority: DOWNSTREAM,
    CountBundles: ADMIN,
    ListFederatedBundles: ADMIN,
    GetFederatedBundle: { admin: true, local: true, agent: true },
    BatchCreateFederatedBundle: ADMIN,
    BatchUpdateFederatedBundle: ADMIN,
    BatchSetFederatedBundle: ADMIN,
    BatchDeleteFederatedBundle: ADMIN,
  }),
  ...svc('spire.api.server.debug.v1.Debug', { GetInfo: LOCAL }),
  ...svc('spire.api.server.entry.v1.Entry', {
    CountEntries: ADMIN,
    ListEntries: ADMIN,
    GetEntry: ADMIN,
    BatchCreateEntry: ADMIN,
    BatchUpdateEntry: ADMIN,
    BatchDeleteEntry: ADMIN,
    GetAuthorizedEntries: AGENT,
    SyncAuthorizedEntries: AGENT,
  }),
  ...svc('spire.api.server.logger.v1.Logger', { GetLogger: LOCAL, SetLogLevel: LOCAL, ResetLogLevel: LOCAL }),
  ...svc('spire.api.server.agent.v1.Agent', {
    CountAgents: ADMIN,
    ListAgents: ADMIN,
    GetAgent: ADMIN,
    DeleteAgent: ADMIN,
    BanAgent: ADMIN,
    AttestAgent: ANY,
    RenewAgent: AGENT,
    PostStatus: AGENT,
    CreateJoinToken: ADMIN,
  }),
  ...svc('grpc.health.v1.Health', { Check: LOCAL, List: LOCAL, Watch: LOCAL }),
  ...svc('spire.api.server.trustdomain.v1.TrustDomain', {
    ListFederationRelationships: ADMIN,
    GetFederationRelationship: ADMIN,
    BatchCreateFederationRelationship: ADMIN,
    BatchUpdateFederationRelationship: ADMIN,
    BatchDeleteFederationRelationship: ADMIN,
    RefreshBundle: ADMIN,
  }),
  ...svc('spire.api.server.localauthority.v1.LocalAuthority', Object.fromEntries(
    [
      'GetJWTAuthorityState', 'PrepareJWTAuthority', 'ActivateJWTAuthority', 'TaintJWTAuthority', 'RevokeJWTAuthority',
      'GetX509AuthorityState', 'PrepareX509Authority', 'ActivateX509Authority', 'TaintX509Authority', 'TaintX509UpstreamAuthority',
      'RevokeX509Authority', 'RevokeX509UpstreamAuthority',
      'GetWITAuthorityState', 'PrepareWITAuthority', 'ActivateWITAuthority', 'TaintWITAuthority', 'RevokeWITAuthority',
    ].map((m) => [m, ADMIN]),
  )),
]);

type AuthzDeps = Pick<ApiDeps, 'trustDomain' | 'clock' | 'ds' | 'entries' | 'adminIds' | 'log'>;

/** True if `spiffeId` is an admin: listed in `admin_ids` or the SPIFFE ID of an entry with `admin = true`. */
export function isAdmin(deps: AuthzDeps, spiffeId: string): boolean {
  return deps.adminIds.includes(spiffeId) || deps.entries.entriesWithSpiffeId(spiffeId).some((e) => e.admin);
}

/** True if `spiffeId` is the SPIFFE ID of an entry with `downstream = true`. */
export function isDownstream(deps: AuthzDeps, spiffeId: string): boolean {
  return deps.entries.entriesWithSpiffeId(spiffeId).some((e) => e.downstream);
}

/**
 * SPIRE's agent check: the SVID has not expired, the agent is attested and not
 * banned, and the SVID is its current one, or the new one issued by RenewAgent
 * (which this call then makes current). Throws PERMISSION_DENIED with SPIRE's
 * reason in the status details.
 */
export async function authorizeAgent(deps: AuthzDeps, caller: Extract<Caller, { kind: 'x509' }>): Promise<void> {
  const id = caller.spiffeId;
  if (deps.clock.now().getTime() / 1000 > caller.notAfter) throw deniedWithReason(`agent "${id}" SVID is expired`, 'AGENT_EXPIRED');
  const cached = deps.entries.agent(id);
  if (cached && cached.certSerialNumber !== '' && cached.certSerialNumber === caller.serialNumber) return;
  // Not conclusive from the cache: ask the DataStore.
  let node;
  try {
    node = await deps.ds.fetchNode(id);
  } catch (err) {
    throw apiError(Status.INTERNAL, `unable to look up agent information: ${(err as Error).message}`, err);
  }
  if (!node) throw deniedWithReason(`agent "${id}" is not attested`, 'AGENT_NOT_ATTESTED');
  if (node.certSerialNumber === '') throw deniedWithReason(`agent "${id}" is banned`, 'AGENT_BANNED');
  if (node.certSerialNumber === caller.serialNumber) return;
  if (node.newCertSerialNumber !== '' && node.newCertSerialNumber === caller.serialNumber) {
    try {
      await deps.ds.updateNode({
        ...node,
        certSerialNumber: node.newCertSerialNumber,
        certNotAfter: node.newCertNotAfter,
        newCertSerialNumber: '',
        newCertNotAfter: 0,
      });
    } catch (err) {
      throw apiError(Status.INTERNAL, `unable to activate the new agent SVID: ${(err as Error).message}`, err);
    }
    // The cache must stop accepting the previous serial now, not at its next poll.
    await deps.entries.refresh();
    return;
  }
  throw deniedWithReason(`agent "${id}" expected to have serial number "${node.certSerialNumber}"; has "${caller.serialNumber}"`, 'AGENT_NOT_ACTIVE');
}

/**
 * Decides whether `caller` may call `method` (`/package.Service/Method`).
 * Resolves when allowed; rejects with PERMISSION_DENIED ("authorization
 * denied for method ...", with the agent check's reason when it was the agent
 * rule that failed).
 */
export async function authorize(deps: AuthzDeps, method: string, caller: Caller, policy: ReadonlyMap<string, Rule> = DEFAULT_POLICY): Promise<void> {
  const rule = policy.get(method);
  const denied = (cause?: PluginError): PluginError => {
    const message = `authorization denied for method ${method}`;
    if (cause) return deniedWithReasonFrom(message, cause);
    return apiError(Status.PERMISSION_DENIED, message);
  };
  if (!rule) throw denied();
  if (rule.any) return;
  if (caller.kind === 'local') {
    if (rule.local) return;
    throw denied();
  }
  if (caller.kind !== 'x509') throw denied();
  if (rule.admin && isAdmin(deps, caller.spiffeId)) return;
  if (rule.downstream && isDownstream(deps, caller.spiffeId)) return;
  if (rule.agent && isAgentId(caller.spiffeId, deps.trustDomain)) {
    try {
      await authorizeAgent(deps, caller);
      return;
    } catch (err) {
      const e = err as PluginError;
      if (e.code !== Status.PERMISSION_DENIED) throw err;
      deps.log.error('Failed to authenticate caller', { caller_id: caller.spiffeId, method, error: e.message });
      throw denied(e);
    }
  }
  throw denied();
}

function deniedWithReasonFrom(message: string, cause: PluginError): PluginError {
  const bytes = cause.metadata?.get('grpc-status-details-bin')[0];
  const reason = bytes instanceof Buffer ? decodeDeniedReason(bytes) : undefined;
  return reason ? deniedWithReason(message, reason) : apiError(Status.PERMISSION_DENIED, message);
}
