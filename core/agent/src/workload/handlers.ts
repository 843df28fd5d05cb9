/**
 * The `SpiffeWorkloadAPI` service (SPIRE's pkg/agent/endpoints/workload
 * handler plus the security-header middleware). Every call: header check,
 * caller from the kernel credentials of its connection, workload attestation,
 * then the answer from the cache. Streams send a full snapshot first and
 * again on every cache change for the caller's selectors.
 */
import { latestWins } from './latest.js';
import type * as grpc from '@grpc/grpc-js';
import { JwtSvidError, parseSpiffeId, validateJwtSvid, type Logger } from '@spire-ts/common';
import { PluginError, Status, type ServiceImpl } from '@spire-ts/plugin-sdk';
import { filterDuplicateHints, selectorKey, type JwtSvid, type Selector, type WorkloadCache, type WorkloadEntry, type WorkloadUpdate } from './cache.js';
import type { CallerProcess, CancelSignal, WorkloadAttestation } from './attestation.js';
import { JwtSvidResponses, X509SvidResponses } from './encoded.js';
import { SvidWaitingSubscription } from './svid-wait.js';
import { ComposeError, bytesMapKey, claimsToStruct, composeJwtBundlesResponse, composeX509BundlesResponse } from './responses.js';

/** What the handlers need from the server around them. */
export interface WorkloadHandlerDeps {
  cache: WorkloadCache;
  attestation: WorkloadAttestation;
  /** The caller of a call's connection, from SO_PEERCRED at accept; undefined = unknown connection. */
  callerOf(call: { getPeer(): string }): CallerProcess | undefined;
  /** The agent's trust domain (bare name). */
  trustDomain: string;
  log: Logger;
  /** Claims kept besides sub, exp and aud when validating another trust domain's token. */
  allowedForeignJwtClaims?: ReadonlySet<string>;
  /** Serve bundles to callers without an identity (SPIRE `allow_unauthenticated_verifiers`). */
  allowUnauthenticatedVerifiers?: boolean;
  /** Registers an open stream so the server can end it on close; returns its deregistration. */
  trackStream(end: () => void): () => void;
  /** How long a stream waits for SVIDs still being minted for entries the caller matches; default {@link DEFAULT_SVID_WAIT_MS}. */
  svidWaitMs?: number;
}

const SECURITY_HEADER = 'workload.spiffe.io';
const NO_IDENTITY = 'no identity issued';
/** How long a stream waits for the SVIDs of matching entries that are still being minted. */
export const DEFAULT_SVID_WAIT_MS = 30_000;

type AnyCall = {
  metadata: grpc.Metadata;
  getPeer(): string;
  on(event: 'cancelled', listener: () => void): unknown;
  off(event: 'cancelled', listener: () => void): unknown;
  cancelled: boolean;
};

function status(code: Status, message: string): PluginError {
  return new PluginError(code, message);
}

/** Ends a server stream with a status. */
function fail(call: grpc.ServerWritableStream<unknown, unknown>, err: PluginError): void {
  call.emit('error', { code: err.code, details: err.details });
}

/** A call's cancellation as the signal attestation listens to (no AbortController per call). */
class CallCancelSignal implements CancelSignal {
  constructor(private readonly call: AnyCall) {}

