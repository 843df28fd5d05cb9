/**
 * `spire-server federation create|update|delete|list|show|refresh`, as
 * SPIRE's (cmd/spire-server/cli/federation): relationships from flags or a
 * `-data` JSON file (`{"federationRelationships": [...]}`), with an optional
 * trust domain bundle (PEM or SPIFFE format).
 *
 * @module
 */

import { goCodeName, parseSpiffeId } from '@spire-ts/common';
import type { CliFlag } from '@spire-ts/common';
import type { apiTypes } from '@spire-ts/proto';
import { parseBundleInput } from './bundle.js';
import { AdminError } from './client.js';
import type { AdminCommand, AdminContext } from './command.js';
import { goQuote, plural } from './print.js';
import { protoJsonLine } from './protojson.js';

const TRUST_DOMAIN = 'spire.api.server.trustdomain.v1.TrustDomain';
const PKG = 'spire.api.server.trustdomain.v1';
const HTTPS_WEB = 'https_web';
const HTTPS_SPIFFE = 'https_spiffe';

type Relationship = apiTypes.FederationRelationship;
type RelationshipOut = apiTypes.FederationRelationship__Output;

/** One relationship as flags or a `-data` item describe it (SPIRE's federationRelationshipConfig). */
interface RelationshipConfig {
  trustDomain: string;
  bundleEndpointURL: string;
  bundleEndpointProfile: string;
  endpointSPIFFEID: string;
  /** Raw JSON: a PEM string or a SPIFFE bundle object. */
  trustDomainBundle?: unknown;
  trustDomainBundleFormat: string;
  trustDomainBundlePath: string;
}

const CONFIG_FLAGS: readonly CliFlag[] = [
  { name: 'data', kind: 'string', usage: "Path to a file containing federation relationships in JSON format (optional). If set to '-', read the JSON from stdin." },
  { name: 'trustDomain', kind: 'string', usage: 'Name of the trust domain to federate with (e.g., example.org)' },
  { name: 'bundleEndpointURL', kind: 'string', usage: 'URL of the SPIFFE bundle endpoint that provides the trust bundle (must use the HTTPS protocol)' },
  { name: 'bundleEndpointProfile', kind: 'string', usage: `Endpoint profile type (either "${HTTPS_WEB}" or "${HTTPS_SPIFFE}")` },
  { name: 'endpointSpiffeID', kind: 'string', usage: "SPIFFE ID of the SPIFFE bundle endpoint server. Only used for 'spiffe' profile." },
  { name: 'trustDomainBundlePath', kind: 'string', usage: 'Path to the trust domain bundle data (optional).' },
  { name: 'trustDomainBundleFormat', kind: 'string', usage: 'The format of the bundle data (optional). Either "pem" or "spiffe".', default: 'pem' },
];

function bundleFormat(v: string): 'pem' | 'spiffe' {
  const f = v === '' ? 'pem' : v.toLowerCase();
  if (f !== 'pem' && f !== 'spiffe') throw new AdminError(`bundle format ${JSON.stringify(v)} is unsupported (use "pem" or "spiffe")`);
  return f;
}

