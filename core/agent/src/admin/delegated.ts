/**
 * `spire.api.agent.delegatedidentity.v1.DelegatedIdentity` (SPIRE's
 * pkg/agent/api/delegatedidentity/v1), served on the admin socket: a trusted
 * node-level agent (Cilium, Istio's ztunnel, ...) obtains X.509- and
 * JWT-SVIDs on behalf of workloads it names by selectors or by pid, and the
 * bundles to go with them.
 *
 * Every call first attests its caller like a Workload API caller (SO_PEERCRED
 * pid → WorkloadAttestors, with the pid-reuse re-check) and requires one of
 * the entries the caller matches to have a SPIFFE ID listed in
 * `authorized_delegates`. Streams check that again, with the caller's
 * selectors from the start of the call, before each push: a delegate whose
 * entries go away loses its streams.
 *
 * @module
 */
import { latestWins } from '../workload/latest.js';
import { statSync } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import { concatCertificates, jwtBundleMap, parseSpiffeId, trustDomainId, type Bundle, type Logger } from '@spire-ts/common';
import { processStartTime } from '@spire-ts/peercred';
import { PluginError, Status, type ServiceImpl } from '@spire-ts/plugin-sdk';
import type { apiTypes, delegatedIdentityV1 } from '@spire-ts/proto';
import { selectorKey, type CallerProcess, type Selector, type WorkloadAttestation, type WorkloadCache, type WorkloadUpdate } from '../workload/index.js';
import { SvidWaitingSubscription } from '../workload/svid-wait.js';

/** What the service reads from the agent's cache besides the Workload API's view of it. */
export interface DelegatedIdentitySource extends WorkloadCache {
  /** The agent's own trust domain bundle (undefined before the first sync). */
  readonly bundle: Bundle | undefined;
  /** Every federated bundle the agent holds, by trust domain name. */
  readonly federatedBundles: ReadonlyMap<string, Bundle>;
  /** Calls `listener` after the own or a federated bundle changed; returns the unsubscribe function. */
  subscribeToBundles(listener: () => void): () => void;
  /** The admin and downstream flags of a cached entry (SVIDs of such entries are never handed to a delegate). */
  registrationEntry(entryId: string): { readonly admin: boolean; readonly downstream: boolean } | undefined;
}

export interface DelegatedIdentityDeps {
  source: DelegatedIdentitySource;
  /** The agent's WorkloadAttestors: for the caller, and for the pid a request names. */
  attestation: WorkloadAttestation;
  /** The caller of a call's connection (SO_PEERCRED at accept); undefined = unknown connection. */
  callerOf(call: object): CallerProcess | undefined;
  /** SPIFFE IDs allowed to use the API (`authorized_delegates`). */
  authorizedDelegates: readonly string[];
  log: Logger;
  /** Registers an open stream so the server can end it on close; returns its deregistration. */
  trackStream(end: () => void): () => void;
  /** How long an X.509-SVID stream waits for SVIDs still being minted; default 30 s. */
  svidWaitMs?: number;
  /** Where procfs is (for the delegated pid's owner); default `/proc`. */
  procRoot?: string;
}

/** Most selectors a request may name. */
export const MAX_DELEGATED_SELECTORS = 1_024;
const DEFAULT_SVID_WAIT_MS = 30_000;

type X509Res = delegatedIdentityV1.SubscribeToX509SVIDsResponse;
type Stream<Res> = grpc.ServerWritableStream<unknown, Res>;
type AnyCall = {
  getPeer(): string;
  cancelled: boolean;
  on(event: 'cancelled', listener: () => void): unknown;
  off(event: 'cancelled', listener: () => void): unknown;
};

function status(code: Status, message: string): PluginError {
  return new PluginError(code, message);
}

function asStatus(err: unknown): PluginError {
  return err instanceof PluginError ? err : status(Status.INTERNAL, (err as Error)?.message ?? String(err));
}

function fail(call: Stream<unknown>, err: PluginError): void {
  call.emit('error', { code: err.code, details: err.details });
}

const secs = (d: Date): number => Math.floor(d.getTime() / 1000);

/** The `iat` claim of a JWT-SVID minted by the server (0 if it has none). */
function issuedAtOf(token: string): number {
  const payload = token.split('.')[1];
  if (payload === undefined || payload.length > 64 * 1024) return 0;
  try {
    const iat = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { iat?: unknown }).iat;
    return typeof iat === 'number' && Number.isFinite(iat) ? Math.floor(iat) : 0;
  } catch {
    return 0;
  }
}

