/**
 * `spire-server bundle show|list|set|delete|count`, as SPIRE's.
 *
 * @module
 */

import { decodeSpiffeBundle, encodeSpiffeBundle, parseCertificate, parseTrustDomain, pemDecode, pemEncode } from '@spire-ts/common';
import type { CliFlag, Bundle as CommonBundle } from '@spire-ts/common';
import type { apiTypes } from '@spire-ts/proto';
import { AdminError } from './client.js';
import type { AdminCommand, AdminContext } from './command.js';
import { plural } from './print.js';
import { protoJsonLine } from './protojson.js';

const BUNDLE = 'spire.api.server.bundle.v1.Bundle';
const PKG = 'spire.api.server.bundle.v1';
type BundleProto = apiTypes.Bundle__Output;

function bundleFormat(value: string): 'pem' | 'spiffe' {
  const v = value === '' ? 'pem' : value.toLowerCase();
  if (v !== 'pem' && v !== 'spiffe') throw new AdminError(`invalid format: ${JSON.stringify(v)} (use -format pem or -format spiffe)`);
  return v;
}

function toCommon(b: BundleProto): CommonBundle {
  return {
    trustDomain: parseTrustDomain(b.trust_domain),
    x509Authorities: b.x509_authorities.map((a) => new Uint8Array(a.asn1)),
    jwtAuthorities: b.jwt_authorities.map((k) => ({ keyId: k.key_id, publicKeyDer: new Uint8Array(k.public_key), expiresAt: Number(k.expires_at) })),
    refreshHint: Math.max(0, Number(b.refresh_hint)),
    sequenceNumber: Math.max(0, Number(b.sequence_number)),
  };
}

/**
 * A bundle as `bundle show`/`list` print it: its X.509 authorities as PEM
 * or the SPIFFE bundle document, optionally under a trust domain header.
 *
 * @example
 * ```ts
 * formatBundle(bundle, 'pem', false); // '-----BEGIN CERTIFICATE-----\n...'
 * ```
 */
export function formatBundle(b: BundleProto, format: 'pem' | 'spiffe', header: boolean): string {
  let out = header ? `****************************************\n* ${b.trust_domain}\n****************************************\n` : '';
  if (format === 'pem') {
    for (const [i, a] of b.x509_authorities.entries()) {
      try {
        parseCertificate(new Uint8Array(a.asn1));
      } catch (err) {
        throw new AdminError(`unable to parse certificates ASN.1 DER data: X.509 authority ${i} of ${b.trust_domain}: ${(err as Error).message}`);
      }
      out += pemEncode('CERTIFICATE', new Uint8Array(a.asn1));
    }
    return out;
  }
  return `${out}${encodeSpiffeBundle(toCommon(b))}\n`;
}

const FORMAT_FLAG = (what: string): CliFlag => ({ name: 'format', kind: 'string', usage: `${what} Either "pem" or "spiffe".`, default: 'pem' });

export const bundleShow: AdminCommand = {
  name: 'bundle show',
  synopsis: 'Prints server CA bundle to stdout',
  flags: [FORMAT_FLAG('The format to show the bundle (only pretty output format supports this flag).')],
  async run(ctx) {
    const format = bundleFormat(ctx.flags.str('format'));
    const b = await ctx.conn.call(BUNDLE, 'GetBundle', {});
    ctx.io.stdout(ctx.output === 'json' ? protoJsonLine(BUNDLE, 'spire.api.types.Bundle', b as unknown as Record<string, unknown>) : formatBundle(b, format, false));
    return 0;
  },
};

export const bundleList: AdminCommand = {
  name: 'bundle list',
  synopsis: 'Lists federated bundle data',
  flags: [{ name: 'id', kind: 'string', usage: 'SPIFFE ID of the trust domain' }, FORMAT_FLAG('The format to list federated bundles (only pretty output format supports this flag).')],
  async run(ctx) {
    const format = bundleFormat(ctx.flags.str('format'));
    const id = ctx.flags.str('id');
    if (id !== '') {
      const b = await ctx.conn.call(BUNDLE, 'GetFederatedBundle', { trust_domain: id });
      ctx.io.stdout(ctx.output === 'json' ? protoJsonLine(BUNDLE, 'spire.api.types.Bundle', b as unknown as Record<string, unknown>) : formatBundle(b, format, false));
      return 0;
    }
    const bundles: BundleProto[] = [];
    let page_token = '';
    do {
      const resp = await ctx.conn.call(BUNDLE, 'ListFederatedBundles', { page_token });
      bundles.push(...resp.bundles);
      page_token = resp.next_page_token;
    } while (page_token !== '');
    ctx.io.stdout(
      ctx.output === 'json'
        ? protoJsonLine(BUNDLE, `${PKG}.ListFederatedBundlesResponse`, { bundles, next_page_token: '' })
        : bundles.map((b) => formatBundle(b, format, true)).join('\n'),
    );
    return 0;
  },
};

