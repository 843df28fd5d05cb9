/**
 * X509SVIDResponse bodies built once per set of SVIDs and bundles, and their
 * protobuf encoding made once per body. Every FetchX509SVID answers the
 * caller's current SVIDs; callers with the same entries get the same answer
 * until an SVID rotates or a bundle changes, which the cache signals by new
 * objects (its identities and bundles are immutable values). Building and
 * encoding ten SVIDs was a good part of a call's cost.
 *
 * @module
 */
import type { Bundle } from '@spire-ts/common';
import type { workload } from '@spire-ts/proto';
import type { JwtSvid, WorkloadEntry, WorkloadIdentity, WorkloadUpdate } from './cache.js';
import { composeX509SvidResponse } from './responses.js';

interface Memo {
  readonly identities: readonly WorkloadIdentity[];
  readonly bundle: Bundle | undefined;
  readonly federated: readonly Bundle[];
  readonly response: workload.X509SVIDResponse;
}

/** Distinct SVID sets remembered per leading identity (callers whose first entries are equal but others differ). */
const MAX_PER_LEADER = 8;

/** Responses that may be encoded once: built here, never changed after. */
const shared = new WeakSet<object>();
const encodings = new WeakMap<object, Buffer>();

function sameRefs<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * `composeX509SvidResponse`, memoized on the identity of its inputs. Entries
 * go with their leading identity (a WeakMap key): when SVIDs rotate, the old
 * responses are garbage with them.
 *
 * @example
 * ```ts
 * const memo = new X509SvidResponses();
 * call.write(memo.compose(update, kept)); // same object for the same SVIDs and bundles
 * ```
 */
export class X509SvidResponses {
  readonly #byLeader = new WeakMap<WorkloadIdentity, Memo[]>();

  /** The response for `identities` (already filtered for duplicate hints, non-empty) and `update`'s bundles. */
  compose(update: WorkloadUpdate, identities: readonly WorkloadIdentity[]): workload.X509SVIDResponse {
    const leader = identities[0];
    if (leader === undefined) return composeX509SvidResponse(update, identities);
    let memos = this.#byLeader.get(leader);
    if (memos) {
      for (const m of memos) {
        if (m.bundle === update.bundle && sameRefs(m.identities, identities) && sameRefs(m.federated, update.federatedBundles)) return m.response;
      }
    } else {
      memos = [];
      this.#byLeader.set(leader, memos);
    }
    const response = composeX509SvidResponse(update, identities);
    shared.add(response);
    memos.unshift({ identities: [...identities], bundle: update.bundle, federated: [...update.federatedBundles], response });
    if (memos.length > MAX_PER_LEADER) memos.pop();
    return response;
  }
}

/** A JWTSVIDResponse remembered with what it was built from. */
interface JwtMemo {
  readonly entries: readonly WorkloadEntry[];
  readonly tokens: readonly JwtSvid[];
  readonly response: workload.JWTSVIDResponse;
}

/**
 * JWTSVIDResponse bodies built, and encoded, once per set of cached tokens:
 * a workload asking again for the same audience gets the same tokens (the
 * JWT cache's frozen objects, replaced on renewal), so the same response.
 * Ten tokens of ~600 bytes were re-encoded on every call otherwise.
 *
 * @example
 * ```ts
 * const memo = new JwtSvidResponses();
 * return memo.compose(entries, tokens); // same object while the tokens are the same
 * ```
 */
export class JwtSvidResponses {
  readonly #byLeader = new WeakMap<JwtSvid, JwtMemo[]>();

  /** The response for `tokens[i]` of `entries[i]` (non-empty, in order). */
  compose(entries: readonly WorkloadEntry[], tokens: readonly JwtSvid[]): workload.JWTSVIDResponse {
    const leader = tokens[0];
    if (leader === undefined) return { svids: [] };
    let memos = this.#byLeader.get(leader);
    if (memos) {
      for (const m of memos) if (sameRefs(m.tokens, tokens) && sameRefs(m.entries, entries)) return m.response;
    } else {
      memos = [];
      this.#byLeader.set(leader, memos);
    }
    const response: workload.JWTSVIDResponse = {
      svids: entries.map((e, i) => ({ spiffe_id: e.spiffeId, svid: (tokens[i] as JwtSvid).token, hint: e.hint })),
    };
    shared.add(response);
    memos.unshift({ entries: [...entries], tokens: [...tokens], response });
    if (memos.length > MAX_PER_LEADER) memos.pop();
    return response;
  }
}

/**
 * Wraps a response serializer: responses from {@link X509SvidResponses} and
 * {@link JwtSvidResponses} are
 * encoded once and their bytes reused (the transport copies them into each
 * frame, so they are never written to); anything else is encoded as usual.
 */
export function reuseEncodings(serialize: (value: unknown) => Buffer): (value: unknown) => Buffer {
  return (value) => {
    if (typeof value !== 'object' || value === null || !shared.has(value)) return serialize(value);
    let bytes = encodings.get(value);
    if (!bytes) {
      bytes = serialize(value);
      encodings.set(value, bytes);
    }
    return bytes;
  };
}
