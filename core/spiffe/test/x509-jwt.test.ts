// X.509-SVID verification (certificates made with the openssl CLI), JWT-SVID
// validation (tokens signed with node:crypto), bundle parsing, bearer
// parsing and Workload API address handling.
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  JwtBundle,
  JwtBundleSet,
  JwtSvidError,
  X509Bundle,
  X509BundleSet,
  bearerToken,
  endpointFromEnv,
  parseX509Svid,
  splitDer,
  validateJwtSvid,
  verifyX509Svid,
  workloadApiTarget,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'spiffe-x509-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
let n = 0;
/** A certificate (and key file) signed by `issuer` (self-signed when absent). */
function cert(opts: { cn: string; ca?: boolean; uris?: string[]; issuer?: string }): { name: string; cert: X509Certificate; der: Buffer } {
  const name = `c${n++}`;
  const ext = [`basicConstraints=critical,CA:${opts.ca ? 'TRUE' : 'FALSE'}`, `keyUsage=critical,${opts.ca ? 'keyCertSign,cRLSign' : 'digitalSignature'}`];
  if (opts.uris?.length) ext.push(`subjectAltName=${opts.uris.map((u) => `URI:${u}`).join(',')}`);
  writeFileSync(join(dir, `${name}.ext`), `${ext.join('\n')}\n`);
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${opts.cn}`);
  const signer = opts.issuer ? ['-CA', `${opts.issuer}.pem`, '-CAkey', `${opts.issuer}.key`, '-CAcreateserial'] : ['-signkey', `${name}.key`];
  openssl('x509', '-req', '-in', `${name}.csr`, ...signer, '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`);
  const c = new X509Certificate(readFileSync(join(dir, `${name}.pem`)));
  return { name, cert: c, der: c.raw };
}

describe('X.509-SVID verification', () => {
  const ca = cert({ cn: 'example CA', ca: true, uris: ['spiffe://example.org'] });
  const inter = cert({ cn: 'example intermediate', ca: true, uris: ['spiffe://example.org'], issuer: ca.name });
  const leaf = cert({ cn: 'w', uris: ['spiffe://example.org/w'], issuer: ca.name });
  const viaInter = cert({ cn: 'w2', uris: ['spiffe://example.org/w2'], issuer: inter.name });
  const otherCa = cert({ cn: 'other CA', ca: true, uris: ['spiffe://other.org'] });
  const otherLeaf = cert({ cn: 'o', uris: ['spiffe://other.org/o'], issuer: otherCa.name });
  const forged = cert({ cn: 'forged', uris: ['spiffe://example.org/w'], issuer: otherCa.name });
  const twoUris = cert({ cn: 't', uris: ['spiffe://example.org/a', 'spiffe://example.org/b'], issuer: ca.name });
  const noUri = cert({ cn: 'n', issuer: ca.name });
  const badUri = cert({ cn: 'b', uris: ['spiffe://example.org/a/'], issuer: ca.name });
  const bundles = new X509BundleSet([X509Bundle.fromDer('example.org', ca.der), X509Bundle.fromPem('other.org', otherCa.cert.toString())]);

  it('accepts a leaf issued by its trust domain authority, directly or through an intermediate', () => {
    expect(verifyX509Svid([leaf.cert], bundles).toString()).toBe('spiffe://example.org/w');
    expect(verifyX509Svid([viaInter.cert, inter.cert], bundles).toString()).toBe('spiffe://example.org/w2');
    expect(verifyX509Svid([otherLeaf.cert], bundles).toString()).toBe('spiffe://other.org/o');
  });

  it('rejects a leaf chained to another trust domain, a missing intermediate, and bad SANs', () => {
    expect(() => verifyX509Svid([forged.cert], bundles)).toThrow('x509svid: could not verify "spiffe://example.org/w": certificate signed by unknown authority (not chained to the "example.org" bundle)');
    expect(() => verifyX509Svid([viaInter.cert], bundles)).toThrow('certificate signed by unknown authority');
    expect(() => verifyX509Svid([leaf.cert], new X509BundleSet([]))).toThrow('x509svid: no X.509 bundle for trust domain "example.org"');
    expect(() => verifyX509Svid([twoUris.cert], bundles)).toThrow('x509svid: certificate contains more than one URI SAN (2)');
    expect(() => verifyX509Svid([noUri.cert], bundles)).toThrow('x509svid: certificate contains no URI SAN');
    expect(() => verifyX509Svid([badUri.cert], bundles)).toThrow('is not a SPIFFE ID: path cannot have a trailing slash');
    expect(() => verifyX509Svid([inter.cert], bundles)).toThrow('is a CA');
    expect(() => verifyX509Svid([leaf.cert], bundles, new Date(Date.now() + 3 * 86_400_000))).toThrow('is not valid at');
  });

  it('splits concatenated DER and pairs the key with the leaf', () => {
    const chain = Buffer.concat([viaInter.der, inter.der]);
    expect(splitDer(chain).map((d) => Buffer.from(d).equals(viaInter.der) || Buffer.from(d).equals(inter.der))).toEqual([true, true]);
    expect(() => splitDer(chain.subarray(0, chain.length - 1))).toThrow('x509: truncated DER');
    expect(() => splitDer(Buffer.from([0x02, 0x01, 0x00]))).toThrow('expected a SEQUENCE');
    const pkcs8 = (name: string): Buffer => execFileSync('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', `${name}.key`, '-outform', 'DER'], { cwd: dir });
    const svid = parseX509Svid(chain, pkcs8(viaInter.name), 'internal');
    expect([svid.id.toString(), svid.certificates.length, svid.hint]).toEqual(['spiffe://example.org/w2', 2, 'internal']);
    expect(() => parseX509Svid(chain, pkcs8(leaf.name))).toThrow('x509svid: private key does not match the leaf certificate');
    expect(X509Bundle.fromDer('example.org', Buffer.concat([ca.der, inter.der])).authorities).toHaveLength(2);
  });
});

