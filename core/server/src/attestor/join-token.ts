/**
 * The built-in `join_token` node attestation (SPIRE's attestJoinToken): the
 * agent's payload is the token; a token attests once (consumed atomically,
 * so two agents racing with one token cannot both win) and only before it
 * expires. The agent ID is `spiffe://<td>/spire/agent/join_token/<token>`,
 * so a new token always yields a new agent, which can never re-attest.
 */
import { agentId } from '@spire-ts/common';
import type { AttestationResult } from '../api/deps.js';
import { apiError, invalidArgument, Status } from '../api/errors.js';
import type { Clock } from '../ca/clock.js';
import type { DataStore } from '../plugin/datastore/datastore.js';

export const JOIN_TOKEN_TYPE = 'join_token';

/** The agent ID a join token attests to; throws an Error if the token cannot be a path segment. */
export function joinTokenAgentId(trustDomain: string, token: string): string {
  return agentId(trustDomain, JOIN_TOKEN_TYPE, [token]).toString();
}

/** Why `token` cannot be a join token (it must be usable as one agent ID path segment), or undefined if it can. */
export function joinTokenProblem(trustDomain: string, token: string): string | undefined {
  if (token === '') return 'token is empty';
  try {
    joinTokenAgentId(trustDomain, token);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Attests an agent with a join token: consumes it (whether or not it has
 * expired, as SPIRE deletes it either way) and answers the agent ID.
 * Unknown, used and expired tokens are INVALID_ARGUMENT.
 */
export async function attestJoinToken(
  deps: { readonly trustDomain: string; readonly clock: Clock; readonly ds: Pick<DataStore, 'consumeJoinToken'> },
  payload: Uint8Array,
): Promise<AttestationResult> {
  const token = Buffer.from(payload).toString('utf8');
  // A token no agent ID can be made from was never issued by CreateJoinToken: refuse it without a lookup.
  if (joinTokenProblem(deps.trustDomain, token) !== undefined) {
    throw invalidArgument('failed to attest: join token does not exist or has already been used');
  }
  let found;
  try {
    found = await deps.ds.consumeJoinToken(token);
  } catch (err) {
    throw apiError(Status.INTERNAL, `failed to fetch join token: ${(err as Error).message}`, err);
  }
  if (!found) throw invalidArgument('failed to attest: join token does not exist or has already been used');
  if (found.expiresAt * 1000 <= deps.clock.now().getTime()) throw invalidArgument('join token expired');
  return { agentId: joinTokenAgentId(deps.trustDomain, token), selectors: [], canReattest: false };
}
