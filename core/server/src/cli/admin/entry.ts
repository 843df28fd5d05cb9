/**
 * `spire-server entry create|update|delete|show|count`, as SPIRE's.
 *
 * @module
 */

import type { apiTypes } from '@spire-ts/proto';
import { AdminError } from './client.js';
import type { AdminCommand, AdminContext } from './command.js';
import { parseEntriesJson } from './entry-data.js';
import type { CliFlag } from '@spire-ts/common';
import { goCodeName } from '@spire-ts/common';
import { formatEntry, formatEntryFailure, formatEntryList, goQuote, plural, sortEntries } from './print.js';
import { protoJsonLine } from './protojson.js';
import { FILTER_FLAGS, entryFilter, idProto, parseSelector } from './entry-filter.js';

const ENTRY = 'spire.api.server.entry.v1.Entry';
const PKG = 'spire.api.server.entry.v1';
type Entry = apiTypes.Entry;

const INT32_MAX = 2 ** 31 - 1;

function writeFlags(forUpdate: boolean): CliFlag[] {
  return [
    { name: 'entryID', kind: 'string', usage: forUpdate ? 'The Registration Entry ID of the record to update' : 'A custom ID for this registration entry (optional). If not set, a new entry ID will be generated' },
    { name: 'parentID', kind: 'string', usage: "The SPIFFE ID of this record's parent" },
    { name: 'spiffeID', kind: 'string', usage: 'The SPIFFE ID that this record represents' },
    { name: 'x509SVIDTTL', kind: 'int', usage: 'The lifetime, in seconds, for x509-SVIDs issued based on this registration entry.' },
    { name: 'jwtSVIDTTL', kind: 'int', usage: 'The lifetime, in seconds, for JWT-SVIDs issued based on this registration entry.' },
    { name: 'data', kind: 'string', usage: "Path to a file containing registration JSON (optional). If set to '-', read the JSON from stdin." },
    { name: 'selector', kind: 'strings', usage: 'A colon-delimited type:value selector. Can be used more than once' },
    { name: 'federatesWith', kind: 'strings', usage: 'SPIFFE ID of a trust domain to federate with. Can be used more than once' },
    ...(forUpdate ? [] : [{ name: 'node', kind: 'bool', usage: 'If set, this entry will be applied to matching nodes rather than workloads' } as const]),
    { name: 'admin', kind: 'bool', usage: "If set, the SPIFFE ID in this entry will be granted access to the SPIRE Server's management APIs" },
    { name: 'storeSVID', kind: 'bool', usage: 'A boolean value that, when set, indicates that the resulting issued SVID from this entry must be stored through an SVIDStore plugin' },
    { name: 'downstream', kind: 'bool', usage: 'A boolean value that, when set, indicates that the entry describes a downstream SPIRE server' },
    { name: 'entryExpiry', kind: 'int', usage: 'An expiry, from epoch in seconds, for the resulting registration entry to be pruned' },
    { name: 'dns', kind: 'strings', usage: 'A DNS name that will be included in SVIDs issued based on this entry, where appropriate. Can be used more than once' },
    { name: 'hint', kind: 'string', usage: 'The entry hint, used to disambiguate entries with the same SPIFFE ID' },
    { name: 'disableX509SVIDPrefetch', kind: 'bool', usage: 'A boolean value that, when set, disables prefetching X509 SVID for this entry' },
    { name: 'jwtSVIDIncludeJTI', kind: 'bool', usage: "A boolean value that, when set, includes a unique 'jti' claim in JWT-SVIDs issued for this entry and bypasses the agent JWT-SVID cache" },
  ];
}

function ttl(ctx: AdminContext, flag: string, what: string): number {
  const v = ctx.flags.int(flag);
  if (v < 0) throw new AdminError(`a positive ${what} TTL is required (got -${flag} ${v})`);
  if (v > INT32_MAX) throw new AdminError(`invalid value for ${what === 'x509-SVID' ? 'X509 SVID' : 'JWT SVID'} TTL: ${v} is out of range (at most ${INT32_MAX} seconds)`);
  return v;
}

