// azure_msi's Resource Manager selectors end to end in-process: a token
// minted by the fake IMDS and verified under the fake issuer's keys, then
// the VM of its principal resolved against the fake Resource Manager with
// the tenant's app registration (or the server VM's managed identity).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeArm, type ArmVm } from '../../../conformance/src/fixtures/azure-arm-fakes.js';
import { FakeAzure } from '../../../conformance/src/fixtures/azure_msi-fakes.js';
import { AzureMsiServerAttestor, buildAttestorConfig, type RawConfig } from '../src/index.js';

const T = '00000000-1111-2222-3333-444444444444';
const SUB = 'd5b40d61-272e-48da-beb9-05f295c42bd6';
const OTHER_SUB = 'a1b2c3d4-5678-4012-8456-789012345678';
const P1 = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const P2 = '2b2b2b2b-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const P_LONE = '3c3c3c3c-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const P_ELSEWHERE = '4d4d4d4d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const P_TWICE = '5e5e5e5e-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const APP = { clientId: '3f9e2c71-5b8a-4d06-9e1f-7a2b4c6d8e0f', secret: 'right-secret' };
const MI = { tenantId: T, clientId: '7a7a7a7a-0000-4000-8000-000000000001' };

const vm = (name: string, principalId: string, over: Partial<ArmVm> = {}): ArmVm => ({
  subscriptionId: SUB,
  resourceGroup: 'frontend',
  name,
  vmId: '6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0',
  location: 'westeurope',
  principalId,
  nics: [
    { resourceGroup: 'frontend', name: `${name}-nic0`, nsg: { resourceGroup: 'network', name: 'frontend-nsg' }, subnets: [{ resourceGroup: 'network', vnet: 'core-vnet', name: 'web' }] },
    { resourceGroup: 'frontend', name: `${name}-nic1`, subnets: [{ resourceGroup: 'network', vnet: 'core-vnet', name: 'backend' }, { resourceGroup: 'network', vnet: 'core-vnet', name: 'web' }] },
  ],
  ...over,
});

let azure: FakeAzure;
let arm: FakeArm;

beforeAll(async () => {
  azure = await FakeAzure.start({ tenantId: T, principalId: P1, subscriptionId: SUB, resourceGroup: 'frontend', vmName: 'blog' });
  arm = await FakeArm.start({
    apps: [{ tenantId: T, clientId: APP.clientId, secret: APP.secret, subscriptions: [SUB] }],
    vms: [
      vm('blog', P1),
      vm('shop', P2, { resourceGroup: 'Shop-RG' }),
      vm('lone', P_LONE, { nics: [{ resourceGroup: 'frontend', name: 'lone-nic', subnets: [{ resourceGroup: 'network', vnet: 'edge', name: 'dmz' }] }] }),
      vm('elsewhere', P_ELSEWHERE, { subscriptionId: OTHER_SUB }),
      vm('twin-a', P_TWICE),
      vm('twin-b', P_TWICE, { resourceGroup: 'backend' }),
    ],
    serverVm: { subscriptionId: SUB, resourceGroup: 'spire', name: 'spire-server', identity: MI },
  });
});
afterAll(async () => {
  await Promise.all([azure?.close(), arm?.close()]);
});

function raw(tenant: Partial<RawConfig['tenants'][string]> = {}, over: Partial<RawConfig> = {}): RawConfig {
  return {
    tenants: { [T]: { resource_id: '', subscription_id: SUB, app_id: APP.clientId, app_secret: APP.secret, ...tenant } },
    agent_path_template: '',
    openid_issuer_url: azure.issuerUrl,
    authority_host: arm.url,
    resource_manager_url: arm.url,
    imds_endpoint: arm.url,
    ...over,
  };
}

function attestor(config: RawConfig, env: Record<string, string> = {}): AzureMsiServerAttestor {
  const a = new AzureMsiServerAttestor({ attested: () => Promise.resolve(false), env, azureTimeoutMs: 3000 });
  a.configure(buildAttestorConfig(config, 'example.org'));
  return a;
}

function payload(principalId: string): Uint8Array {
  azure.mint = { principalId };
  try {
    return Buffer.from(JSON.stringify({ token: azure.token('https://management.azure.com/') }));
  } finally {
    azure.mint = {};
  }
}