/** The proto relationship a config describes (SPIRE's jsonToProto). */
function configToProto(ctx: AdminContext, c: RelationshipConfig): Relationship {
  if (c.trustDomain === '') throw new AdminError('trust domain is required');
  if (c.bundleEndpointURL === '') throw new AdminError('bundle endpoint URL is required');
  const out: Relationship = { trust_domain: c.trustDomain, bundle_endpoint_url: c.bundleEndpointURL };
  let bundleTd = c.trustDomain;
  if (c.bundleEndpointProfile === HTTPS_WEB) {
    out.https_web = {};
  } else if (c.bundleEndpointProfile === HTTPS_SPIFFE) {
    if (c.endpointSPIFFEID === '') throw new AdminError("endpoint SPIFFE ID is required if 'https_spiffe' endpoint profile is set");
    try {
      bundleTd = parseSpiffeId(c.endpointSPIFFEID).trustDomain;
    } catch (err) {
      throw new AdminError(`cannot parse bundle endpoint SPIFFE ID: ${(err as Error).message}`);
    }
    out.https_spiffe = { endpoint_spiffe_id: c.endpointSPIFFEID };
  } else {
    throw new AdminError(`unknown bundle endpoint profile type: ${JSON.stringify(c.bundleEndpointProfile)} (use "${HTTPS_WEB}" or "${HTTPS_SPIFFE}")`);
  }
  if (c.trustDomainBundlePath !== '') {
    const format = bundleFormat(c.trustDomainBundleFormat);
    let data: string;
    try {
      data = ctx.read(c.trustDomainBundlePath);
    } catch (err) {
      throw new AdminError(`cannot read bundle file: ${(err as Error).message}`);
    }
    try {
      out.trust_domain_bundle = parseBundleInput(data, format, bundleTd);
    } catch (err) {
      throw new AdminError(`cannot parse bundle file: ${(err as Error).message}`);
    }
  } else if (c.trustDomainBundle !== undefined && c.trustDomainBundle !== null) {
    const format = bundleFormat(c.trustDomainBundleFormat);
    let data: string;
    if (format === 'pem') {
      if (typeof c.trustDomainBundle !== 'string') throw new AdminError('cannot parse bundle raw message: a "pem" trustDomainBundle must be a JSON string');
      data = c.trustDomainBundle;
    } else {
      data = JSON.stringify(c.trustDomainBundle);
    }
    try {
      out.trust_domain_bundle = parseBundleInput(data, format, bundleTd);
    } catch (err) {
      throw new AdminError(`cannot parse bundle raw message: ${(err as Error).message}`);
    }
  }
  return out;
}

const str = (v: unknown, field: string, i: number): string => {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new AdminError(`could not parse item ${i}: "${field}" must be a string`);
  return v;
};

