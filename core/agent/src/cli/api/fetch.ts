/**
 * `spire-agent api fetch x509`, `api fetch jwt` and `api validate jwt`, as
 * SPIRE's: one Workload API call each (with the security header and the
 * `-timeout` deadline), SPIRE's pretty output, or protojson with `-output json`.
 *
 * @module
 */

import { performance } from 'node:perf_hooks';
import { goJson } from '@spire-ts/common';
import type { workload } from '@spire-ts/proto';
import { ApiCliError } from './client.js';
import type { ApiCommand } from './command.js';
import { b64, structToJson } from './json.js';
import { formatX509Svids, parseX509Response, verifyX509Svids, writeX509Svids, x509ResponseJson } from './x509.js';

export const fetchX509: ApiCommand = {
  name: 'fetch x509',
  synopsis: 'Fetches X509 SVIDs from the Workload API',
  timeout: true,
  output: true,
  flags: [
    { name: 'silent', kind: 'bool', usage: 'Suppress stdout' },
    { name: 'write', kind: 'string', usage: 'Write SVID data to the specified path (optional; only available for pretty output format)' },
  ],
  async run(ctx) {
    const start = performance.now();
    const resp = await ctx.conn().first<workload.X509SVIDResponse__Output>((c, md, opts) => c.FetchX509SVID({}, md, opts));
    const elapsed = performance.now() - start;
    if (ctx.output === 'json') {
      ctx.io.stdout(x509ResponseJson(resp));
      return 0;
    }
    const svids = parseX509Response(resp);
    verifyX509Svids(svids, new Date(ctx.now()));
    if (!ctx.flags.bool('silent')) ctx.io.stdout(formatX509Svids(svids, elapsed));
    const dir = ctx.flags.str('write');
    if (dir !== '') writeX509Svids(svids, dir, ctx.write, ctx.io.stdout);
    return 0;
  },
};

function sortedEntries<V>(o: Readonly<Record<string, V>>): [string, V][] {
  return Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export const fetchJwt: ApiCommand = {
  name: 'fetch jwt',
  synopsis: 'Fetches a JWT SVID from the Workload API',
  timeout: true,
  output: true,
  flags: [
    { name: 'audience', kind: 'commaList', usage: 'comma separated list of audience values' },
    { name: 'spiffeID', kind: 'string', usage: 'SPIFFE ID subject (optional)' },
    { name: 'format', kind: 'string', usage: 'deprecated; use -output', aliasOf: 'output' },
  ],
  async run(ctx) {
    const audience = ctx.flags.list('audience');
    if (audience.length === 0) throw new ApiCliError('audience must be specified');
    const conn = ctx.conn();
    const bundles = await conn.first<workload.JWTBundlesResponse__Output>((c, md, opts) => c.FetchJWTBundles({}, md, opts));
    const svids = await conn.unary<workload.JWTSVIDResponse__Output>((c, md, opts, cb) =>
      c.FetchJWTSVID({ audience: [...audience], spiffe_id: ctx.flags.str('spiffeID') }, md, opts, cb),
    );
    if (ctx.output === 'json') {
      const svidJson = { svids: svids.svids.map((s) => ({ spiffe_id: s.spiffe_id, svid: s.svid, hint: s.hint })) };
      const bundlesJson = { bundles: Object.fromEntries(Object.entries(bundles.bundles).map(([k, v]) => [k, b64(v)])) };
      ctx.io.stdout(`${goJson([svidJson, bundlesJson])}\n`);
      return 0;
    }
    let out = '';
    for (const s of svids.svids) {
      out += `token(${s.spiffe_id}):\n\t${s.svid}\n`;
      if (s.hint !== '') out += `hint(${s.spiffe_id}):\n\t${s.hint}\n`;
    }
    for (const [td, jwks] of sortedEntries(bundles.bundles)) out += `bundle(${td}):\n\t${Buffer.from(jwks).toString('utf8')}\n`;
    ctx.io.stdout(out);
    return 0;
  },
};

export const validateJwt: ApiCommand = {
  name: 'validate jwt',
  synopsis: 'Validates a JWT SVID',
  timeout: true,
  output: true,
  flags: [
    { name: 'audience', kind: 'string', usage: 'expected audience value' },
    { name: 'svid', kind: 'string', usage: 'JWT SVID' },
  ],
  async run(ctx) {
    const audience = ctx.flags.str('audience');
    const svid = ctx.flags.str('svid');
    if (audience === '') throw new ApiCliError('audience must be specified');
    if (svid === '') throw new ApiCliError('svid must be specified');
    let resp: workload.ValidateJWTSVIDResponse__Output;
    try {
      resp = await ctx.conn().unary<workload.ValidateJWTSVIDResponse__Output>((c, md, opts, cb) => c.ValidateJWTSVID({ audience, svid }, md, opts, cb));
    } catch (err) {
      if (err instanceof ApiCliError && err.rpc?.code === 3) throw new ApiCliError(`SVID is not valid: ${err.rpc.details}`);
      throw new ApiCliError(`unable to validate JWT SVID: ${(err as Error).message}`);
    }
    if (ctx.output === 'json') {
      const body: Record<string, unknown> = { spiffe_id: resp.spiffe_id };
      if (resp.claims) body.claims = structToJson(resp.claims);
      ctx.io.stdout(`${goJson(body)}\n`);
      return 0;
    }
    // protojson of the claims: sorted keys, no HTML escaping.
    const claims = goJson(structToJson(resp.claims), false);
    ctx.io.stdout(`SVID is valid.\nSPIFFE ID : ${resp.spiffe_id}\nClaims    : ${claims}\n`);
    return 0;
  },
};
