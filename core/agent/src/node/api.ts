/**
 * {@link AgentServerApi} over the agent's authenticated connection. Entry
 * sync follows SPIRE's agent (pkg/agent/client): the first request carries
 * only the output mask; a response without revisions is the complete set;
 * otherwise the server pages entry revisions (`more` until the last) and the
 * agent asks, at most one page size of sorted ids at a time, for the entries
 * it does not hold or holds stale.
 */
import { messageReader } from '@spire-ts/common';
import type { Bundle } from '@spire-ts/common';
import type { serverApiAgentV1, serverApiBundleV1, serverApiEntryV1, serverApiSvidV1, apiTypes } from '@spire-ts/proto';
import { unaryCall, type ServerConnection } from './connection.js';
import { AGENT_ENTRY_MASK, bundleFromProto, entryFromProto, entryIsStale, type EntryWire } from './convert.js';
import { decodeSyncResponse, type SyncResponseWire } from './sync-wire.js';
import { isGrpcError } from './errors.js';
import type { Logger } from '@spire-ts/common';
import type { AgentEntry, AgentServerApi, JwtSvidResult, X509SvidResult } from './server-api.js';

/** Longest one entry sync may take. */
const SYNC_TIMEOUT_MS = 60_000;

/** What grpc-js attaches to a generated client's method. */
interface SyncMethodAttrs {
  path: string;
  requestSerialize(value: serverApiEntryV1.SyncAuthorizedEntriesRequest): Buffer;
}