/** The entry the flags describe (`create`/`update` without `-data`). */
function entryFromFlags(ctx: AdminContext, forUpdate: boolean): Entry {
  const f = ctx.flags;
  if (forUpdate && f.str('entryID') === '') throw new AdminError('entry ID is required (set -entryID)');
  if (f.list('selector').length < 1) throw new AdminError('at least one selector is required (set -selector type:value)');
  if (!forUpdate && f.bool('node') && f.list('federatesWith').length > 0) throw new AdminError('node entries can not federate (drop -federatesWith or -node)');
  if (f.str('parentID') === '' && (forUpdate || !f.bool('node'))) {
    throw new AdminError(forUpdate ? 'a parent ID is required (set -parentID)' : 'a parent ID is required if the node flag is not set (set -parentID or -node)');
  }
  if (f.str('spiffeID') === '') throw new AdminError('a SPIFFE ID is required (set -spiffeID)');
  const x509 = ttl(ctx, 'x509SVIDTTL', 'x509-SVID');
  const jwt = ttl(ctx, 'jwtSVIDTTL', 'JWT-SVID');
  const spiffeId = idProto(f.str('spiffeID'), 'SPIFFE ID');
  const parentId = !forUpdate && f.bool('node') ? { trust_domain: spiffeId.trust_domain, path: '/spire/server' } : idProto(f.str('parentID'), 'parent ID');
  const e: Entry = {
    id: f.str('entryID'),
    parent_id: parentId,
    spiffe_id: spiffeId,
    downstream: f.bool('downstream'),
    expires_at: f.int('entryExpiry'),
    dns_names: [...f.list('dns')],
    store_svid: f.bool('storeSVID'),
    x509_svid_ttl: x509,
    jwt_svid_ttl: jwt,
    hint: f.str('hint'),
    selectors: f.list('selector').map((s) => parseSelector(s)),
    federates_with: [...f.list('federatesWith')],
    admin: f.bool('admin'),
  };
  if (f.bool('disableX509SVIDPrefetch') || f.bool('jwtSVIDIncludeJTI')) {
    e.additional_attributes = { disable_x509_svid_prefetch: f.bool('disableX509SVIDPrefetch'), jwt_svid_include_jti: f.bool('jwtSVIDIncludeJTI') };
  }
  return e;
}

function entriesToWrite(ctx: AdminContext, forUpdate: boolean): Entry[] {
  const data = ctx.flags.str('data');
  if (data === '') return [entryFromFlags(ctx, forUpdate)];
  let text: string;
  try {
    text = ctx.read(data);
  } catch (err) {
    throw new AdminError(`could not read -data ${data}: ${(err as Error).message}`);
  }
  return parseEntriesJson(text, data === '-' ? 'stdin' : data);
}

type Result = { status: apiTypes.Status__Output | null; entry: Partial<apiTypes.Entry__Output> | null };

/** Prints a create/update batch like SPIRE: successes to stdout, failures (with the entry sent) to stderr. */
function printBatch(ctx: AdminContext, verb: 'create' | 'update', type: string, sent: readonly Entry[], results: readonly Result[]): number {
  const merged = results.map((r, i) => (r.status && r.status.code !== 0 ? { ...r, entry: sent[i] as Partial<apiTypes.Entry__Output> } : r));
  if (ctx.output === 'json') {
    // As SPIRE: the JSON carries each result's status, and the exit code stays 0.
    ctx.io.stdout(protoJsonLine(ENTRY, `${PKG}.${type}`, { results: merged }));
    return 0;
  }
  for (const r of merged) if (!r.status || r.status.code === 0) ctx.io.stdout(formatEntry(r.entry ?? {}));
  for (const r of merged) if (r.status && r.status.code !== 0) ctx.io.stderr(formatEntryFailure(verb, r.status, r.entry ?? {}));
  if (merged.some((r) => r.status && r.status.code !== 0)) throw new AdminError(`failed to ${verb} one or more entries`);
  return 0;
}

export const entryCreate: AdminCommand = {
  name: 'entry create',
  synopsis: 'Creates registration entries',
  flags: writeFlags(false),
  async run(ctx) {
    const entries = entriesToWrite(ctx, false);
    const resp = await ctx.conn.call(ENTRY, 'BatchCreateEntry', { entries });
    return printBatch(ctx, 'create', 'BatchCreateEntryResponse', entries, resp.results);
  },
};

export const entryUpdate: AdminCommand = {
  name: 'entry update',
  synopsis: 'Updates registration entries',
  flags: writeFlags(true),
  async run(ctx) {
    const entries = entriesToWrite(ctx, true);
    const f = ctx.flags;
    if (f.str('data') === '' && (f.given.has('disableX509SVIDPrefetch') || f.given.has('jwtSVIDIncludeJTI'))) {
      // Keep the attributes not given, as SPIRE merges them from the stored entry.
      const existing = await ctx.conn.call(ENTRY, 'GetEntry', { id: f.str('entryID') }, 'failed to fetch existing entry to merge additional attributes');
      const attrs = { ...(existing.additional_attributes ?? { disable_x509_svid_prefetch: false, jwt_svid_include_jti: false }) };
      if (f.given.has('disableX509SVIDPrefetch')) attrs.disable_x509_svid_prefetch = f.bool('disableX509SVIDPrefetch');
      if (f.given.has('jwtSVIDIncludeJTI')) attrs.jwt_svid_include_jti = f.bool('jwtSVIDIncludeJTI');
      entries[0]!.additional_attributes = attrs;
    }
    const resp = await ctx.conn.call(ENTRY, 'BatchUpdateEntry', { entries });
    return printBatch(ctx, 'update', 'BatchUpdateEntryResponse', entries, resp.results);
  },
};