describe('azure_msi Resource Manager selectors', () => {
  it('produces SPIRE\'s full selector set from the VM and its network interfaces', async () => {
    const r = await attestor(raw()).attest(payload(P1));
    expect(r.spiffeId).toBe(`spiffe://example.org/spire/agent/azure_msi/${T}/${P1}`);
    expect(r.selectorValues).toEqual([
      'network-security-group:network:frontend-nsg',
      `subscription-id:${SUB}`,
      'virtual-network-subnet:network:core-vnet:backend',
      'virtual-network-subnet:network:core-vnet:web',
      'virtual-network:network:core-vnet',
      'vm-name:frontend:blog',
    ]);
  });

  it('keeps the resource group as Resource Manager spells it and skips the NSG of an interface without one', async () => {
    const shop = await attestor(raw()).attest(payload(P2));
    expect(shop.selectorValues).toContain('vm-name:Shop-RG:shop');
    const lone = await attestor(raw()).attest(payload(P_LONE));
    expect(lone.selectorValues).toEqual([`subscription-id:${SUB}`, 'virtual-network-subnet:network:edge:dmz', 'virtual-network:network:edge', 'vm-name:frontend:lone']);
  });

  it('refuses a principal that is no VM of the subscription (PERMISSION_DENIED)', async () => {
    await expect(attestor(raw()).attest(payload(P_ELSEWHERE))).rejects.toMatchObject({
      code: 7,
      message: `unable to get resource for principal "${P_ELSEWHERE}": principal "${P_ELSEWHERE}" not found (no virtual machine of subscription "${SUB}" has this identity)`,
    });
  });

  it('refuses a principal matching two VMs, following nextLink pages', async () => {
    const before = arm.count('arm:list');
    await expect(attestor(raw()).attest(payload(P_TWICE))).rejects.toMatchObject({ code: 13, message: expect.stringMatching(/expected one result for principal .* at most/) as unknown });
    expect(arm.count('arm:list') - before).toBe(2);
  });

  it('reports Resource Manager\'s 403 with its code and message (INTERNAL)', async () => {
    const a = attestor(raw({ subscription_id: OTHER_SUB }));
    await expect(a.attest(payload(P_ELSEWHERE))).rejects.toMatchObject({
      code: 13,
      message: expect.stringMatching(
        new RegExp(`^unable to get resource for principal "${P_ELSEWHERE}": unable to list virtual machine by principal: unable to list resources of subscription "${OTHER_SUB}": HTTP 403: AuthorizationFailed: The client '${APP.clientId}' .* does not have authorization to perform action 'Microsoft.Resources/subscriptions/resources/read' over scope '/subscriptions/${OTHER_SUB}'`),
      ) as unknown,
    });
  });

  it('reports a failing VM or network interface read with the resource named', async () => {
    arm.faults = [{ path: /networkInterfaces\/blog-nic1$/, status: 429, code: 'TooManyRequests', message: 'The request is being throttled.' }];
    try {
      await expect(attestor(raw()).attest(payload(P1))).rejects.toMatchObject({
        code: 13,
        message: 'unable to get network interface "frontend:blog-nic1": unable to get network interface: HTTP 429: TooManyRequests: The request is being throttled.',
      });
    } finally {
      arm.faults = [];
    }
  });

  it('reports a wrong app secret with Entra\'s AADSTS error (INTERNAL)', async () => {
    await expect(attestor(raw({ app_secret: 'wrong-secret' })).attest(payload(P1))).rejects.toMatchObject({
      code: 13,
      message: expect.stringMatching(
        new RegExp(`unable to get an access token for app "${APP.clientId}" from ${arm.url.replace(/[./]/g, '\\$&')}${T}/oauth2/v2\\.0/token: HTTP 401: invalid_client: AADSTS7000215: Invalid client secret provided\\.`),
      ) as unknown,
    });
  });

  it('caches the access token across attestations', async () => {
    const a = attestor(raw());
    const tokens = arm.count('entra:token');
    await a.attest(payload(P1));
    await a.attest(payload(P2));
    await a.attest(payload(P_LONE));
    expect(arm.count('entra:token') - tokens).toBe(1);
  });

  it('without credentials, uses the server VM\'s managed identity and subscription (IMDS)', async () => {
    const a = attestor(raw({ subscription_id: '', app_id: '', app_secret: '' }));
    const [tok, inst] = [arm.count('imds:token'), arm.count('imds:instance')];
    const r = await a.attest(payload(P1));
    expect(r.selectorValues).toContain(`subscription-id:${SUB}`);
    expect(r.selectorValues).toContain('network-security-group:network:frontend-nsg');
    await a.attest(payload(P2));
    expect([arm.count('imds:token') - tok, arm.count('imds:instance') - inst]).toEqual([1, 1]);
  });

  it('without credentials, prefers AZURE_CLIENT_SECRET from the environment (DefaultAzureCredential)', async () => {
    const env = { AZURE_TENANT_ID: T, AZURE_CLIENT_ID: APP.clientId, AZURE_CLIENT_SECRET: 'wrong-secret' };
    await expect(attestor(raw({ subscription_id: '', app_id: '', app_secret: '' }), env).attest(payload(P1))).rejects.toThrow(/AADSTS7000215/);
  });

  it('reports a cached token Resource Manager no longer accepts (INTERNAL, with the ARM error code)', async () => {
    const a = attestor(raw());
    await a.attest(payload(P1));
    arm.revokeTokens();
    await expect(a.attest(payload(P2))).rejects.toThrow(/HTTP 401: InvalidAuthenticationToken: The access token is invalid\./);
  });
});
