/**
 * `spire.api.server.entry.v1.Entry`: registration entry management for
 * admins, and the authorized-entries RPCs agents call (SPIRE's
 * pkg/server/api/entry/v1). Method-level authorization happens in the
 * transport; handlers here only scope what they answer to the caller.
 */
import type { ServiceImpl } from '@spire-ts/plugin-sdk';
import { EncodedMessage, LeanServerCall, toServiceError } from '@spire-ts/plugin-sdk';
import type { apiTypes, serverApiEntryV1 } from '@spire-ts/proto';
import { callerOf } from './caller.js';
import { Status, apiError, internal, invalidArgument, notFound } from './errors.js';
import type { ApiDeps } from './deps.js';
import type { EntryFilters, RegistrationEntry } from '../plugin/datastore/datastore.js';
import { codeOf, errorMessage, makeStatus, okStatus } from './convert/common.js';
import {
  applyEntryMask, checkStoredEntry, entryFiltersFromProto, entryFromProto, entryToProto, mergeEntry, type ProtoEntry,
} from './convert/entry.js';
import { batchCreateEntries } from './entry-create.js';
import { encodeRevisionPage } from './sync-wire.js';

type Impl = ServiceImpl<'spire.api.server.entry.v1.Entry'>;
type Mask = apiTypes.EntryMask__Output | null | undefined;
type UpdateResult = serverApiEntryV1.BatchUpdateEntryResponse__Output['results'][number];
type DeleteResult = serverApiEntryV1.BatchDeleteEntryResponse__Output['results'][number];
type SyncRequest = serverApiEntryV1.SyncAuthorizedEntriesRequest__Output;
type SyncResponse = serverApiEntryV1.SyncAuthorizedEntriesResponse;

/** SPIRE's default page size for SyncAuthorizedEntries. */
export const DEFAULT_ENTRY_PAGE_SIZE = 500;
/** Page size used to read a whole listing from the DataStore when the client asks for no paging. */
const LIST_ALL_PAGE = 1000;
/** Attempts of a masked update when a concurrent writer changed the entry in between (ABORTED). */
const UPDATE_ATTEMPTS = 3;

export interface EntryServiceOptions {
  /** Entries (or revisions) per SyncAuthorizedEntries response; default 500. */
  entryPageSize?: number;
}