/** The relationships the flags or the `-data` file describe (SPIRE's getRelationships). */
function relationshipsOf(ctx: AdminContext): Relationship[] {
  const f = ctx.flags;
  const fromFlags: RelationshipConfig = {
    trustDomain: f.str('trustDomain'),
    bundleEndpointURL: f.str('bundleEndpointURL'),
    bundleEndpointProfile: f.str('bundleEndpointProfile'),
    endpointSPIFFEID: f.str('endpointSpiffeID'),
    trustDomainBundleFormat: f.str('trustDomainBundleFormat'),
    trustDomainBundlePath: f.str('trustDomainBundlePath'),
  };
  const path = f.str('data');
  if (path === '') return [configToProto(ctx, fromFlags)];
  const empty =
    fromFlags.trustDomain === '' && fromFlags.bundleEndpointURL === '' && fromFlags.bundleEndpointProfile === '' && fromFlags.endpointSPIFFEID === '' &&
    fromFlags.trustDomainBundlePath === '' && bundleFormat(fromFlags.trustDomainBundleFormat) === 'pem';
  if (!empty) throw new AdminError("cannot use other flags to specify relationship fields when 'data' flag is set");
  let text: string;
  try {
    text = ctx.read(path);
  } catch (err) {
    throw new AdminError(`could not read -data ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new AdminError(`failed to parse JSON: ${(err as Error).message}`);
  }
  const list = (doc as { federationRelationships?: unknown } | null)?.federationRelationships;
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new AdminError('failed to parse JSON: expected an object with "federationRelationships"');
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new AdminError('failed to parse JSON: "federationRelationships" must be a list');
  return list.map((raw: unknown, i) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new AdminError(`could not parse item ${i}: not a JSON object`);
    const r = raw as Record<string, unknown>;
    const config: RelationshipConfig = {
      trustDomain: str(r.trustDomain, 'trustDomain', i),
      bundleEndpointURL: str(r.bundleEndpointURL, 'bundleEndpointURL', i),
      bundleEndpointProfile: str(r.bundleEndpointProfile, 'bundleEndpointProfile', i),
      endpointSPIFFEID: str(r.endpointSPIFFEID, 'endpointSPIFFEID', i),
      trustDomainBundle: r.trustDomainBundle,
      trustDomainBundleFormat: str(r.trustDomainBundleFormat, 'trustDomainBundleFormat', i),
      trustDomainBundlePath: '',
    };
    try {
      return configToProto(ctx, config);
    } catch (err) {
      throw new AdminError(`could not parse item ${i}: ${(err as Error).message}`);
    }
  });
}

/** A relationship block as SPIRE prints it. */
export function formatRelationship(fr: Relationship | RelationshipOut): string {
  let out = `Trust domain              : ${fr.trust_domain ?? ''}\nBundle endpoint URL       : ${fr.bundle_endpoint_url ?? ''}\n`;
  if (fr.https_spiffe) {
    out += `Bundle endpoint profile   : ${HTTPS_SPIFFE}\nEndpoint SPIFFE ID        : ${fr.https_spiffe.endpoint_spiffe_id ?? ''}\n`;
  } else if (fr.https_web) {
    out += `Bundle endpoint profile   : ${HTTPS_WEB}\n`;
  }
  return out;
}

type BatchResult = { status: apiTypes.Status__Output | null; federation_relationship: RelationshipOut | null };

/** Prints a create/update batch like SPIRE: successes to stdout, failures (with what was sent) to stderr. */
function printBatch(ctx: AdminContext, verb: 'create' | 'update', sent: readonly Relationship[], results: readonly BatchResult[]): number {
  const failed: { status: apiTypes.Status__Output; fr: Relationship }[] = [];
  for (const [i, r] of results.entries()) {
    const status = r.status ?? { code: 2, message: 'server returned no status' };
    if (status.code === 0) ctx.io.stdout(`\n${formatRelationship(r.federation_relationship ?? sent[i] ?? {})}`);
    else failed.push({ status, fr: sent[i] ?? {} });
  }
  for (const { status, fr } of failed) {
    ctx.io.stderr(`\nFailed to ${verb} the following federation relationship (code: ${goCodeName(status.code)}, msg: ${goQuote(status.message)}):\n${formatRelationship(fr)}`);
  }
  if (failed.length > 0) throw new AdminError(`failed to ${verb} one or more federation relationships`);
  return 0;
}

export const federationCreate: AdminCommand = {
  name: 'federation create',
  synopsis: 'Creates a dynamic federation relationship with a foreign trust domain',
  flags: CONFIG_FLAGS,
  async run(ctx) {
    const sent = relationshipsOf(ctx);
    const resp = await ctx.conn.call(TRUST_DOMAIN, 'BatchCreateFederationRelationship', { federation_relationships: sent }, 'request failed');
    if (ctx.output === 'json') {
      ctx.io.stdout(protoJsonLine(TRUST_DOMAIN, `${PKG}.BatchCreateFederationRelationshipResponse`, resp as unknown as Record<string, unknown>));
      return 0;
    }
    return printBatch(ctx, 'create', sent, resp.results);
  },
};

export const federationUpdate: AdminCommand = {
  name: 'federation update',
  synopsis: 'Updates a dynamic federation relationship with a foreign trust domain',
  flags: CONFIG_FLAGS,
  async run(ctx) {
    const sent = relationshipsOf(ctx);
    const resp = await ctx.conn.call(TRUST_DOMAIN, 'BatchUpdateFederationRelationship', { federation_relationships: sent }, 'request failed');
    if (ctx.output === 'json') {
      ctx.io.stdout(protoJsonLine(TRUST_DOMAIN, `${PKG}.BatchUpdateFederationRelationshipResponse`, resp as unknown as Record<string, unknown>));
      return 0;
    }
    return printBatch(ctx, 'update', sent, resp.results);
  },
};

export const federationDelete: AdminCommand = {
  name: 'federation delete',
  synopsis: 'Deletes a dynamic federation relationship',
  flags: [{ name: 'id', kind: 'string', usage: 'SPIFFE ID of the trust domain' }],
  async run(ctx) {
    const id = ctx.flags.str('id');
    if (id === '') throw new AdminError('id is required (set -id to the trust domain, e.g. example.org)');
    const resp = await ctx.conn.call(TRUST_DOMAIN, 'BatchDeleteFederationRelationship', { trust_domains: [id] }, 'failed to delete federation relationship');
    if (ctx.output === 'json') {
      ctx.io.stdout(protoJsonLine(TRUST_DOMAIN, `${PKG}.BatchDeleteFederationRelationshipResponse`, resp as unknown as Record<string, unknown>));
      return 0;
    }
    const r = resp.results[0];
    if (!r) throw new AdminError('failed to delete federation relationship: server returned no result');
    const status = r.status ?? { code: 2, message: 'server returned no status' };
    if (status.code !== 0) throw new AdminError(`failed to delete federation relationship ${JSON.stringify(r.trust_domain)}: ${status.message}`);
    ctx.io.stdout('federation relationship deleted.\n');
    return 0;
  },
};

export const federationList: AdminCommand = {
  name: 'federation list',
  synopsis: 'Lists all dynamic federation relationships',
  flags: [],
  async run(ctx) {
    const resp = await ctx.conn.call(TRUST_DOMAIN, 'ListFederationRelationships', {}, 'error listing federation relationship');
    if (ctx.output === 'json') {
      ctx.io.stdout(protoJsonLine(TRUST_DOMAIN, `${PKG}.ListFederationRelationshipsResponse`, resp as unknown as Record<string, unknown>));
      return 0;
    }
    const n = resp.federation_relationships.length;
    let out = `${plural(`Found ${n} `, 'federation relationship', 'federation relationships', n)}\n`;
    for (const fr of resp.federation_relationships) out += `\n${formatRelationship(fr)}`;
    ctx.io.stdout(out);
    return 0;
  },
};

export const federationShow: AdminCommand = {
  name: 'federation show',
  synopsis: 'Shows a dynamic federation relationship',
  flags: [{ name: 'trustDomain', kind: 'string', usage: 'The trust domain name of the federation relationship to show' }],
  async run(ctx) {
    const td = ctx.flags.str('trustDomain');
    if (td === '') throw new AdminError('a trust domain name is required (set -trustDomain)');
    const fr = await ctx.conn.call(TRUST_DOMAIN, 'GetFederationRelationship', { trust_domain: td }, 'error showing federation relationship');
    if (ctx.output === 'json') {
      ctx.io.stdout(protoJsonLine(TRUST_DOMAIN, 'spire.api.types.FederationRelationship', fr as unknown as Record<string, unknown>));
      return 0;
    }
    ctx.io.stdout(`Found a federation relationship with trust domain ${td}:\n\n${formatRelationship(fr)}`);
    return 0;
  },
};

export const federationRefresh: AdminCommand = {
  name: 'federation refresh',
  synopsis: 'Refreshes the bundle from the specified federated trust domain',
  flags: [{ name: 'id', kind: 'string', usage: 'SPIFFE ID of the trust domain' }],
  async run(ctx) {
    const id = ctx.flags.str('id');
    if (id === '') throw new AdminError('id is required (set -id to the trust domain, e.g. example.org)');
    try {
      await ctx.conn.call(TRUST_DOMAIN, 'RefreshBundle', { trust_domain: id });
    } catch (err) {
      const msg = (err as Error).message;
      if (msg.includes('code = NotFound')) throw new AdminError(`there is no federation relationship with trust domain ${JSON.stringify(id)}`);
      throw new AdminError(`failed to refresh bundle: ${msg}`);
    }
    ctx.io.stdout(ctx.output === 'json' ? protoJsonLine(TRUST_DOMAIN, 'spire.api.types.Status', { code: 0, message: 'OK' }) : 'Bundle refreshed\n');
    return 0;
  },
};
