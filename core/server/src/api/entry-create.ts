/**
 * BatchCreateEntry's work: SPIRE's per-item createEntry results (in request
 * order, as if the items were created one after another) at a constant
 * number of DataStore round trips for the usual batch. Every item is
 * validated first; an item similar (same parent ID, SPIFFE ID and selector
 * set) to an earlier item of the batch answers ALREADY_EXISTS with what that
 * one became. Unless the first item's similar-entry lookup finds one stored,
 * the others are written with one all-or-nothing `createEntries` (two round
 * trips in all). Otherwise, or when that write fails (a similar entry is
 * stored, a taken id, a federated trust domain without a bundle, …; nothing
 * was written then), every item is looked up; when stored similar entries
 * explain the conflict the rest are written in one call again, else each item
 * is created on its own (SPIRE's way) so that each gets its own status.
 */
import type { apiTypes, serverApiEntryV1 } from '@spire-ts/proto';
import type { DataStore, NewEntry, RegistrationEntry, Selector } from '../plugin/datastore/datastore.js';
import { Status } from './errors.js';
import { codeOf, makeStatus, okStatus } from './convert/common.js';
import { checkStoredEntry, entryFromProto, type ProtoEntry } from './convert/entry.js';

export type CreateResult = serverApiEntryV1.BatchCreateEntryResponse__Output['results'][number];
type Mask = apiTypes.EntryMask__Output | null | undefined;

/** Similar-entry lookups in flight at once on the fallback path. */
const LOOKUP_CONCURRENCY = 16;

export interface BatchCreateContext {
  ds: DataStore;
  trustDomain: string;
  toProto(e: RegistrationEntry, mask: Mask): ProtoEntry;
}

/** A valid item: `leader` when no earlier item of the batch is similar. */
interface Item {
  index: number;
  entry: NewEntry;
  key: string;
  leader: boolean;
}

type Outcome =
  | { kind: 'created'; entry: RegistrationEntry }
  | { kind: 'similar'; entry: RegistrationEntry }
  | { kind: 'failed'; status: CreateResult['status'] };

/** What SPIRE's similar-entry lookup compares: parent ID, SPIFFE ID and the selector set. */
export function similarityKey(e: { parentId: string; spiffeId: string; selectors: readonly Selector[] }): string {
  const selectors = [...new Set(e.selectors.map((s) => `${s.type}\u0000${s.value}`))].sort();
  return JSON.stringify([e.parentId, e.spiffeId, selectors]);
}

function failure(err: unknown): Outcome {
  const code = codeOf(err);
  return { kind: 'failed', status: makeStatus(code === Status.UNKNOWN ? Status.INTERNAL : code, 'failed to create entry', err) };
}

async function findSimilar(ds: DataStore, e: NewEntry): Promise<RegistrationEntry | undefined> {
  const page = await ds.listEntries(
    { pageSize: 1 },
    { bySpiffeId: e.spiffeId, byParentId: e.parentId, bySelectors: { selectors: e.selectors, match: 'EXACT' } },
  );
  return page.items[0];
}

/** `fn` over `items` with at most `limit` calls in flight; results in order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

type Lookup = { found: RegistrationEntry | undefined } | { error: unknown };

/** One item the SPIRE way: the similar-entry lookup (unless already done), then a single create. */
async function createOne(ds: DataStore, entry: NewEntry, lookup?: Lookup): Promise<Outcome> {
  try {
    const l = lookup ?? { found: await findSimilar(ds, entry) };
    if ('error' in l) return failure(l.error);
    if (l.found) return { kind: 'similar', entry: l.found };
    return { kind: 'created', entry: await ds.createEntry(entry) };
  } catch (err) {
    return failure(err);
  }
}

/**
 * Outcomes of the valid items, in order; `written` maps each leader the
 * DataStore stored in one write to its stored entry, `lookups` holds the
 * leaders' similar-entry lookups already done.
 */
async function resolve(ds: DataStore, items: readonly Item[], written: Map<number, RegistrationEntry> | undefined, lookups: Map<number, Lookup>): Promise<Outcome[]> {
  /** The stored entry an item of each similarity key answers with from now on. */
  const byKey = new Map<string, RegistrationEntry>();
  const out: Outcome[] = [];
  for (const item of items) {
    const earlier = byKey.get(item.key);
    let o: Outcome;
    if (earlier) {
      o = { kind: 'similar', entry: earlier };
    } else {
      const lookup = lookups.get(item.index);
      const created = written?.get(item.index);
      if (created) o = { kind: 'created', entry: created };
      else if (written && lookup && 'found' in lookup && lookup.found) o = { kind: 'similar', entry: lookup.found };
      else o = await createOne(ds, item.entry, lookup);
    }
    if (o.kind !== 'failed') byKey.set(item.key, o.entry);
    out.push(o);
  }
  return out;
}

