/**
 * Terminal answers from the server. SPIRE's agent stops when a call is
 * refused because the agent is banned (and cannot go on when the server no
 * longer knows it), whoever made the call: the node identity's own renewals
 * and bundle refreshes, or the sync manager, which only retries. The node
 * identity wraps the server API it hands out with {@link watchTerminalDenials}.
 */
import { NodeIdentityError, deniedReason } from './errors.js';
import type { AgentServerApi } from './server-api.js';

/** The terminal error a server answer means, if any (banned or evicted); undefined for anything worth retrying. */
export function terminalDenial(err: unknown, what: string): NodeIdentityError | undefined {
  const reason = deniedReason(err);
  const detail = err instanceof Error ? err.message : String(err);
  if (reason === 'AGENT_BANNED') return new NodeIdentityError('ERR_NODE_BANNED', `agent is banned: the server refused to ${what} (${detail})`, { cause: err });
  if (reason === 'AGENT_NOT_ATTESTED') {
    return new NodeIdentityError('ERR_NODE_EVICTED', `agent was evicted: the server no longer knows this agent and refused to ${what} (${detail})`, { cause: err });
  }
  return undefined;
}

/** Whether a server answer says this agent's SVID is no longer accepted but the agent may attest again (SPIRE's ShouldAgentReattest). */
export function mustReattest(err: unknown): boolean {
  const reason = deniedReason(err);
  return reason === 'AGENT_EXPIRED' || reason === 'AGENT_NOT_ACTIVE';
}

/**
 * `api` with every failure checked by {@link terminalDenial}: a terminal one
 * rejects as that NodeIdentityError (`terminal` true, the server's error its
 * cause), so callers such as the sync manager know to say nothing of their
 * own, and the first is passed to `onTerminal` before the caller hears of
 * it; a must-re-attest denial is passed to `onReattest`. Other errors are
 * thrown as they are.
 */
export function watchTerminalDenials(api: AgentServerApi, onTerminal: (err: NodeIdentityError) => void, onReattest?: (err: unknown, what: string) => void): AgentServerApi {
  let reported = false;
  const check = <T>(what: string, call: () => Promise<T>): Promise<T> =>
    call().catch((err: unknown) => {
      const terminal = terminalDenial(err, what);
      if (terminal) {
        if (!reported) {
          reported = true;
          onTerminal(terminal);
        }
        throw terminal;
      }
      if (!reported && mustReattest(err)) onReattest?.(err, what);
      throw err;
    });
  return {
    syncAuthorizedEntries: (known) => check('sync registration entries', () => api.syncAuthorizedEntries(known)),
    batchNewX509Svid: (requests) => check('issue X509-SVIDs', () => api.batchNewX509Svid(requests)),
    newJwtSvid: (entryId, audience) => check('issue a JWT-SVID', () => api.newJwtSvid(entryId, audience)),
    getBundle: () => check('return the trust bundle', () => api.getBundle()),
    getFederatedBundle: (trustDomain) => check('return a federated bundle', () => api.getFederatedBundle(trustDomain)),
    ...(api.postStatus ? { postStatus: (version: string) => check('take the agent status', () => api.postStatus!(version)) } : {}),
  };
}