function idProto(spiffeId: string): apiTypes.SPIFFEID {
  const id = parseSpiffeId(spiffeId);
  return { trust_domain: id.trustDomain, path: id.path };
}

/**
 * The DelegatedIdentity handlers, bound to `deps`.
 *
 * @example
 * ```ts
 * addService(server, 'spire.api.agent.delegatedidentity.v1.DelegatedIdentity', delegatedIdentityService(deps));
 * ```
 */
export function delegatedIdentityService(deps: DelegatedIdentityDeps): ServiceImpl<'spire.api.agent.delegatedidentity.v1.DelegatedIdentity'> {
  const { source } = deps;
  const log = deps.log.with({ subsystem_name: 'delegated_identity_api' });
  const authorized = new Set(deps.authorizedDelegates);
  const procRoot = deps.procRoot ?? '/proc';

  /** The caller's entries must include an authorised delegate (SPIRE's isCallerAuthorized, with the selectors known). */
  function checkDelegate(method: string, callerSelectors: readonly Selector[]): void {
    const entries = source.matchingEntries(callerSelectors);
    const fields = { method, delegate_selectors: callerSelectors.map(selectorKey).join(',') };
    if (entries.length === 0) {
      log.error('No identity issued', fields);
      throw status(Status.PERMISSION_DENIED, 'no identity issued');
    }
    const delegate = entries.find((e) => authorized.has(e.spiffeId));
    if (delegate) {
      log.debug('Caller authorized as delegate', { ...fields, delegate_id: delegate.spiffeId });
      return;
    }
    log.error('Permission denied; caller not configured as an authorized delegate.', { ...fields, num_registered_entries: entries.length, default_id: entries[0]!.spiffeId });
    throw status(Status.PERMISSION_DENIED, 'caller not configured as an authorized delegate');
  }

  /** Attests `target` with the agent's WorkloadAttestors, aborted if the call goes away. */
  async function attest(call: AnyCall, method: string, target: CallerProcess, what: string): Promise<Selector[]> {
    const abort = new AbortController();
    const onCancel = (): void => abort.abort();
    call.on('cancelled', onCancel);
    try {
      return await deps.attestation.attest(target, abort.signal);
    } catch (err) {
      if (call.cancelled) throw status(Status.CANCELLED, 'the caller went away');
      log.error('Workload attestation failed', { method, [what]: target.pid, error: (err as Error).message });
      throw status(Status.UNAVAILABLE, 'workload attestation failed');
    } finally {
      call.off('cancelled', onCancel);
    }
  }

  /** Attests the caller of `call` and checks it is an authorised delegate; returns its selectors. */
  async function authorizeCaller(call: AnyCall, method: string): Promise<Selector[]> {
    const caller = deps.callerOf(call);
    if (!caller) {
      log.error('Workload attestation failed: caller credentials unavailable for the connection', { method, peer: call.getPeer() });
      throw status(Status.UNAVAILABLE, 'workload attestation failed');
    }
    const selectors = await attest(call, method, caller, 'pid');
    checkDelegate(method, selectors);
    return selectors;
  }

  /** The delegated workload's selectors: those given, or those of the pid given (SPIRE's constructValidSelectorsFromReq). */
  async function requestSelectors(call: AnyCall, method: string, pid: number, given: readonly apiTypes.Selector__Output[]): Promise<Selector[]> {
    if ((given.length !== 0 && pid !== 0) || (given.length === 0 && pid === 0)) {
      log.error('Invalid argument; must provide either selectors or non-zero PID, but not both', { method });
      throw status(Status.INVALID_ARGUMENT, 'must provide either selectors or non-zero PID, but not both');
    }
    if (given.length !== 0) {
      if (given.length > MAX_DELEGATED_SELECTORS) {
        throw status(Status.INVALID_ARGUMENT, `could not parse provided selectors: ${given.length} selectors, at most ${MAX_DELEGATED_SELECTORS} are allowed`);
      }
      const out: Selector[] = [];
      for (const s of given) {
        const problem = s.type === '' ? 'missing selector type' : s.type.includes(':') ? "selector type contains ':'" : s.value === '' ? 'missing selector value' : undefined;
        if (problem) {
          log.error('Invalid argument; could not parse provided selectors', { method, error: problem });
          throw status(Status.INVALID_ARGUMENT, 'could not parse provided selectors');
        }
        out.push({ type: s.type, value: s.value });
      }
      return out;
    }
    if (pid < 0) {
      log.error('Invalid argument; negative PID', { method, pid });
      throw status(Status.INVALID_ARGUMENT, `invalid PID ${pid}: must be positive`);
    }
    // The process as it is now: attestation fails if the pid is reused while the attestors run.
    let target: CallerProcess;
    try {
      const startTime = processStartTime(pid);
      const owner = statSync(`${procRoot}/${pid}`);
      target = { pid, uid: owner.uid, gid: owner.gid, startTime };
    } catch (err) {
      log.error('Workload attestation failed', { method, delegated_pid: pid, error: (err as Error).message });
      throw status(Status.UNAVAILABLE, 'workload attestation failed');
    }
    return attest(call, method, target, 'delegated_pid');
  }

  function isDelegable(entryId: string): boolean {
    const e = source.registrationEntry(entryId);
    return e !== undefined && !e.admin && !e.downstream;
  }

  function composeX509(update: WorkloadUpdate): X509Res {
    const x509_svids: delegatedIdentityV1.X509SVIDWithKey[] = [];
    for (const id of update.identities) {
      if (!isDelegable(id.entryId)) continue;
      if (id.certChainDer.length === 0) throw new Error('unable to get SVID from identity');
      x509_svids.push({
        x509_svid: { id: idProto(id.spiffeId), cert_chain: id.certChainDer.map((d) => Buffer.from(d.buffer, d.byteOffset, d.byteLength)), expires_at: secs(id.expiresAt), hint: id.hint },
        x509_svid_key: Buffer.from(id.privateKeyPkcs8Der),
      });
    }
    return { x509_svids, federates_with: update.federatedBundles.map((b) => trustDomainId(b.trustDomain)).sort() };
  }

  function allBundles(): Bundle[] {
    const own = source.bundle;
    const fed = [...source.federatedBundles.values()].filter((b) => b.trustDomain !== own?.trustDomain);
    return own ? [own, ...fed] : fed;
  }

  /**
   * Runs a server stream: `open` subscribes and calls `push` with each
   * response (or a status to end the stream); writes are coalesced under
   * backpressure (only the newest response waits for 'drain').
   */
  function runStream<Res>(call: Stream<Res>, open: (push: (res: Res) => void, end: (err: PluginError) => void) => () => void): void {
    const untyped = call as unknown as Stream<unknown>;
    let done = false;
    const finish = (err?: PluginError): void => {
      if (done) return;
      done = true;
      close();
      untrack();
      if (err && !call.cancelled) fail(untyped, err);
    };
    const push = latestWins<Res>(call, () => done);
    const untrack = deps.trackStream(() => finish(status(Status.UNAVAILABLE, 'the agent is shutting down')));
    call.on('cancelled', () => finish());
    call.on('error', () => finish());
    let close: () => void = () => {};
    close = open(push, (err) => finish(err));
    if (done) close();
  }

  /** Attests and authorises the caller of a stream; on failure ends the stream and returns undefined. */
  async function streamPrelude<T>(call: Stream<unknown>, method: string, more: (callerSelectors: Selector[]) => Promise<T>): Promise<T | undefined> {
    try {
      const callerSelectors = await authorizeCaller(call, method);
      const out = await more(callerSelectors);
      return call.cancelled ? undefined : out;
    } catch (err) {
      if (!call.cancelled) fail(call, asStatus(err));
      return undefined;
    }
  }

  async function subscribeX509(call: Stream<X509Res>, req: delegatedIdentityV1.SubscribeToX509SVIDsRequest__Output): Promise<void> {
    const method = 'SubscribeToX509SVIDs';
    const auth = await streamPrelude(call as Stream<unknown>, method, async (callerSelectors) => ({
      callerSelectors,
      selectors: await requestSelectors(call, method, req.pid, req.selectors),
    }));
    if (!auth) return;
    const { callerSelectors, selectors } = auth;
    log.debug('Subscribing to cache changes', { delegate_selectors: callerSelectors.map(selectorKey).join(','), request_selectors: selectors.map(selectorKey).join(',') });
    runStream(call, (push, end) => {
      const send = (update: WorkloadUpdate): void => {
        try {
          checkDelegate(method, callerSelectors);
        } catch (err) {
          end(asStatus(err));
          return;
        }
        let res: X509Res;
        try {
          res = composeX509(update);
        } catch (err) {
          log.error('Could not serialize X.509 SVID response', { error: (err as Error).message });
          end(status(Status.INTERNAL, 'could not serialize response'));
          return;
        }
        push(res);
        for (const s of res.x509_svids ?? []) {
          log.debug('Fetched X.509 SVID for delegated identity', { spiffe_id: `spiffe://${s.x509_svid?.id?.trust_domain ?? ''}${s.x509_svid?.id?.path ?? ''}`, ttl: Number(s.x509_svid?.expires_at ?? 0) - Date.now() / 1000 });
        }
      };
      // Entries that match but whose SVIDs are still being minted: the subscription waits for them, as SPIRE's cache does.
      const subscription = new SvidWaitingSubscription(source, selectors, send, deps.svidWaitMs ?? DEFAULT_SVID_WAIT_MS);
      subscription.start();
      return () => subscription.stop();
    });
  }

  async function subscribeBundles<Res>(call: Stream<Res>, method: string, compose: (bundles: Bundle[]) => Res): Promise<void> {
    const callerSelectors = await streamPrelude(call as Stream<unknown>, method, async (s) => s);
    if (!callerSelectors) return;
    runStream(call, (push, end) => {
      const send = (): void => {
        let res: Res;
        try {
          res = compose(allBundles());
        } catch (err) {
          log.error('Could not serialize bundle response', { method, error: (err as Error).message });
          end(status(Status.INTERNAL, 'could not serialize response'));
          return;
        }
        push(res);
      };
      const unsubscribe = source.subscribeToBundles(() => {
        try {
          checkDelegate(method, callerSelectors);
        } catch (err) {
          end(asStatus(err));
          return;
        }
        send();
      });
      send();
      return unsubscribe;
    });
  }

  return {
    SubscribeToX509SVIDs(call) {
      void subscribeX509(call, call.request);
    },

    SubscribeToX509Bundles(call) {
      void subscribeBundles(call, 'SubscribeToX509Bundles', (bundles) => {
        const ca_certificates: Record<string, Buffer> = {};
        for (const b of bundles) ca_certificates[trustDomainId(b.trustDomain)] = concatCertificates(b.x509Authorities);
        return { ca_certificates };
      });
    },

    SubscribeToJWTBundles(call) {
      void subscribeBundles(call, 'SubscribeToJWTBundles', (bundles) => ({ bundles: jwtBundleMap(bundles) }));
    },

    async FetchJWTSVIDs(request, call) {
      const method = 'FetchJWTSVIDs';
      if (request.audience.length === 0) {
        log.error('Missing required audience parameter', { method });
        throw status(Status.INVALID_ARGUMENT, 'audience must be specified');
      }
      if (request.audience.some((a) => a === '')) throw status(Status.INVALID_ARGUMENT, 'audience must not contain empty strings');
      await authorizeCaller(call, method);
      const selectors = await requestSelectors(call, method, request.pid, request.selectors);
      const svids: apiTypes.JWTSVID[] = [];
      for (const entry of source.matchingEntries(selectors)) {
        if (!isDelegable(entry.entryId)) continue;
        let id: apiTypes.SPIFFEID;
        try {
          id = idProto(entry.spiffeId);
        } catch (err) {
          log.error('Invalid requested SPIFFE ID', { spiffe_id: entry.spiffeId, error: (err as Error).message });
          throw status(Status.INVALID_ARGUMENT, `invalid requested SPIFFE ID: ${(err as Error).message}`);
        }
        let svid;
        try {
          svid = await source.fetchJwtSvid(entry, request.audience);
        } catch (err) {
          log.error('Could not fetch JWT-SVID', { spiffe_id: entry.spiffeId, error: (err as Error).message });
          throw status(Status.UNAVAILABLE, `could not fetch JWT-SVID: ${(err as Error).message}`);
        }
        svids.push({ token: svid.token, id, expires_at: secs(svid.expiresAt), issued_at: issuedAtOf(svid.token), hint: entry.hint });
        log.debug('Fetched JWT SVID', { spiffe_id: entry.spiffeId, ttl: (svid.expiresAt.getTime() - Date.now()) / 1000 });
      }
      if (svids.length === 0) {
        log.error('No identity issued', { method, selectors: selectors.map(selectorKey).join(',') });
        throw status(Status.PERMISSION_DENIED, 'no identity issued');
      }
      return { svids };
    },
  };
}
