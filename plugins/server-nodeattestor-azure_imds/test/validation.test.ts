// The server side of azure_imds without transport: configuration checks,
// the embedded roots, the metadata domain rule, chain building (intermediate
// from the signature, from the CA Issuers URL on www.microsoft.com only) and
// the whole document check against a test chain.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTestChain, pkcs7SignWithCerts } from '../../../conformance/src/fixtures/azure_imds-pki.js';
import { AZURE_ROOTS, attestDocument, buildAttestorConfig, checkMetadataDomain, verifyChain, verifyPkcs7, type RawConfig } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'azure-imds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const D = 'example.onmicrosoft.com';
const raw = (over: Partial<RawConfig> = {}): RawConfig => ({
  tenants: { [D]: { restrict_to_subscriptions: [], allowed_vm_tags: [], secret_auth: undefined, token_auth: undefined, tenant_id: 'tid-1' } },
  agent_path_template: '',
  allowed_metadata_domains: [],
  trust_bundle_path: '',
  authority_host: '',
  resource_manager_url: '',
  imds_endpoint: '',
  ...over,
});

describe('configuration', () => {
  it('embeds the four Azure roots and SPIRE defaults', () => {
    const c = buildAttestorConfig(raw(), 'example.org');
    expect(c.roots).toHaveLength(AZURE_ROOTS.length);
    expect(AZURE_ROOTS.map((r) => new X509Certificate(r.pem).ca)).toEqual([true, true, true, true]);
    expect(c.metadataDomains).toEqual(['metadata.azure.com']);
    expect(c.authorityHost).toBe('https://login.microsoftonline.com/');
    expect([c.resourceManagerUrl, c.imdsEndpoint]).toEqual(['https://management.azure.com/', 'http://169.254.169.254/']);
    expect(c.tenants.get(D)?.auth).toBeUndefined();
  });
  it('refuses what SPIRE refuses, naming the key', () => {
    expect(() => buildAttestorConfig(raw({ tenants: {} }), 'td')).toThrow(/at least one tenant/);
    const t = raw().tenants[D]!;
    const both = { ...t, secret_auth: { app_id: 'a', app_secret: 's' }, token_auth: { app_id: 'a', token_path: '/t' } };
    expect(() => buildAttestorConfig(raw({ tenants: { [D]: both } }), 'td')).toThrow(/mutually exclusive/);
    expect(() => buildAttestorConfig(raw({ tenants: { [D]: { ...t, restrict_to_subscriptions: [' '] } } }), 'td')).toThrow(/entries must be non-empty/);
    expect(() => buildAttestorConfig(raw({ trust_bundle_path: join(dir, 'missing.pem') }), 'td')).toThrow(/unable to load trust bundle/);
    expect(() => buildAttestorConfig(raw({ tenants: { [D]: { ...t, secret_auth: { app_id: 'a', app_secret: '' } } } }), 'td')).toThrow(/secret_auth needs app_id and app_secret/);
    expect(() => buildAttestorConfig(raw({ resource_manager_url: 'http://arm.example/' }), 'td')).toThrow(/resource_manager_url "http:\/\/arm\.example\/" must be an https URL/);
  });
  it('refuses a trust bundle with a non-CA certificate', async () => {
    const chain = await makeTestChain();
    const path = join(dir, 'leaf.pem');
    writeFileSync(path, new X509Certificate(Buffer.from(chain.leafDer)).toString());
    expect(() => buildAttestorConfig(raw({ trust_bundle_path: path }), 'td')).toThrow(/contains a non-CA certificate/);
  });
});

