/**
 * `spire-server x509 mint`, `jwt mint` and `healthcheck`, as SPIRE's.
 * `x509 mint` makes its P-256 key and CSR here, so the key never leaves
 * the machine.
 *
 * @module
 */

import { generateKeyPairSync, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { DER, HEALTHCHECK_FLAGS, decodeJwtUnverified, pemEncode } from '@spire-ts/common';
import { AdminError } from './client.js';
import type { AdminCommand } from './command.js';
import { idProto } from './entry-filter.js';
import { protoJsonLine } from './protojson.js';

const EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const SUBJECT_ALT_NAME = '2.5.29.17';
const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

/**
 * A PKCS#10 CSR signed by `key` (ECDSA P-256), with an empty subject and
 * the URI and DNS names in a subjectAltName extension request.
 *
 * @example
 * ```ts
 * const der = buildCsr(privateKey, publicKey, 'spiffe://example.org/w', ['w.example.org']);
 * ```
 */
export function buildCsr(privateKey: KeyObject, publicKey: KeyObject, uri: string, dnsNames: readonly string[]): Uint8Array {
  const enc = new TextEncoder();
  const names = DER.sequence(DER.tlv(0x86, enc.encode(uri)), ...dnsNames.map((d) => DER.tlv(0x82, enc.encode(d))));
  const ext = DER.sequence(DER.oid(SUBJECT_ALT_NAME), DER.octetString(names));
  const attrs = DER.tlv(0xa0, DER.sequence(DER.oid(EXTENSION_REQUEST), DER.set(DER.sequence(ext))));
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  const info = DER.sequence(DER.integer(0), DER.sequence(), spki, attrs);
  const sig = new Uint8Array(sign('sha256', info, privateKey));
  return DER.sequence(info, DER.sequence(DER.oid(ECDSA_WITH_SHA256)), DER.bitString(sig));
}

/** A Go duration (ms) as whole seconds rounded up, checked to fit an int32. */
function ttlSeconds(ms: number): number {
  const s = Math.ceil(ms / 1000);
  if (s > 2 ** 31 - 1 || s < -(2 ** 31)) throw new AdminError(`invalid value for TTL: ${s}s is out of range`);
  return s;
}

/**
 * Whether an SVID expiring at `expiresAt` (Unix seconds) lives shorter than
 * the `ttlMs` asked for. Expiry times are whole seconds, so up to a second
 * short is not capping.
 */
function cappedBelow(expiresAt: number, ttlMs: number, nowMs: number): boolean {
  return expiresAt * 1000 - nowMs < ttlMs - 1000;
}

function rfc3339(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export const x509Mint: AdminCommand = {
  name: 'x509 mint',
  synopsis: 'Mints a X509-SVID',
  flags: [
    { name: 'spiffeID', kind: 'string', usage: 'SPIFFE ID of the X509-SVID' },
    { name: 'ttl', kind: 'duration', usage: 'TTL of the X509-SVID' },
    { name: 'dns', kind: 'strings', usage: 'DNS name that will be included in SVID. Can be used more than once.' },
    { name: 'write', kind: 'string', usage: 'Directory to write output to instead of stdout' },
  ],
  async run(ctx) {
    const f = ctx.flags;
    if (f.str('spiffeID') === '') throw new AdminError('spiffeID must be specified (set -spiffeID)');
    const id = idProto(f.str('spiffeID'), 'SPIFFE ID');
    const ttlMs = f.int('ttl');
    const ttl = ttlSeconds(ttlMs);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const csr = buildCsr(privateKey, publicKey, `spiffe://${id.trust_domain}${id.path}`, f.list('dns'));
    const resp = await ctx.conn.call('spire.api.server.svid.v1.SVID', 'MintX509SVID', { csr: Buffer.from(csr), ttl }, 'unable to mint SVID');
    const chain = resp.svid?.cert_chain ?? [];
    if (chain.length === 0) throw new AdminError('server response missing SVID chain');
    const ca = await ctx.conn.call('spire.api.server.bundle.v1.Bundle', 'GetBundle', {}, 'unable to get bundle');
    if (ca.x509_authorities.length === 0) throw new AdminError('server response missing X509 Authorities');
    const expiresAt = Number(resp.svid!.expires_at);
    if (cappedBelow(expiresAt, ttlMs, ctx.now())) ctx.io.stderr(`X509-SVID lifetime was capped shorter than specified ttl; expires "${rfc3339(expiresAt)}"\n`);
    const keyDer = new Uint8Array(privateKey.export({ type: 'pkcs8', format: 'der' }));
    const roots = ca.x509_authorities.map((a) => new Uint8Array(a.asn1));
    const svidPem = chain.map((c) => pemEncode('CERTIFICATE', new Uint8Array(c))).join('');
    const keyPem = pemEncode('PRIVATE KEY', keyDer);
    const bundlePem = roots.map((r) => pemEncode('CERTIFICATE', r)).join('');
    const dir = f.str('write');
    if (dir === '') {
      if (ctx.output === 'json') {
        const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
        // A struct in SPIRE, so its fields keep their declared order.
        ctx.io.stdout(`${JSON.stringify({ x509_svid: chain.map((c) => b64(new Uint8Array(c))), private_key: b64(keyDer), root_cas: roots.map(b64) })}\n`);
      } else {
        ctx.io.stdout(`X509-SVID:\n${svidPem}\nPrivate key:\n${keyPem}\nRoot CAs:\n${bundlePem}\n`);
      }
      return 0;
    }
    const files: [string, string, number, string][] = [
      ['svid.pem', svidPem, 0o644, 'X509-SVID'],
      ['key.pem', keyPem, 0o600, 'Private key'],
      ['bundle.pem', bundlePem, 0o644, 'Root CAs'],
    ];
    for (const [name, data, mode, what] of files) {
      const path = join(dir, name);
      try {
        ctx.write(path, data, mode);
      } catch (err) {
        throw new AdminError(`unable to write ${what === 'X509-SVID' ? 'SVID' : what === 'Private key' ? 'key' : 'bundle'}: ${(err as Error).message}`);
      }
      ctx.io.stdout(`${what} written to ${path}\n`);
    }
    return 0;
  },
};

export const jwtMint: AdminCommand = {
  name: 'jwt mint',
  synopsis: 'Mints a JWT-SVID',
  flags: [
    { name: 'spiffeID', kind: 'string', usage: 'SPIFFE ID of the JWT-SVID' },
    { name: 'ttl', kind: 'duration', usage: 'TTL of the JWT-SVID' },
    { name: 'audience', kind: 'strings', usage: 'Audience claim that will be included in the SVID. Can be used more than once.' },
    { name: 'write', kind: 'string', usage: 'File to write token to instead of stdout' },
  ],
  async run(ctx) {
    const f = ctx.flags;
    if (f.str('spiffeID') === '') throw new AdminError('spiffeID must be specified (set -spiffeID)');
    if (f.list('audience').length === 0) throw new AdminError('at least one audience must be specified (set -audience)');
    const id = idProto(f.str('spiffeID'), 'SPIFFE ID');
    const ttlMs = f.int('ttl');
    const resp = await ctx.conn.call('spire.api.server.svid.v1.SVID', 'MintJWTSVID', { id, ttl: ttlSeconds(ttlMs), audience: [...f.list('audience')] }, 'unable to mint SVID');
    const token = resp.svid?.token ?? '';
    if (token === '') throw new AdminError('server response missing token');
    try {
      const exp = decodeJwtUnverified(token).claims.exp;
      if (typeof exp !== 'number') throw new Error('no expiry claim');
      if (cappedBelow(exp, ttlMs, ctx.now())) ctx.io.stderr(`JWT-SVID lifetime was capped shorter than specified ttl; expires "${rfc3339(exp)}"\n`);
    } catch (err) {
      ctx.io.stderr(`Unable to determine JWT-SVID lifetime: ${(err as Error).message}\n`);
    }
    const path = f.str('write');
    if (path === '') {
      ctx.io.stdout(ctx.output === 'json' ? protoJsonLine('spire.api.server.svid.v1.SVID', 'spire.api.server.svid.v1.MintJWTSVIDResponse', resp as unknown as Record<string, unknown>) : `${token}\n`);
      return 0;
    }
    try {
      ctx.write(path, token, 0o600);
    } catch (err) {
      throw new AdminError(`unable to write token: ${(err as Error).message}`);
    }
    ctx.io.stdout(`JWT-SVID written to ${path}\n`);
    return 0;
  },
};

export const healthcheck: AdminCommand = {
  name: 'healthcheck',
  synopsis: 'Determines server health status',
  noOutputFlag: true,
  flags: HEALTHCHECK_FLAGS,
  async run(ctx) {
    const verbose = ctx.flags.bool('verbose');
    if (verbose) ctx.io.stdout('Checking server health...\n');
    let status: string;
    try {
      const resp = await ctx.conn.call('grpc.health.v1.Health', 'Check', { service: '' });
      status = String(resp.status);
    } catch (err) {
      if (verbose) ctx.io.stderr(`Failed to check health: ${err instanceof Error ? err.message : String(err)}\n`);
      throw new AdminError('server is unhealthy: unable to determine health');
    }
    if (status !== 'SERVING') throw new AdminError(`server is unhealthy: server returned status ${JSON.stringify(status)}`);
    ctx.io.stdout('Server is healthy.\n');
    return 0;
  },
};