export const entryDelete: AdminCommand = {
  name: 'entry delete',
  synopsis: 'Deletes registration entries',
  flags: [
    { name: 'entryID', kind: 'string', usage: 'The Registration Entry ID of the record to delete.' },
    { name: 'file', kind: 'string', usage: "Path to a file containing a JSON structure for batch deletion (optional). If set to '-', read from stdin." },
  ],
  async run(ctx) {
    const file = ctx.flags.str('file');
    let ids: string[];
    if (file !== '') {
      let doc: unknown;
      try {
        doc = JSON.parse(ctx.read(file));
      } catch (err) {
        throw new AdminError(`could not read entry IDs from ${file === '-' ? 'stdin' : file}: ${(err as Error).message} (expected {"ids": ["<entry ID>", ...]})`);
      }
      const raw = doc !== null && typeof doc === 'object' ? (doc as { ids?: unknown }).ids : undefined;
      if (raw !== undefined && raw !== null && (!Array.isArray(raw) || raw.some((x) => typeof x !== 'string'))) {
        throw new AdminError(`"ids" in ${file === '-' ? 'stdin' : file} must be a list of entry ID strings`);
      }
      ids = (raw ?? []) as string[];
    } else {
      if (ctx.flags.str('entryID') === '') throw new AdminError('an entry ID is required (set -entryID, or -file with {"ids": [...]})');
      ids = [ctx.flags.str('entryID')];
    }
    const resp = await ctx.conn.call(ENTRY, 'BatchDeleteEntry', { ids });
    const failed = resp.results.filter((r) => r.status && r.status.code !== 0);
    const succeeded = resp.results.filter((r) => !r.status || r.status.code === 0);
    if (ctx.output === 'json') {
      // As SPIRE: the JSON carries each result's status, and the exit code stays 0.
      ctx.io.stdout(protoJsonLine(ENTRY, `${PKG}.BatchDeleteEntryResponse`, resp as unknown as Record<string, unknown>));
      return 0;
    } else {
      let out = succeeded.map((r) => `Deleted entry with ID: ${r.id}\n`).join('');
      if (succeeded.length > 0) out += '\n\n';
      ctx.io.stdout(out);
      for (const r of failed) ctx.io.stderr(`Failed to delete entry with ID ${r.id} (code: ${goCodeName(r.status!.code)}, msg: ${goQuote(r.status!.message)})\n`);
      if (failed.length > 0) {
        ctx.io.stdout(`\n\n${succeeded.length === 0 ? `Failed to delete ${failed.length} entries` : `Deleted ${succeeded.length} entries successfully, but failed to delete ${failed.length} entries`}`);
      } else {
        ctx.io.stdout(`Deleted ${succeeded.length} entries successfully`);
      }
    }
    if (failed.length > 0) throw new AdminError('failed to delete one or more entries');
    return 0;
  },
};

const PAGE_SIZE = 500;

export const entryShow: AdminCommand = {
  name: 'entry show',
  synopsis: 'Displays configured registration entries',
  flags: [{ name: 'entryID', kind: 'string', usage: 'The Entry ID of the records to show' }, ...FILTER_FLAGS('show')],
  async run(ctx) {
    const f = ctx.flags;
    const entries: apiTypes.Entry__Output[] = [];
    if (f.str('entryID') !== '') {
      if (f.str('parentID') !== '' || f.str('spiffeID') !== '' || f.list('selector').length > 0) {
        throw new AdminError("the -entryID flag can't be combined with others (drop -parentID, -spiffeID and -selector)");
      }
      entries.push(await ctx.conn.call(ENTRY, 'GetEntry', { id: f.str('entryID') }, `error fetching entry ID ${f.str('entryID')}`));
    } else {
      const filter = entryFilter(ctx);
      let page_token = '';
      do {
        const resp = await ctx.conn.call(ENTRY, 'ListEntries', { page_size: PAGE_SIZE, page_token, filter }, 'error fetching entries');
        entries.push(...resp.entries);
        page_token = resp.next_page_token;
      } while (page_token !== '');
    }
    sortEntries(entries);
    ctx.io.stdout(ctx.output === 'json' ? protoJsonLine(ENTRY, `${PKG}.ListEntriesResponse`, { entries, next_page_token: '' }) : formatEntryList(entries));
    return 0;
  },
};

export const entryCount: AdminCommand = {
  name: 'entry count',
  synopsis: 'Count registration entries',
  flags: FILTER_FLAGS('count'),
  async run(ctx) {
    const resp = await ctx.conn.call(ENTRY, 'CountEntries', { filter: entryFilter(ctx) });
    const n = Number(resp.count);
    ctx.io.stdout(ctx.output === 'json' ? protoJsonLine(ENTRY, `${PKG}.CountEntriesResponse`, resp as unknown as Record<string, unknown>) : `${plural(`${n} registration `, 'entry', 'entries', n)}\n`);
    return 0;
  },
};