function yieldToIo(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class ServerApiClient implements AgentServerApi {
  constructor(
    private readonly conn: ServerConnection,
    private readonly trustDomain: string,
    private readonly log: Logger,
  ) {}

  /**
   * The last paged sync: its revision pages as received and what it
   * returned, when that was every entry they listed. Revision pages carry
   * each entry's id, revision and creation time, so pages byte for byte the
   * same mean the same entries: the agent's own objects from last time are
   * the answer, without decoding anything (the common case: nothing changed
   * since the last sync, 5 s ago).
   */
  #last: { pages: Buffer[]; result: readonly AgentEntry[] } | undefined;

  syncAuthorizedEntries(known: ReadonlyMap<string, AgentEntry> = new Map()): Promise<readonly AgentEntry[]> {
    return this.conn.with('spire.api.server.entry.v1.Entry', async (client) => {
      // Requests are encoded by the generated client's serializer; responses are
      // compared with the last sync's as bytes, and decoded by sync-wire.ts.
      const method = client.SyncAuthorizedEntries as unknown as SyncMethodAttrs;
      const call = client.makeBidiStreamRequest<serverApiEntryV1.SyncAuthorizedEntriesRequest, Buffer>(
        method.path,
        method.requestSerialize,
        (bytes) => bytes,
        { deadline: Date.now() + SYNC_TIMEOUT_MS },
      );
      const reader = messageReader<Buffer>(call);
      // Entry id → the entry; undefined while the agent still has to ask for it. Unchanged
      // entries are the agent's own objects, keyed by their own id strings.
      const result = new Map<string, AgentEntry | undefined>();
      const take = (entries: readonly EntryWire[], onlyAsked: boolean): void => {
        for (const e of entries) {
          try {
            const entry = entryFromProto(e);
            // Only entries the server listed in this sync are authorised.
            if (onlyAsked && !result.has(entry.id)) continue;
            result.set(entry.id, entry);
          } catch (err) {
            this.log.warn('Received malformed entry from SPIRE server; are the server and agent versions compatible?', { error: (err as Error).message });
          }
        }
      };
      let received = 0;
      const recv = async (what: string): Promise<Buffer> => {
        // Pages already buffered would otherwise all be handled in one event-loop turn:
        // from the second on, let waiting Workload API calls run between pages.
        if (received++ > 0) await yieldToIo();
        const res = await reader.next();
        if (!res) throw new Error(`the server ended SyncAuthorizedEntries while the agent expected ${what}`);
        return res;
      };
      const decode = (bytes: Buffer): SyncResponseWire => {
        try {
          return decodeSyncResponse(bytes);
        } catch (err) {
          throw new Error(`the server sent a malformed SyncAuthorizedEntriesResponse: ${(err as Error).message}`, { cause: err });
        }
      };
      try {
        call.write({ output_mask: AGENT_ENTRY_MASK });
        const last = this.#last;
        const pages: Buffer[] = [await recv('the first response')];
        // True while every page so far is the last sync's: those are not decoded yet.
        let same = last !== undefined && pages[0]!.equals(last.pages[0]!);
        let pageSize = 0;
        let listed = 0;
        const needFull: string[] = [];
        const revisions = (bytes: Buffer, first: boolean): boolean => {
          const res = decode(bytes);
          if (!first && res.entries.length > 0) throw new Error('the server sent entries while the agent expected entry revisions');
          if (first) pageSize = res.entry_revisions.length;
          for (const r of res.entry_revisions) {
            const rev = r.revision_number;
            if (!r.id || !(rev >= 0)) {
              this.log.warn('Received malformed entry revision from SPIRE server; are the server and agent versions compatible?', { entry_id: r.id, revision: String(rev) });
              continue;
            }
            listed++;
            const have = known.get(r.id);
            if (have && !entryIsStale(have, rev, r.created_at)) {
              result.set(have.id, have);
            } else {
              result.set(r.id, undefined);
              needFull.push(r.id);
            }
          }
          return res.more;
        };
        let more: boolean;
        if (same) {
          more = last!.pages.length > 1;
        } else {
          const res = decode(pages[0]!);
          if (res.entry_revisions.length === 0) {
            // Everything in one response: no revisions to compare next time.
            this.#last = undefined;
            take(res.entries, false);
            call.end();
            return [...result.values()].filter((e): e is AgentEntry => e !== undefined);
          }
          more = revisions(pages[0]!, true);
        }
        while (more) {
          const bytes = await recv('more entry revisions');
          const i = pages.push(bytes) - 1;
          if (same && i < last!.pages.length && bytes.equals(last!.pages[i]!)) {
            more = i < last!.pages.length - 1;
            continue;
          }
          if (same) {
            // The first page that differs: the ones before it are decoded after all.
            same = false;
            for (let k = 0; k < i; k++) revisions(pages[k]!, k === 0);
          }
          more = revisions(bytes, false);
        }
        if (same) {
          call.end();
          // The very array of last time (frozen): the caller can tell nothing changed at a glance.
          return last!.result;
        }
        needFull.sort();
        for (let i = 0; i < needFull.length; i += pageSize) {
          call.write({ ids: needFull.slice(i, i + pageSize) });
          for (;;) {
            const res = decode(await recv('the entries it asked for'));
            if (res.entry_revisions.length > 0) throw new Error('the server sent entry revisions while the agent expected entries');
            take(res.entries, true);
            if (!res.more) break;
          }
        }
        call.end();
        // An entry asked for but not sent (deleted meanwhile) is left out.
        const out = Object.freeze([...result.values()].filter((e): e is AgentEntry => e !== undefined));
        // Only a sync that returned every entry its pages listed answers for the same pages next time.
        this.#last = out.length === listed && listed === result.size ? { pages: pages.map((b) => Buffer.from(b)), result: out } : undefined;
        return out;
      } finally {
        reader.close();
        call.cancel();
      }
    });
  }

  batchNewX509Svid(requests: readonly { readonly entryId: string; readonly csr: Uint8Array }[]): Promise<X509SvidResult[]> {
    return this.conn.with('spire.api.server.svid.v1.SVID', async (client) => {
      const res = await unaryCall<serverApiSvidV1.BatchNewX509SVIDRequest, serverApiSvidV1.BatchNewX509SVIDResponse__Output>(
        client.BatchNewX509SVID.bind(client),
        { params: requests.map((r) => ({ entry_id: r.entryId, csr: r.csr })) },
      );
      if (res.results.length !== requests.length) {
        throw new Error(`the server returned ${res.results.length} BatchNewX509SVID results for ${requests.length} requests`);
      }
      return res.results.map((r, i): X509SvidResult => {
        const entryId = (requests[i] as { entryId: string }).entryId;
        const code = r.status?.code ?? 0;
        if (code !== 0) return { ok: false, entryId, code, message: r.status?.message ?? '' };
        if (!r.svid || r.svid.cert_chain.length === 0) return { ok: false, entryId, code: 13, message: 'the server returned no SVID' };
        return { ok: true, entryId, certChain: r.svid.cert_chain.map((c) => new Uint8Array(c)), expiresAt: Number(r.svid.expires_at) };
      });
    });
  }

  newJwtSvid(entryId: string, audience: readonly string[]): Promise<JwtSvidResult> {
    return this.conn.with('spire.api.server.svid.v1.SVID', async (client) => {
      const res = await unaryCall<serverApiSvidV1.NewJWTSVIDRequest, serverApiSvidV1.NewJWTSVIDResponse__Output>(
        client.NewJWTSVID.bind(client),
        { entry_id: entryId, audience: [...audience] },
      );
      if (!res.svid?.token) throw new Error(`the server returned no JWT-SVID for entry ${entryId}`);
      return { token: res.svid.token, issuedAt: Number(res.svid.issued_at), expiresAt: Number(res.svid.expires_at) };
    });
  }

  getBundle(): Promise<Bundle> {
    return this.conn.with('spire.api.server.bundle.v1.Bundle', async (client) => {
      const res = await unaryCall<serverApiBundleV1.GetBundleRequest, apiTypes.Bundle__Output>(client.GetBundle.bind(client), {});
      return bundleFromProto(res, this.trustDomain);
    });
  }

  postStatus(agentVersion: string): Promise<void> {
    return this.conn.with('spire.api.server.agent.v1.Agent', async (client) => {
      await unaryCall<serverApiAgentV1.PostStatusRequest, serverApiAgentV1.PostStatusResponse__Output>(client.PostStatus.bind(client), { agent_version: agentVersion });
    });
  }

  getFederatedBundle(trustDomain: string): Promise<Bundle | undefined> {
    return this.conn.with('spire.api.server.bundle.v1.Bundle', async (client) => {
      try {
        const res = await unaryCall<serverApiBundleV1.GetFederatedBundleRequest, apiTypes.Bundle__Output>(
          client.GetFederatedBundle.bind(client),
          { trust_domain: trustDomain },
        );
        return bundleFromProto(res, trustDomain);
      } catch (err) {
        if (isGrpcError(err) && err.code === 5) return undefined;
        throw err;
      }
    });
  }
}
