// The server side of azure_msi without transport: configuration checks,
// signature algorithms, claim validation with SPIRE's leeway, selectors,
// the agent path template and the OpenID key set's caching.
import { constants, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  AgentPathTemplate,
  OpenIdKeySet,
  buildAttestorConfig,
  validateClaims,
  verifyJws,
  type MsiClaims,
  type RawConfig,
} from '../src/index.js';

const T = '00000000-1111-2222-3333-444444444444';
const raw = (over: Partial<RawConfig> = {}): RawConfig => ({
  tenants: { [T]: { resource_id: '', subscription_id: '', app_id: '', app_secret: '' } },
  agent_path_template: '',
  openid_issuer_url: '',
  authority_host: '',
  resource_manager_url: '',
  imds_endpoint: '',
  ...over,
});

describe('configuration', () => {
  it('defaults: resource ID, issuer and template', () => {
    const c = buildAttestorConfig(raw(), 'example.org');
    expect(c.tenants.get(T)?.resourceId).toBe('https://management.azure.com/');
    expect(c.issuerUrl).toBe('https://login.microsoftonline.com/common/');
    expect([c.authorityHost, c.resourceManagerUrl, c.imdsEndpoint]).toEqual(['https://login.microsoftonline.com/', 'https://management.azure.com/', 'http://169.254.169.254/']);
    expect(c.tenants.get(T)?.credentials).toBeUndefined();
    const withApp = buildAttestorConfig(raw({ tenants: { [T]: { resource_id: '', subscription_id: 's', app_id: 'a', app_secret: 'x' } } }), 'td');
    expect(withApp.tenants.get(T)?.credentials).toEqual({ subscriptionId: 's', appId: 'a', appSecret: 'x' });
    expect(c.pathTemplate.execute({ PluginName: 'azure_msi', TenantID: T, PrincipalID: 'p', Subject: 'p', Issuer: 'i' })).toBe(`/azure_msi/${T}/p`);
  });
  it('refuses what SPIRE refuses, naming the key', () => {
    expect(() => buildAttestorConfig(raw({ tenants: {} }), 'td')).toThrow(/configuration must have at least one tenant/);
    const partial = raw({ tenants: { [T]: { resource_id: '', subscription_id: 's', app_id: 'a', app_secret: '' } } });
    expect(() => buildAttestorConfig(partial, 'td')).toThrow(/misconfigured tenant "0000.*": missing app secret/);
    expect(() => buildAttestorConfig(raw({ agent_path_template: '/{{ .Nope }}' }), 'td')).toThrow(/failed to parse agent path template.*unsupported action/);
    expect(() => buildAttestorConfig(raw({ openid_issuer_url: 'http://login.example.com/' }), 'td')).toThrow(/must be an https URL/);
    expect(() => buildAttestorConfig(raw({ tenants: { 'a/b': raw().tenants[T]! } }), 'td')).toThrow(/tenant ID "a\/b" is malformed/);
    expect(() => buildAttestorConfig(raw({ resource_manager_url: 'http://arm.example.com/' }), 'td')).toThrow(/resource_manager_url "http:\/\/arm\.example\.com\/" must be an https URL/);
    expect(() => buildAttestorConfig(raw({ authority_host: 'nope' }), 'td')).toThrow(/authority_host "nope" is not a URL/);
    expect(() => buildAttestorConfig(raw({ imds_endpoint: 'ftp://169.254.169.254/' }), 'td')).toThrow(/imds_endpoint .* must be an http\(s\) URL/);
  });
  it('allows http issuers on loopback only', () => {
    expect(buildAttestorConfig(raw({ openid_issuer_url: 'http://127.0.0.1:8080/common' }), 'td').issuerUrl).toBe('http://127.0.0.1:8080/common/');
  });
});

describe('signatures', () => {
  const input = 'aGVhZGVy.Y2xhaW1z';
  it('verifies PS256 and ES256, refuses cross-type keys and unknown algorithms', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pss = sign('sha256', Buffer.from(input), { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    const es = sign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
    expect(verifyJws('PS256', rsa.publicKey, input, pss)).toBe(true);
    expect(verifyJws('ES256', ec.publicKey, input, es)).toBe(true);
    expect(verifyJws('ES256', rsa.publicKey, input, es)).toBe(false);
    expect(verifyJws('RS256', ec.publicKey, input, pss)).toBe(false);
    expect(verifyJws('HS256', rsa.publicKey, input, pss)).toBe(false);
    expect(verifyJws('PS256', rsa.publicKey, `${input}x`, pss)).toBe(false);
  });
});

describe('claims', () => {
  const now = 1_700_000_000;
  const claims = (over: Partial<MsiClaims> = {}): MsiClaims => ({
    tid: T, sub: 'p', iss: 'i', aud: ['r'], exp: now + 60, nbf: now - 60, iat: now - 60, xms_mirid: undefined, ...over,
  });
  it('gives five minutes of leeway around exp and nbf', () => {
    expect(() => validateClaims(claims({ exp: now - 299 }), 'r', now)).not.toThrow();
    expect(() => validateClaims(claims({ exp: now - 301 }), 'r', now)).toThrow(/token is expired/);
    expect(() => validateClaims(claims({ nbf: now + 301 }), 'r', now)).toThrow(/not valid yet/);
    expect(() => validateClaims(claims({ aud: ['x', 'r'] }), 'r', now)).not.toThrow();
    expect(() => validateClaims(claims({ aud: [] }), 'r', now)).toThrow(/audience \[\] is not the resource ID "r"/);
  });
  it('templates with trimming', () => {
    expect(AgentPathTemplate.parse('/x/{{- .TenantID -}} /y').execute({ PluginName: 'a', TenantID: 't', PrincipalID: 'p', Subject: 's', Issuer: 'i' })).toBe('/x/t/y');
  });
});

describe('OpenID key set', () => {
  it('caches the keys and refreshes at most once a minute for an unknown key ID', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    // JWK-exported from a DER copy: Node 20 can deadlock JWK-exporting a generated KeyObject.
    const jwk = createPublicKey({ key: publicKey.export({ type: 'spki', format: 'der' }), format: 'der', type: 'spki' }).export({ format: 'jwk' });
    let hits = 0;
    const server = createServer((req, res) => {
      hits++;
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      if (req.url === '/t/.well-known/openid-configuration') res.end(JSON.stringify({ jwks_uri: `${base}/keys` }));
      else res.end(JSON.stringify({ keys: [{ ...jwk, kid: 'k1', use: 'sig' }, { kty: 'RSA', kid: 'broken' }] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    let clock = 1_000_000;
    const ks = new OpenIdKeySet(`http://127.0.0.1:${(server.address() as AddressInfo).port}/t/`, () => clock);
    try {
      expect(await ks.key('k1')).toBeDefined();
      expect(hits).toBe(2);
      expect(await ks.key('broken')).toBeUndefined();
      expect(hits).toBe(2);
      clock += 61_000;
      expect(await ks.key('nope')).toBeUndefined();
      expect(hits).toBe(4);
      expect(await ks.key('nope')).toBeUndefined();
      expect(hits).toBe(4);
      clock += 3_600_000;
      expect(await ks.key('k1')).toBeDefined();
      expect(hits).toBe(6);
    } finally {
      server.close();
    }
  });
});
