/**
 * Pure printers for the admin commands' pretty output, in SPIRE's layouts:
 * the `Entry ID : ...` block, agent blocks, counts, batch failures and
 * Go's `%q` quoting and `time.Time` formatting.
 *
 * @module
 */

import type { apiTypes } from '@spire-ts/proto';
import { goCodeName, goTimeUTC as goTime } from '@spire-ts/common';

type Entry = apiTypes.Entry__Output;
type Agent = apiTypes.Agent__Output;
type SpiffeIdProto = apiTypes.SPIFFEID__Output;

/** `msg` + `singular` when `n` is 1, else `msg` + `plural` (SPIRE's Pluralizer). */
export function plural(msg: string, singular: string, pluralWord: string, n: number): string {
  return msg + (n === 1 ? singular : pluralWord);
}

/**
 * Go's `%q` of a string (strconv.Quote): printable characters as they are,
 * `\a \b \f \n \r \t \v \\ \"` escaped, other controls as `\x..` or `\u....`.
 *
 * @example
 * ```ts
 * goQuote('a "b"\n'); // '"a \\"b\\"\\n"'
 * ```
 */
export function goQuote(s: string): string {
  const named: Readonly<Record<string, string>> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '\\': '\\\\', '"': '\\"' };
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (named[ch]) out += named[ch];
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if ((cp >= 0x80 && cp < 0xa0) || cp === 0xad || cp === 0x2028 || cp === 0x2029 || cp === 0xfeff) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/**
 * A Unix time as Go's `time.Time` prints in UTC (`2026-11-23 07:15:41 +0000 UTC`).
 *
 * @example
 * ```ts
 * goTimeUTC(0); // '1970-01-01 00:00:00 +0000 UTC'
 * ```
 */
export function goTimeUTC(unixSeconds: number): string {
  return goTime(new Date(Math.floor(unixSeconds) * 1000));
}

/** `spiffe://<td><path>`, or empty for no ID. */
export function idString(id: SpiffeIdProto | null | undefined): string {
  return id ? `spiffe://${id.trust_domain}${id.path}` : '';
}

/**
 * One entry in SPIRE's block format, ending with a blank line.
 *
 * @example
 * ```ts
 * formatEntry(entry); // 'Entry ID                : 1f6d...\nSPIFFE ID               : spiffe://example.org/w\n...\n\n'
 * ```
 */
export function formatEntry(e: Partial<Entry>): string {
  const line = (label: string, value: string | number | boolean): string => `${label.padEnd(24)}: ${String(value)}\n`;
  let out = line('Entry ID', e.id ? e.id : '(none)');
  out += line('SPIFFE ID', idString(e.spiffe_id));
  out += line('Parent ID', idString(e.parent_id));
  out += line('Revision', Number(e.revision_number ?? 0));
  if (e.downstream) out += line('Downstream', true);
  out += line('X509-SVID TTL', e.x509_svid_ttl ? e.x509_svid_ttl : 'default');
  out += line('JWT-SVID TTL', e.jwt_svid_ttl ? e.jwt_svid_ttl : 'default');
  if (e.expires_at) out += line('Expiration time', goTimeUTC(Number(e.expires_at)));
  for (const s of e.selectors ?? []) out += line('Selector', `${s.type}:${s.value}`);
  for (const td of e.federates_with ?? []) out += line('FederatesWith', td);
  for (const dns of e.dns_names ?? []) out += line('DNS name', dns);
  if (e.admin) out += line('Admin', true);
  if (e.store_svid) out += line('StoreSvid', true);
  if (e.hint) out += line('Hint', e.hint);
  const attrs = e.additional_attributes;
  if (attrs?.disable_x509_svid_prefetch) out += line('DisableX509SvidPrefetch', true);
  if (attrs?.jwt_svid_include_jti) out += line('JwtSvidIncludeJti', true);
  return `${out}\n`;
}

function compareBytes(a: string, b: string): number {
  return a === b ? 0 : Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function compareSelectors(a: readonly apiTypes.Selector__Output[], b: readonly apiTypes.Selector__Output[]): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  for (let i = 0; i < a.length; i++) {
    const c = compareBytes(a[i]!.type, b[i]!.type) || compareBytes(a[i]!.value, b[i]!.value);
    if (c !== 0) return c;
  }
  return 0;
}

/**
 * Sorts entries (and each entry's selectors) in place as SPIRE's CLI does
 * before printing: by SPIFFE ID, parent ID, X509-SVID TTL, JWT-SVID TTL, then selectors.
 */
export function sortEntries(entries: apiTypes.Entry__Output[]): void {
  for (const e of entries) e.selectors.sort((a, b) => compareBytes(a.type, b.type) || compareBytes(a.value, b.value));
  entries.sort(
    (a, b) =>
      compareBytes(a.spiffe_id?.trust_domain ?? '', b.spiffe_id?.trust_domain ?? '') ||
      compareBytes(a.spiffe_id?.path ?? '', b.spiffe_id?.path ?? '') ||
      compareBytes(a.parent_id?.trust_domain ?? '', b.parent_id?.trust_domain ?? '') ||
      compareBytes(a.parent_id?.path ?? '', b.parent_id?.path ?? '') ||
      Math.sign(a.x509_svid_ttl - b.x509_svid_ttl) ||
      Math.sign(a.jwt_svid_ttl - b.jwt_svid_ttl) ||
      compareSelectors(a.selectors, b.selectors),
  );
}

/** `Found N entries` and the blocks (`entry show`). */
export function formatEntryList(entries: readonly Partial<Entry>[]): string {
  return `${plural(`Found ${entries.length} `, 'entry', 'entries', entries.length)}\n${entries.map(formatEntry).join('')}`;
}

/**
 * A batch item's failure header, e.g. `Failed to create the following entry (code: AlreadyExists, msg: "similar entry already exists"):`.
 */
export function formatEntryFailure(verb: 'create' | 'update', status: { readonly code: number; readonly message: string }, entry: Partial<Entry>): string {
  return `Failed to ${verb} the following entry (code: ${goCodeName(status.code)}, msg: ${goQuote(status.message)}):\n${formatEntry(entry)}`;
}

/** Agent blocks as `agent list` and `agent show` print them. */
export function formatAgent(a: Partial<Agent>, withSelectors = false): string {
  const line = (label: string, value: string | boolean): string => `${label.padEnd(18)}: ${String(value)}\n`;
  let out = line('SPIFFE ID', idString(a.id));
  out += line('Attestation type', a.attestation_type ?? '');
  out += line('Expiration time', goTimeUTC(Number(a.x509svid_expires_at ?? 0)));
  if (a.banned) out += line('Banned', true);
  else out += line('Serial number', a.x509svid_serial_number ?? '');
  out += line('Can re-attest', a.can_reattest ?? false);
  if (a.agent_version) out += line('Agent version', a.agent_version);
  out += '\n';
  if (withSelectors) for (const s of a.selectors ?? []) out += line('Selectors', `${s.type}:${s.value}`);
  return out;
}

/** `agent list`'s pretty output. */
export function formatAgentList(agents: readonly Partial<Agent>[]): string {
  if (agents.length === 0) return 'No attested agents found\n';
  return `${plural(`Found ${agents.length} attested `, 'agent', 'agents', agents.length)}:\n\n${agents.map((a) => formatAgent(a)).join('')}`;
}