describe('signature and chain', () => {
  it('verifies a test document end to end and refuses the embedded roots alone', async () => {
    const chain = await makeTestChain();
    const bundle = join(dir, 'root.pem');
    writeFileSync(bundle, chain.rootPem);
    const nonce = 'abcdefghijABCDEFGHIJ0123456789ab';
    const signature = pkcs7SignWithCerts(JSON.stringify({ nonce, vmId: '02aab8a4-74ef-476e-8182-f6d2ba4166a6', subscriptionId: 'sub-1' }), chain);
    const response = Buffer.from(JSON.stringify({ document: { encoding: 'pkcs7', signature }, metadata: { agentDomain: D } }));
    const deps = { fetchIntermediate: () => Promise.reject(new Error('no fetch expected')), tenantIdOf: () => Promise.reject(new Error('no lookup expected')) };
    const ok = await attestDocument(buildAttestorConfig(raw({ trust_bundle_path: bundle }), 'example.org'), deps, nonce, response);
    expect(ok).toMatchObject({ spiffeId: 'spiffe://example.org/spire/agent/azure_imds/tid-1/sub-1/02aab8a4-74ef-476e-8182-f6d2ba4166a6', vmId: '02aab8a4-74ef-476e-8182-f6d2ba4166a6', subscriptionId: 'sub-1', vmssName: undefined });
    expect(ok.tenant.domain).toBe(D);
    await expect(attestDocument(buildAttestorConfig(raw(), 'example.org'), deps, nonce, response)).rejects.toThrow(/no trusted issuer/);
  });
  it('fetches a missing intermediate from www.microsoft.com only', async () => {
    const chain = await makeTestChain();
    const leaf = new X509Certificate(Buffer.from(chain.leafDer));
    const root = new X509Certificate(chain.rootPem);
    // Without an intermediate and without a CA Issuers URL: refused before any fetch.
    await expect(verifyChain(leaf, { roots: [root], intermediates: [leaf], fetchIntermediate: () => Promise.reject(new Error('x')) })).rejects.toThrow(/no CA Issuers URL/);
    await expect(verifyChain(leaf, { roots: [root], intermediates: [new X509Certificate(Buffer.from(chain.intermediateDer))], fetchIntermediate: () => Promise.reject(new Error('x')) })).resolves.toBeUndefined();
  });
  it('follows the CA Issuers URL on www.microsoft.com, and no other host', async () => {
    const url = 'http://www.microsoft.com/pkiops/certs/Test%20Issuing%20CA.crt';
    const chain = await makeTestChain({ caIssuersUrl: url });
    const leaf = new X509Certificate(Buffer.from(chain.leafDer));
    const root = new X509Certificate(chain.rootPem);
    const intermediate = new X509Certificate(Buffer.from(chain.intermediateDer));
    const fetched: string[] = [];
    const fetchIntermediate = (u: string): Promise<X509Certificate> => (fetched.push(u), Promise.resolve(intermediate));
    await verifyChain(leaf, { roots: [root], intermediates: [leaf], fetchIntermediate });
    expect(fetched).toEqual([url]);
    const evil = await makeTestChain({ caIssuersUrl: 'http://evil.example/ca.crt' });
    await expect(verifyChain(new X509Certificate(Buffer.from(evil.leafDer)), { roots: [root], intermediates: [], fetchIntermediate })).rejects.toThrow(
      /CA Issuers URL host "evil.example" does not match expected value "www.microsoft.com"/,
    );
    // A fetched certificate that did not issue the signer is refused.
    const other = await makeTestChain({ caIssuersUrl: url });
    await expect(verifyChain(new X509Certificate(Buffer.from(other.leafDer)), { roots: [root], intermediates: [], fetchIntermediate })).rejects.toThrow(/was not issued by the intermediate/);
  });
  it('applies the metadata domain rule to DNS names', async () => {
    const chain = await makeTestChain({ dnsNames: ['eastus.metadata.azure.us'] });
    const leaf = new X509Certificate(Buffer.from(chain.leafDer));
    expect(() => checkMetadataDomain(leaf, ['metadata.azure.com'])).toThrow(/allowed domains=\["metadata.azure.com"\]/);
    expect(() => checkMetadataDomain(leaf, ['metadata.azure.us'])).not.toThrow();
    expect(() => checkMetadataDomain(leaf, ['azure.us.evil'])).toThrow();
  });
  it('refuses structurally bad signatures precisely', () => {
    expect(() => verifyPkcs7('')).toThrow(/empty/);
    expect(() => verifyPkcs7('@@@@')).toThrow(/not valid base64/);
    expect(() => verifyPkcs7(Buffer.from('0\x03\x02\x01\x01', 'latin1').toString('base64'))).toThrow(/malformed PKCS#7 signature/);
  });
});
