/**
 * Selector, SPIFFE ID and filter parsing shared by the `entry` and `agent`
 * commands.
 *
 * @module
 */

import { SpiffeIdError, parseSpiffeId } from '@spire-ts/common';
import type { apiTypes } from '@spire-ts/proto';
import { AdminError } from './client.js';
import type { AdminContext } from './command.js';
import type { CliFlag } from '@spire-ts/common';

const MATCHES = ['exact', 'any', 'superset', 'subset'] as const;

/**
 * `type:value` as a selector (the value may hold more colons).
 *
 * @example
 * ```ts
 * parseSelector('unix:uid:1000'); // { type: 'unix', value: 'uid:1000' }
 * ```
 */
export function parseSelector(text: string): apiTypes.Selector {
  const i = text.indexOf(':');
  if (i < 0) throw new AdminError(`selector "${text}" must be formatted as type:value (e.g. unix:uid:1000)`);
  return { type: text.slice(0, i), value: text.slice(i + 1) };
}

/**
 * What is wrong with a SPIFFE ID, without the `invalid SPIFFE ID "<input>"`
 * the parser's message starts with, for a message that names the value itself.
 */
export function spiffeIdProblem(err: unknown): string {
  return err instanceof SpiffeIdError ? err.detail : (err as Error).message;
}

/** A SPIFFE ID flag as the API's `{trust_domain, path}`; `what` names it in the error (`invalid parent ID "x": ...`). */
export function idProto(text: string, what: string): { trust_domain: string; path: string } {
  try {
    const id = parseSpiffeId(text);
    return { trust_domain: id.trustDomain, path: id.path };
  } catch (err) {
    throw new AdminError(`invalid ${what} ${JSON.stringify(text)}: ${spiffeIdProblem(err)}`);
  }
}

/** `-matchSelectorsOn`/`-matchFederatesWithOn` as the API enum name. */
export function matchBehavior(value: string, flag: string): string {
  if (!(MATCHES as readonly string[]).includes(value)) {
    throw new AdminError(`match behavior ${JSON.stringify(value)} unknown (set -${flag} to one of ${MATCHES.join(', ')})`);
  }
  return `MATCH_${value.toUpperCase()}`;
}

/** The filter flags of `entry show` and `entry count`. */
export function FILTER_FLAGS(verb: 'show' | 'count'): CliFlag[] {
  return [
    { name: 'parentID', kind: 'string', usage: `The Parent ID of the records to ${verb}` },
    { name: 'spiffeID', kind: 'string', usage: `The SPIFFE ID of the records to ${verb}` },
    { name: 'downstream', kind: 'bool', usage: 'A boolean value that, when set, indicates that the entry describes a downstream SPIRE server' },
    { name: 'selector', kind: 'strings', usage: 'A colon-delimited type:value selector. Can be used more than once' },
    { name: 'federatesWith', kind: 'strings', usage: 'SPIFFE ID of a trust domain an entry is federate with. Can be used more than once' },
    { name: 'matchFederatesWithOn', kind: 'string', usage: 'The match mode used when filtering by federates with. Options: exact, any, superset and subset', default: 'superset' },
    { name: 'matchSelectorsOn', kind: 'string', usage: 'The match mode used when filtering by selectors. Options: exact, any, superset and subset', default: 'superset' },
    { name: 'hint', kind: 'string', usage: `The Hint of the records to ${verb} (optional)` },
  ];
}

/**
 * The ListEntries/CountEntries filter the flags describe. `by_downstream`
 * is sent only when `-downstream` is given (SPIRE always sends it, which
 * hides downstream entries unless asked for).
 */
export function entryFilter(ctx: AdminContext): Record<string, unknown> {
  const f = ctx.flags;
  const filter: Record<string, unknown> = {};
  if (f.str('parentID') !== '') filter.by_parent_id = idProto(f.str('parentID'), 'parent ID');
  if (f.str('spiffeID') !== '') filter.by_spiffe_id = idProto(f.str('spiffeID'), 'SPIFFE ID');
  if (f.list('selector').length > 0) {
    const match = matchBehavior(f.str('matchSelectorsOn'), 'matchSelectorsOn');
    filter.by_selectors = { selectors: f.list('selector').map((s) => parseSelector(s)), match };
  }
  if (f.list('federatesWith').length > 0) {
    const match = matchBehavior(f.str('matchFederatesWithOn'), 'matchFederatesWithOn');
    filter.by_federates_with = { trust_domains: [...f.list('federatesWith')], match };
  }
  if (f.str('hint') !== '') filter.by_hint = { value: f.str('hint') };
  if (f.given.has('downstream')) filter.by_downstream = { value: f.bool('downstream') };
  return filter;
}