  get aborted(): boolean {
    return this.call.cancelled;
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    this.call.on('cancelled', listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    this.call.off('cancelled', listener);
  }
}

/**
 * An error's message for a status and the log, trimmed (grpc-js's own texts
 * end in a blank). The wire needs no trimming: plugin-sdk percent-encodes a
 * blank at either end of `grpc-message`.
 */
function errorText(err: unknown): string {
  return String(err instanceof Error ? err.message : err).trim();
}

function asStatus(err: unknown): PluginError {
  return err instanceof PluginError ? err : status(Status.INTERNAL, errorText(err));
}

/** The handlers, bound to `deps`. */
export function workloadApiHandlers(deps: WorkloadHandlerDeps): ServiceImpl<'SpiffeWorkloadAPI'> {
  const { cache, log } = deps;
  const x509Responses = new X509SvidResponses();
  const jwtResponses = new JwtSvidResponses();

  /** SPIRE's middleware: exactly one `workload.spiffe.io: true`. */
  function checkHeader(call: AnyCall): void {
    const values = call.metadata.get(SECURITY_HEADER);
    if (values.length !== 1 || values[0] !== 'true') throw status(Status.INVALID_ARGUMENT, 'security header missing from request');
  }

  /** The caller of the call's connection, attested (SPIRE's PeerTrackerAttestor). */
  async function attest(call: AnyCall, method: string): Promise<{ selectors: Selector[]; caller: CallerProcess }> {
    const caller = deps.callerOf(call);
    if (!caller) {
      log.error('Caller credentials unavailable for connection', { method, peer: call.getPeer() });
      throw status(Status.PERMISSION_DENIED, 'caller could not be identified from its connection');
    }
    try {
      // The attestation stops listening when it ends: a cancel after it has nothing to abort.
      return { selectors: await deps.attestation.attest(caller, new CallCancelSignal(call)), caller };
    } catch (err) {
      if (call.cancelled) throw status(Status.CANCELLED, 'the caller went away');
      log.error('Workload attestation failed', { method, pid: caller.pid, error: (err as Error).message });
      throw status(Status.UNAVAILABLE, 'workload attestation failed');
    }
  }

  async function authorize(call: AnyCall, method: string): Promise<{ selectors: Selector[]; caller: CallerProcess }> {
    checkHeader(call);
    return attest(call, method);
  }

  function unimplemented(call: AnyCall, message: string): void {
    const stream = call as unknown as grpc.ServerWritableStream<unknown, unknown>;
    try {
      checkHeader(call);
    } catch (err) {
      fail(stream, asStatus(err));
      return;
    }
    fail(stream, status(Status.UNIMPLEMENTED, message));
  }

  function noIdentity(method: string, caller: CallerProcess, selectors: readonly Selector[]): PluginError {
    if (caller.pid !== process.pid) {
      log.error('No identity issued', { method, pid: caller.pid, registered: false, selectors: selectors.map(selectorKey).sort().join(',') });
    }
    return status(Status.PERMISSION_DENIED, NO_IDENTITY);
  }

  /**
   * A watch stream: `compose` turns each cache update into a response (or
   * throws a status to end the stream); with `dedupeKey`, a response equal
   * to the previous one is not sent again. Writes are coalesced under
   * backpressure: only the newest snapshot waits for 'drain'.
   */
  async function watch<Res>(
    call: grpc.ServerWritableStream<unknown, Res>,
    method: string,
    compose: (update: WorkloadUpdate, selectors: readonly Selector[], caller: CallerProcess) => Res,
    dedupeKey?: (res: Res) => string,
  ): Promise<void> {
    const untyped = call as unknown as grpc.ServerWritableStream<unknown, unknown>;
    let auth: { selectors: Selector[]; caller: CallerProcess };
    try {
      auth = await authorize(call, method);
    } catch (err) {
      if (!call.cancelled) fail(untyped, asStatus(err));
      return;
    }
    if (call.cancelled) return;
    const { selectors, caller } = auth;
    let done = false;
    let lastKey: string | undefined;
    const finish = (err?: PluginError): void => {
      if (done) return;
      done = true;
      subscription.stop();
      untrack();
      if (err && !call.cancelled) fail(untyped, err);
    };
    const write = latestWins<Res>(call, () => done);
    const push = (update: WorkloadUpdate): void => {
      if (done) return;
      let res: Res;
      try {
        res = compose(update, selectors, caller);
      } catch (err) {
        if (err instanceof ComposeError) {
          log.error('Could not serialize response', { method, error: err.message });
          finish(status(Status.UNAVAILABLE, `could not serialize response: ${err.message}`));
        } else {
          finish(asStatus(err));
        }
        return;
      }
      if (dedupeKey) {
        const key = dedupeKey(res);
        if (key === lastKey) return;
        lastKey = key;
      }
      write(res);
    };
    // SVIDs for entries the caller matches may still be minting (no prefetch, evicted): the subscription waits for them, as SPIRE does.
    const subscription = new SvidWaitingSubscription(cache, selectors, push, deps.svidWaitMs ?? DEFAULT_SVID_WAIT_MS);
    const untrack = deps.trackStream(() => finish(status(Status.UNAVAILABLE, 'the agent is shutting down')));
    call.on('cancelled', () => finish());
    call.on('error', () => finish());
    subscription.start(() => log.debug('Waiting for SVID to get cached', { method, pid: caller.pid }));
  }

  return {
    FetchX509SVID(call) {
      void watch(call, 'FetchX509SVID', (update, selectors, caller) => {
        if (update.identities.length === 0) throw noIdentity('FetchX509SVID', caller, selectors);
        const { kept, dropped } = filterDuplicateHints(update.identities);
        for (const d of dropped) log.warn('Ignoring entry with duplicate hint', { hint: d.hint, entry_id: d.entryId });
        return x509Responses.compose(update, kept);
      });
    },

    FetchX509Bundles(call) {
      void watch(
        call,
        'FetchX509Bundles',
        (update, selectors, caller) => {
          if (!deps.allowUnauthenticatedVerifiers && update.identities.length === 0) throw noIdentity('FetchX509Bundles', caller, selectors);
          return composeX509BundlesResponse(update);
        },
        (res) => bytesMapKey(res.bundles as Record<string, Uint8Array>),
      );
    },

    FetchJWTBundles(call) {
      void watch(
        call,
        'FetchJWTBundles',
        (update, selectors, caller) => {
          if (!deps.allowUnauthenticatedVerifiers && update.identities.length === 0) throw noIdentity('FetchJWTBundles', caller, selectors);
          return composeJwtBundlesResponse(update);
        },
        (res) => bytesMapKey(res.bundles as Record<string, Uint8Array>),
      );
    },

    async FetchJWTSVID(request, call) {
      checkHeader(call);
      if (request.audience.length === 0) throw status(Status.INVALID_ARGUMENT, 'audience must be specified');
      if (request.spiffe_id !== '') {
        try {
          parseSpiffeId(request.spiffe_id);
        } catch (err) {
          throw status(Status.INVALID_ARGUMENT, `invalid requested SPIFFE ID: ${(err as Error).message}`);
        }
      }
      const { selectors, caller } = await attest(call, 'FetchJWTSVID');
      const { kept, dropped } = filterDuplicateHints(cache.matchingEntries(selectors));
      for (const d of dropped) log.warn('Ignoring entry with duplicate hint', { hint: d.hint, entry_id: d.entryId });
      const entries: WorkloadEntry[] = [];
      const tokens: JwtSvid[] = [];
      for (const entry of kept) {
        if (request.spiffe_id !== '' && entry.spiffeId !== request.spiffe_id) continue;
        let svid = cache.cachedJwtSvid?.(entry, request.audience);
        if (!svid) {
          try {
            svid = await cache.fetchJwtSvid(entry, request.audience);
          } catch (err) {
            const why = errorText(err);
            log.error('Could not fetch JWT-SVID', { spiffe_id: entry.spiffeId, error: why });
            throw status(Status.UNAVAILABLE, `could not fetch JWT-SVID: ${why}`);
          }
        }
        entries.push(entry);
        tokens.push(svid);
      }
      if (tokens.length === 0) throw noIdentity('FetchJWTSVID', caller, selectors);
      return jwtResponses.compose(entries, tokens);
    },

    async ValidateJWTSVID(request, call) {
      checkHeader(call);
      if (request.audience === '') throw status(Status.INVALID_ARGUMENT, 'audience must be specified');
      if (request.svid === '') throw status(Status.INVALID_ARGUMENT, 'svid must be specified');
      const { selectors } = await attest(call, 'ValidateJWTSVID');
      const update = cache.fetchWorkloadUpdate(selectors);
      const bundles = new Map([...update.federatedBundles, ...(update.bundle ? [update.bundle] : [])].map((b) => [b.trustDomain, b] as const));
      let validated;
      try {
        validated = validateJwtSvid(request.svid, { audience: request.audience, bundles });
      } catch (err) {
        if (!(err instanceof JwtSvidError)) throw err;
        log.warn('Failed to validate JWT', { audience: request.audience, error: err.message });
        throw status(Status.INVALID_ARGUMENT, err.message);
      }
      const claims: Record<string, unknown> = { ...validated.claims };
      if (validated.spiffeId.trustDomain !== deps.trustDomain) {
        for (const name of Object.keys(claims)) {
          if (name !== 'sub' && name !== 'exp' && name !== 'aud' && !deps.allowedForeignJwtClaims?.has(name)) delete claims[name];
        }
      }
      if (typeof claims.aud === 'string') claims.aud = [claims.aud];
      try {
        return { spiffe_id: validated.spiffeId.toString(), claims: claimsToStruct(claims) };
      } catch (err) {
        throw status(Status.INVALID_ARGUMENT, (err as Error).message);
      }
    },

    FetchWITSVID(call) {
      unimplemented(call, 'fetching WIT-SVIDs is not implemented');
    },

    FetchWITBundles(call) {
      unimplemented(call, 'fetching WIT bundles is not implemented');
    },
  };
}