/** The bundle a `bundle set` input describes. */
export function parseBundleInput(data: string, format: 'pem' | 'spiffe', id: string): apiTypes.Bundle {
  if (format === 'pem') {
    let certs: Uint8Array[];
    try {
      certs = pemDecode(data, 'CERTIFICATE');
      for (const c of certs) parseCertificate(c);
    } catch (err) {
      throw new AdminError(`unable to parse bundle data: ${(err as Error).message}`);
    }
    if (certs.length === 0) throw new AdminError('unable to parse bundle data: no PEM CERTIFICATE blocks found (use -format spiffe for a SPIFFE bundle document)');
    return { trust_domain: id, x509_authorities: certs.map((asn1) => ({ asn1: Buffer.from(asn1) })) };
  }
  let b: CommonBundle;
  try {
    b = decodeSpiffeBundle(id, data);
  } catch (err) {
    throw new AdminError(`unable to parse to spiffe bundle: ${(err as Error).message}`);
  }
  return {
    trust_domain: b.trustDomain,
    x509_authorities: b.x509Authorities.map((asn1) => ({ asn1: Buffer.from(asn1) })),
    jwt_authorities: b.jwtAuthorities.map((k) => ({ public_key: Buffer.from(k.publicKeyDer), key_id: k.keyId, expires_at: k.expiresAt })),
    refresh_hint: b.refreshHint,
    sequence_number: b.sequenceNumber,
  };
}

function statusOf(r: { status: apiTypes.Status__Output | null }): apiTypes.Status__Output {
  return r.status ?? { code: 0, message: '' };
}

export const bundleSet: AdminCommand = {
  name: 'bundle set',
  synopsis: 'Creates or updates federated bundle data',
  flags: [
    { name: 'id', kind: 'string', usage: 'SPIFFE ID of the trust domain' },
    { name: 'path', kind: 'string', usage: 'Path to the bundle data' },
    FORMAT_FLAG('The format of the bundle data.'),
  ],
  async run(ctx: AdminContext) {
    const id = ctx.flags.str('id');
    if (id === '') throw new AdminError('id flag is required (set -id to the trust domain, e.g. spiffe://example.org)');
    const format = bundleFormat(ctx.flags.str('format'));
    const path = ctx.flags.str('path');
    let data: string;
    try {
      data = ctx.read(path === '' ? '-' : path);
    } catch (err) {
      throw new AdminError(`unable to load bundle data: ${(err as Error).message}`);
    }
    const bundle = parseBundleInput(data, format, id);
    const resp = await ctx.conn.call(BUNDLE, 'BatchSetFederatedBundle', { bundle: [bundle] }, 'failed to set federated bundle');
    if (ctx.output === 'json') {
      ctx.io.stdout(protoJsonLine(BUNDLE, `${PKG}.BatchSetFederatedBundleResponse`, resp as unknown as Record<string, unknown>));
      return 0;
    }
    const status = statusOf(resp.results[0] ?? { status: { code: 2, message: 'server returned no result' } });
    if (status.code !== 0) throw new AdminError(`failed to set federated bundle: ${status.message}`);
    ctx.io.stdout('bundle set.\n');
    return 0;
  },
};

const MODES: Readonly<Record<string, string>> = { '': 'RESTRICT', restrict: 'RESTRICT', dissociate: 'DISSOCIATE', delete: 'DELETE' };

export const bundleDelete: AdminCommand = {
  name: 'bundle delete',
  synopsis: 'Deletes federated bundle data',
  flags: [
    { name: 'id', kind: 'string', usage: 'SPIFFE ID of the trust domain' },
    { name: 'mode', kind: 'string', usage: 'Deletion mode: one of restrict, delete, or dissociate', default: 'restrict' },
  ],
  async run(ctx) {
    const id = ctx.flags.str('id');
    if (id === '') throw new AdminError('id is required (set -id to the trust domain, e.g. spiffe://example.org)');
    const mode = Object.hasOwn(MODES, ctx.flags.str('mode')) ? MODES[ctx.flags.str('mode')] : undefined;
    if (!mode) throw new AdminError(`unsupported mode ${JSON.stringify(ctx.flags.str('mode'))} (use restrict, delete or dissociate)`);
    const resp = await ctx.conn.call(BUNDLE, 'BatchDeleteFederatedBundle', { mode: mode as 'RESTRICT', trust_domains: [id] }, 'failed to delete federated bundle');
    if (ctx.output === 'json') {
      ctx.io.stdout(protoJsonLine(BUNDLE, `${PKG}.BatchDeleteFederatedBundleResponse`, resp as unknown as Record<string, unknown>));
      return 0;
    }
    const r = resp.results[0];
    const status = r ? statusOf(r) : { code: 2, message: 'server returned no result' };
    if (status.code !== 0) throw new AdminError(`failed to delete federated bundle ${JSON.stringify(r?.trust_domain ?? id)}: ${status.message}`);
    ctx.io.stdout('bundle deleted.\n');
    return 0;
  },
};

export const bundleCount: AdminCommand = {
  name: 'bundle count',
  synopsis: 'Count bundles',
  flags: [],
  async run(ctx) {
    const resp = await ctx.conn.call(BUNDLE, 'CountBundles', {});
    const n = Number(resp.count);
    ctx.io.stdout(ctx.output === 'json' ? protoJsonLine(BUNDLE, `${PKG}.CountBundlesResponse`, { count: n }) : `${plural(`${n} `, 'bundle', 'bundles', n)}\n`);
    return 0;
  },
};
