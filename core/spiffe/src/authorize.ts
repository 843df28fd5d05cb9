/**
 * Authorizers: decide whether an authenticated peer (its SPIFFE ID, after
 * the certificate chain or JWT-SVID verified) may talk to us.
 */
import { SpiffeId, TrustDomain } from './spiffeid.js';

/** A peer that authenticated but is not allowed; `peer` is its SPIFFE ID. */
export class AuthorizationError extends Error {
  override readonly name = 'AuthorizationError';
  constructor(
    readonly peer: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Accepts or rejects a peer's SPIFFE ID: returns normally to accept, throws
 * (an {@link AuthorizationError}) to reject.
 */
export type Authorizer = (peer: SpiffeId) => void;

const asId = (id: SpiffeId | string): SpiffeId => (typeof id === 'string' ? SpiffeId.parse(id) : id);

/** Accepts every authenticated peer (any SPIFFE ID that chains to a trusted bundle). */
export function authorizeAny(): Authorizer {
  return () => undefined;
}

/**
 * Accepts exactly one SPIFFE ID.
 *
 * @example
 * ```ts
 * const auth = authorizeId('spiffe://example.org/backend');
 * ```
 */
export function authorizeId(expected: SpiffeId | string): Authorizer {
  const want = asId(expected).toString();
  return (peer) => {
    if (peer.toString() !== want) throw new AuthorizationError(peer.toString(), `unexpected ID "${peer.toString()}": expected "${want}"`);
  };
}

/**
 * Accepts any of the listed SPIFFE IDs.
 *
 * @example
 * ```ts
 * const auth = authorizeOneOf(['spiffe://example.org/web', 'spiffe://example.org/batch']);
 * ```
 */
export function authorizeOneOf(expected: Iterable<SpiffeId | string>): Authorizer {
  const want = new Set<string>();
  for (const e of expected) want.add(asId(e).toString());
  return (peer) => {
    if (!want.has(peer.toString())) throw new AuthorizationError(peer.toString(), `unexpected ID "${peer.toString()}": expected one of ${[...want].map((w) => `"${w}"`).join(', ')}`);
  };
}

/**
 * Accepts any SPIFFE ID in the trust domain.
 *
 * @example
 * ```ts
 * const auth = authorizeMemberOf('example.org');
 * ```
 */
export function authorizeMemberOf(td: TrustDomain | string): Authorizer {
  const t = typeof td === 'string' ? TrustDomain.parse(td) : td;
  return (peer) => {
    if (!peer.memberOf(t)) throw new AuthorizationError(peer.toString(), `unexpected trust domain "${peer.trustDomain.name}" of "${peer.toString()}": expected "${t.name}"`);
  };
}

/**
 * Accepts the peers a predicate accepts.
 *
 * @example
 * ```ts
 * const auth = authorizeIf((id) => id.path.startsWith('/ns/prod/'), 'a workload in namespace prod');
 * ```
 */
export function authorizeIf(predicate: (peer: SpiffeId) => boolean, description = 'the authorization predicate'): Authorizer {
  return (peer) => {
    if (!predicate(peer)) throw new AuthorizationError(peer.toString(), `unexpected ID "${peer.toString()}": not accepted by ${description}`);
  };
}

/** Runs the authorizer; returns the error instead of throwing. */
export function checkAuthorized(authorizer: Authorizer, peer: SpiffeId): AuthorizationError | undefined {
  try {
    authorizer(peer);
    return undefined;
  } catch (err) {
    return err instanceof AuthorizationError ? err : new AuthorizationError(peer.toString(), err instanceof Error ? err.message : String(err));
  }
}