function jwtKey(kind: 'ec' | 'rsa', kid: string): { kid: string; privateKey: KeyObject; jwk: Record<string, unknown> } {
  const { privateKey, publicKey } = kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  // JWK-exported from a DER copy: Node 20 can deadlock JWK-exporting a generated KeyObject.
  const jwk = createPublicKey({ key: publicKey.export({ type: 'spki', format: 'der' }), format: 'der', type: 'spki' }).export({ format: 'jwk' });
  return { kid, privateKey, jwk: { ...jwk, kid, use: 'jwt-svid' } };
}

function token(key: { kid: string; privateKey: KeyObject }, claims: Record<string, unknown>, alg = 'ES256', header: Record<string, unknown> = {}): string {
  const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg, kid: key.kid, typ: 'JWT', ...header })}.${enc(claims)}`;
  const opts = alg.startsWith('ES') ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' as const } : alg.startsWith('PS') ? { key: key.privateKey, padding: 6, saltLength: 32 } : key.privateKey;
  return `${input}.${sign('sha256', Buffer.from(input), opts).toString('base64url')}`;
}

describe('JWT-SVID validation', () => {
  const ec = jwtKey('ec', 'ec-1');
  const rsa = jwtKey('rsa', 'rsa-1');
  const impostor = jwtKey('ec', 'ec-1');
  const x509Key = { ...jwtKey('ec', 'x'), jwk: { ...jwtKey('ec', 'x').jwk, use: 'x509-svid' } };
  const bundle = JwtBundle.fromJwks('example.org', JSON.stringify({ keys: [ec.jwk, rsa.jwk, x509Key.jwk] }));
  const set = new JwtBundleSet([bundle]);
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: 'spiffe://example.org/caller', aud: ['api'], exp: now + 300, iat: now };

  it('accepts ES256, RS256 and PS256 tokens for an accepted audience', () => {
    expect(bundle.authorities.size).toBe(2);
    const v = validateJwtSvid(token(ec, claims), set, { audience: 'api' });
    expect([v.id.toString(), v.audience, v.expiresAt.getTime()]).toEqual(['spiffe://example.org/caller', ['api'], (now + 300) * 1000]);
    expect(validateJwtSvid(token(rsa, { ...claims, aud: 'api' }, 'RS256'), set, { audience: ['x', 'api'] }).id.toString()).toBe('spiffe://example.org/caller');
    expect(validateJwtSvid(token(rsa, claims, 'PS256'), set, { audience: 'api' }).id.toString()).toBe('spiffe://example.org/caller');
  });

  const reject = (tok: string, reason: JwtSvidError['reason'], message: string, audience: string | string[] = 'api'): void => {
    let err: unknown;
    try {
      validateJwtSvid(tok, set, { audience });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(JwtSvidError);
    expect([(err as JwtSvidError).reason, (err as JwtSvidError).message]).toEqual([reason, `jwtsvid: ${message}`]);
  };

  it('rejects a wrong audience, expiry, unknown keys, forged signatures and bad subjects with the reason', () => {
    reject(token(ec, claims), 'audience', 'token audience ["api"] does not include "other"', 'other');
    reject(token(ec, claims), 'audience', 'token audience ["api"] does not include any of ["a","b"]', ['a', 'b']);
    reject(token(ec, { ...claims, exp: now - 10 }), 'expired', `token expired at ${new Date((now - 10) * 1000).toISOString()}`);
    reject(token(ec, { ...claims, nbf: now + 100 }), 'not-yet-valid', `token is not valid before ${new Date((now + 100) * 1000).toISOString()}`);
    reject(token({ ...ec, kid: 'nope' }, claims), 'unknown-key', 'no JWT authority "nope" in the bundle of "example.org"');
    reject(token(x509Key, claims), 'unknown-key', 'no JWT authority "x" in the bundle of "example.org"');
    reject(token(impostor, claims), 'bad-signature', 'token signature does not verify with authority "ec-1"');
    reject(token(ec, { ...claims, sub: 'spiffe://other.org/x' }), 'no-bundle', 'no JWT bundle for trust domain "other.org"');
    reject(token(ec, { ...claims, sub: 'spiffe://example.org/x/' }), 'subject', 'token "sub" claim "spiffe://example.org/x/" is not a SPIFFE ID: path cannot have a trailing slash');
    reject(token(ec, { ...claims, aud: [] }), 'audience', 'token has no "aud" claim');
    reject(token(ec, claims, 'none'), 'unsupported-algorithm', 'unsupported token signature algorithm "none"');
    reject(token(ec, claims, 'HS256'), 'unsupported-algorithm', 'unsupported token signature algorithm "HS256"');
    reject('a.b', 'malformed', 'token has 2 parts, expected 3 (header.payload.signature)');
    reject('!!.e30.x', 'malformed', 'token header is not a base64url JSON object');
    // A valid signature over a tampered payload does not verify.
    const [h, , s] = token(ec, claims).split('.');
    reject(`${h!}.${Buffer.from(JSON.stringify({ ...claims, sub: 'spiffe://example.org/admin' })).toString('base64url')}.${s!}`, 'bad-signature', 'token signature does not verify with authority "ec-1"');
  });

  it('rejects unusable JWKS documents', () => {
    expect(() => JwtBundle.fromJwks('example.org', '{')).toThrow('jwtbundle: bundle of "example.org" is not JSON');
    expect(() => JwtBundle.fromJwks('example.org', '{}')).toThrow('jwtbundle: bundle of "example.org" has no "keys" array');
    expect(() => JwtBundle.fromJwks('example.org', JSON.stringify({ keys: [{ kty: 'EC' }] }))).toThrow('jwtbundle: key 0 of "example.org" has no "kid"');
    expect(() => JwtBundle.fromJwks('example.org', JSON.stringify({ keys: [{ kty: 'EC', kid: 'k' }] }))).toThrow('jwtbundle: key "k" of "example.org" is not a usable public key');
  });

  it('reads bearer tokens', () => {
    expect(bearerToken({ authorization: 'Bearer abc.def.ghi' })).toBe('abc.def.ghi');
    expect(bearerToken(new Headers({ authorization: 'bearer abc.def-_.ghi' }))).toBe('abc.def-_.ghi');
    expect(() => bearerToken({})).toThrow('jwtsvid: request has no Authorization header');
    expect(() => bearerToken({ authorization: 'Basic dXNlcg==' })).toThrow('Authorization header is not "Bearer <token>"');
  });
});

describe('Workload API address', () => {
  it('turns unix and tcp URIs into grpc-js targets', () => {
    expect(workloadApiTarget('unix:///run/spire/agent.sock')).toBe('unix:///run/spire/agent.sock');
    expect(workloadApiTarget('unix:/run/spire/agent.sock')).toBe('unix:///run/spire/agent.sock');
    expect(workloadApiTarget('unix:agent.sock')).toBe(`unix://${resolve('agent.sock')}`);
    expect(workloadApiTarget('tcp://127.0.0.1:8081')).toBe('127.0.0.1:8081');
    expect(workloadApiTarget('tcp://[::1]:8081')).toBe('[::1]:8081');
  });
  it('says what is wrong with a bad address', () => {
    const bad = (a: string, why: string): void => expect(() => workloadApiTarget(a)).toThrow(`workload endpoint address ${JSON.stringify(a)} is invalid: ${why}`);
    bad('', 'it is empty');
    bad('/run/agent.sock', 'scheme must be "unix" or "tcp"');
    bad('http://127.0.0.1:1', 'scheme must be "unix" or "tcp"');
    bad('unix://host/agent.sock', 'unix socket URI must have an empty authority (use unix:///path), got "host"');
    bad('unix:///agent.sock?x=1', 'unix socket URI must not include a query or fragment');
    bad('unix://', 'unix socket URI must include a socket file path');
    bad('tcp://localhost:8081', 'tcp URI host must be an IP address, got "localhost"');
    bad('tcp://127.0.0.1', 'tcp URI must include a port');
    bad('tcp://127.0.0.1:1/path', 'tcp URI must not include a path');
    bad('tcp://u:p@127.0.0.1:1', 'tcp URI must not include user info');
  });
  it('reads SPIFFE_ENDPOINT_SOCKET', () => {
    expect(endpointFromEnv({ SPIFFE_ENDPOINT_SOCKET: 'unix:///x.sock' })).toBe('unix:///x.sock');
    expect(() => endpointFromEnv({})).toThrow('workload endpoint address not given and SPIFFE_ENDPOINT_SOCKET is not set');
  });
});