/** The Entry service over `deps`. */
export function entryService(deps: ApiDeps, opts: EntryServiceOptions = {}): Impl {
  const td = deps.trustDomain;
  const pageSize = opts.entryPageSize ?? DEFAULT_ENTRY_PAGE_SIZE;
  if (!Number.isSafeInteger(pageSize) || pageSize <= 0) throw new RangeError(`entryPageSize must be a positive integer, got ${pageSize}`);

  const toProto = (e: RegistrationEntry, mask: Mask): ProtoEntry => applyEntryMask(entryToProto(e), mask);

  /** Lets the entry index see this server's writes now (best effort: its own poll catches up otherwise). */
  const refreshIndex = async (): Promise<void> => {
    try {
      await deps.entries.refresh();
    } catch (err) {
      deps.log.warn('Failed to refresh the entry cache after a write', { error: errorMessage(err) });
    }
  };

  const authorizedFor = (call: object): readonly RegistrationEntry[] => {
    let agentId: string | undefined;
    try {
      const caller = callerOf(call);
      if (caller.kind === 'x509') agentId = caller.spiffeId;
    } catch {
      agentId = undefined;
    }
    if (agentId === undefined) throw internal('caller ID missing from request context');
    try {
      return deps.entries.authorizedEntries(agentId);
    } catch (err) {
      throw internal(`failed to fetch entries: ${errorMessage(err)}`, err);
    }
  };

  const updateOne = async (input: apiTypes.Entry__Output, inputMask: Mask, outputMask: Mask): Promise<{ result: UpdateResult; wrote: boolean }> => {
    const fail = (code: number, msg: string, cause?: unknown) => ({ result: { status: makeStatus(code, msg, cause), entry: null }, wrote: false });
    let update;
    try {
      update = entryFromProto(td, input, inputMask);
    } catch (err) {
      return fail(Status.INVALID_ARGUMENT, 'failed to convert entry', err);
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const current = update.id === '' ? undefined : await deps.ds.fetchEntry(update.id);
        if (!current) return fail(Status.NOT_FOUND, 'failed to update entry', new Error('entry not found'));
        const next = mergeEntry(current, update, inputMask);
        try {
          checkStoredEntry(next);
        } catch (err) {
          return fail(Status.INVALID_ARGUMENT, 'failed to update entry', err);
        }
        const updated = await deps.ds.updateEntry(next, { expectedRevision: current.revisionNumber });
        return { result: { status: okStatus(), entry: toProto(updated, outputMask) }, wrote: true };
      } catch (err) {
        const code = codeOf(err);
        if (code === Status.ABORTED && attempt < UPDATE_ATTEMPTS) continue;
        return fail(code === Status.UNKNOWN ? Status.INTERNAL : code, 'failed to update entry', err);
      }
    }
  };

  const deleteOne = async (id: string): Promise<DeleteResult> => {
    if (id === '') return { id, status: makeStatus(Status.INVALID_ARGUMENT, 'missing entry ID') };
    try {
      await deps.ds.deleteEntry(id);
      return { id, status: okStatus() };
    } catch (err) {
      if (codeOf(err) === Status.NOT_FOUND) return { id, status: makeStatus(Status.NOT_FOUND, 'entry not found') };
      return { id, status: makeStatus(Status.INTERNAL, 'failed to delete entry', err) };
    }
  };

  const listAll = async (filters: EntryFilters): Promise<RegistrationEntry[]> => {
    const out: RegistrationEntry[] = [];
    let token = '';
    do {
      const page = await deps.ds.listEntries({ pageSize: LIST_ALL_PAGE, pageToken: token }, filters);
      out.push(...page.items);
      token = page.nextPageToken;
    } while (token !== '');
    return out;
  };

  return {
    async CountEntries(req) {
      const filters = entryFiltersFromProto(td, req.filter);
      try {
        return { count: await deps.ds.countEntries(filters) };
      } catch (err) {
        throw internal(`failed to count entries: ${errorMessage(err)}`, err);
      }
    },

    async ListEntries(req) {
      const filters = entryFiltersFromProto(td, req.filter);
      try {
        if (req.page_size > 0) {
          const page = await deps.ds.listEntries({ pageSize: req.page_size, pageToken: req.page_token }, filters);
          return { entries: page.items.map((e) => toProto(e, req.output_mask)), next_page_token: page.nextPageToken };
        }
        const all = await listAll(filters);
        return { entries: all.map((e) => toProto(e, req.output_mask)), next_page_token: '' };
      } catch (err) {
        if (codeOf(err) === Status.INVALID_ARGUMENT) throw apiError(Status.INVALID_ARGUMENT, `failed to list entries: ${errorMessage(err)}`, err);
        throw internal(`failed to list entries: ${errorMessage(err)}`, err);
      }
    },

    async GetEntry(req) {
      if (req.id === '') throw invalidArgument('missing ID');
      let entry;
      try {
        entry = await deps.ds.fetchEntry(req.id);
      } catch (err) {
        throw internal(`failed to fetch entry: ${errorMessage(err)}`, err);
      }
      if (!entry) throw notFound('entry not found');
      return toProto(entry, req.output_mask);
    },

    async BatchCreateEntry(req) {
      const { results, wrote } = await batchCreateEntries({ ds: deps.ds, trustDomain: td, toProto }, req.entries, req.output_mask);
      if (wrote) await refreshIndex();
      return { results };
    },

    async BatchUpdateEntry(req) {
      const results: UpdateResult[] = [];
      let wrote = false;
      for (const e of req.entries) {
        const r = await updateOne(e, req.input_mask, req.output_mask);
        results.push(r.result);
        wrote ||= r.wrote;
      }
      if (wrote) await refreshIndex();
      return { results };
    },

    async BatchDeleteEntry(req) {
      const results: DeleteResult[] = [];
      for (const id of req.ids) results.push(await deleteOne(id));
      if (results.some((r) => r.status?.code === Status.OK)) await refreshIndex();
      return { results };
    },

    async GetAuthorizedEntries(req, call) {
      const entries = authorizedFor(call);
      return { entries: entries.map((e) => toProto(e, req.output_mask)) };
    },

    SyncAuthorizedEntries(call) {
      void syncAuthorizedEntries(call, () => authorizedFor(call), pageSize);
    },
  };
}