/** Writes the leaders in one call: their stored entries by item index, or the error (nothing written then). */
async function writeAll(ds: DataStore, leaders: readonly Item[]): Promise<{ written: Map<number, RegistrationEntry> } | { error: unknown }> {
  if (leaders.length === 0) return { written: new Map() };
  try {
    const stored = await ds.createEntries(leaders.map((l) => l.entry));
    return { written: new Map(leaders.map((l, i) => [l.index, stored[i] as RegistrationEntry])) };
  } catch (error) {
    return { error };
  }
}

async function lookup(ds: DataStore, item: Item): Promise<Lookup> {
  try {
    return { found: await findSimilar(ds, item.entry) };
  } catch (error) {
    return { error };
  }
}

async function outcomes(ds: DataStore, items: readonly Item[]): Promise<Outcome[]> {
  const leaders = items.filter((i) => i.leader);
  const head = leaders[0];
  if (!head) return [];
  // A batch re-applying stored entries would fail the one-call write (which costs
  // more than a lookup): the first item's lookup tells the two usual cases apart.
  const lookups = new Map<number, Lookup>([[head.index, await lookup(ds, head)]]);
  const probe = lookups.get(head.index) as Lookup;
  if ('error' in probe) return resolve(ds, items, undefined, lookups);
  let conflict = true;
  if (probe.found === undefined) {
    const first = await writeAll(ds, leaders);
    if ('written' in first) return resolve(ds, items, first.written, lookups);
    // Nothing was written: find out item by item.
    conflict = codeOf(first.error) === Status.ALREADY_EXISTS;
  }

  // Look up the others' similar entries; when stored entries explain the conflict,
  // write the rest in one call again; otherwise go item by item.
  const rest = leaders.filter((l) => !lookups.has(l.index));
  const found = await mapLimited(rest, LOOKUP_CONCURRENCY, (l) => lookup(ds, l));
  rest.forEach((l, i) => lookups.set(l.index, found[i] as Lookup));
  const all = leaders.map((l) => lookups.get(l.index) as Lookup);
  const fresh = leaders.filter((_, i) => {
    const x = all[i] as Lookup;
    return 'found' in x && x.found === undefined;
  });
  if (conflict && fresh.length < leaders.length && all.every((x) => 'found' in x)) {
    const second = await writeAll(ds, fresh);
    if ('written' in second) return resolve(ds, items, second.written, lookups);
  }
  return resolve(ds, items, undefined, lookups);
}

/** Creates the entries of one BatchCreateEntry request; `wrote` when any was stored. */
export async function batchCreateEntries(
  ctx: BatchCreateContext, inputs: readonly apiTypes.Entry__Output[], mask: Mask,
): Promise<{ results: CreateResult[]; wrote: boolean }> {
  const results = new Array<CreateResult>(inputs.length);
  const items: Item[] = [];
  const keys = new Set<string>();
  inputs.forEach((input, index) => {
    let e;
    try {
      e = entryFromProto(ctx.trustDomain, input);
    } catch (err) {
      results[index] = { status: makeStatus(Status.INVALID_ARGUMENT, 'failed to convert entry', err), entry: null };
      return;
    }
    try {
      checkStoredEntry(e);
    } catch (err) {
      results[index] = { status: makeStatus(Status.INVALID_ARGUMENT, 'failed to create entry', err), entry: null };
      return;
    }
    const { revisionNumber: _revision, ...entry } = e;
    const key = similarityKey(entry);
    items.push({ index, entry, key, leader: !keys.has(key) });
    keys.add(key);
  });

  const done = await outcomes(ctx.ds, items);
  let wrote = false;
  items.forEach((item, i) => {
    const o = done[i] as Outcome;
    if (o.kind === 'failed') {
      results[item.index] = { status: o.status, entry: null };
    } else if (o.kind === 'similar') {
      results[item.index] = { status: makeStatus(Status.ALREADY_EXISTS, 'similar entry already exists'), entry: ctx.toProto(o.entry, mask) };
    } else {
      wrote = true;
      results[item.index] = { status: okStatus(), entry: ctx.toProto(o.entry, mask) };
    }
  });
  return { results, wrote };
}