/** The bidi stream as the handler sees it (grpc-js's ServerDuplexStream or the lean server's call). */
export interface SyncStream extends NodeJS.EventEmitter {
  /** An {@link EncodedMessage} only where the call is the lean server's. */
  write(message: SyncResponse | EncodedMessage, cb?: (err?: Error | null) => void): boolean;
  end(): unknown;
  readonly cancelled?: boolean;
}

/** Reads requests off a call one at a time; `undefined` once the client half-closed or went away. */
class RequestReader {
  private readonly queue: SyncRequest[] = [];
  private done = false;
  private waiting: (() => void) | undefined;

  constructor(stream: NodeJS.EventEmitter) {
    const wake = (): void => {
      const w = this.waiting;
      this.waiting = undefined;
      w?.();
    };
    stream.on('data', (m: SyncRequest) => {
      this.queue.push(m);
      wake();
    });
    for (const ev of ['end', 'cancelled', 'close', 'error']) {
      stream.on(ev, () => {
        this.done = true;
        wake();
      });
    }
  }

  async next(): Promise<SyncRequest | undefined> {
    for (;;) {
      const m = this.queue.shift();
      if (m) return m;
      if (this.done) return undefined;
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }
}

function send(call: SyncStream, message: SyncResponse | EncodedMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    call.write(message, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * SPIRE's SyncAuthorizedEntries protocol over `call`: the first request sets
 * the output mask (which must keep revision_number); up to `pageSize` entries
 * are sent whole at once; more are announced as pages of revisions, and the
 * client then asks for the ids it needs, answered in pages of entries.
 */
export async function syncAuthorizedEntries(
  call: SyncStream, fetch: () => readonly RegistrationEntry[], pageSize: number,
): Promise<void> {
  const reader = new RequestReader(call);
  try {
    const entries = fetch();
    const first = await reader.next();
    if (!first) return void call.end();
    if ((first.ids ?? []).length > 0) throw invalidArgument('specifying IDs on initial request is not supported');
    const mask = first.output_mask;
    if (mask && !mask.revision_number) throw invalidArgument('revision number cannot be masked');
    const full = (e: RegistrationEntry): ProtoEntry => applyEntryMask(entryToProto(e), mask);

    if (entries.length <= pageSize) {
      await send(call, { entries: entries.map(full), entry_revisions: [], more: false });
      return void call.end();
    }
    // On the lean server, revision pages are encoded directly (sync-wire.ts): the same message, far cheaper.
    const lean = call instanceof LeanServerCall;
    for (let i = 0; i < entries.length; i += pageSize) {
      const page = entries.slice(i, i + pageSize);
      const more = i + pageSize < entries.length;
      if (lean) {
        await send(call, new EncodedMessage(encodeRevisionPage(page, more)));
        continue;
      }
      await send(call, {
        entry_revisions: page.map((e) => ({ id: e.id, revision_number: e.revisionNumber, created_at: e.createdAt })),
        entries: [],
        more,
      });
    }
    // Built only if the agent asks for entries: an agent whose entries are unchanged asks for none.
    let byId: Map<string, RegistrationEntry> | undefined;
    for (;;) {
      const req = await reader.next();
      if (!req) break;
      const ids = [...new Set(req.ids ?? [])].sort();
      if (ids.length > 0) byId ??= new Map(entries.map((e) => [e.id, e]));
      let batch: ProtoEntry[] = [];
      for (const id of ids) {
        const e = byId?.get(id);
        if (!e) continue;
        if (batch.length === pageSize) {
          await send(call, { entries: batch, entry_revisions: [], more: true });
          batch = [];
        }
        batch.push(full(e));
      }
      await send(call, { entries: batch, entry_revisions: [], more: false });
    }
    call.end();
  } catch (err) {
    if (call.cancelled) return;
    call.emit('error', toServiceError(err));
  }
}
