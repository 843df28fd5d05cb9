// azure_imds's Resource Manager selectors end to end in-process: a nonce
// challenge answered with a document signed by a test chain, then the VM
// (or scale set instance) resolved with Resource Graph and Resource Manager
// on a local fake, authenticated with the tenant's app registration, a
// federated token file, or the server VM's managed identity.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeArm, type ArmVm } from '../../../conformance/src/fixtures/azure-arm-fakes.js';
import { FakeAzureImds } from '../../../conformance/src/fixtures/azure_imds-fakes.js';
import { makeTestChain } from '../../../conformance/src/fixtures/azure_imds-pki.js';
import { AzureImdsServerAttestor, buildAttestorConfig, validateScaleSetName, type RawConfig } from '../src/index.js';

const D = 'example.onmicrosoft.com';
const TID = '00000000-1111-2222-3333-444444444444';
const SUB = 'd5b40d61-272e-48da-beb9-05f295c42bd6';
const OTHER_SUB = 'a1b2c3d4-5678-4012-8456-789012345678';
const VM_ID = '02aab8a4-74ef-476e-8182-f6d2ba4166a6';
const LONE_ID = '13aab8a4-74ef-476e-8182-f6d2ba4166a6';
const SS_ID = '24aab8a4-74ef-476e-8182-f6d2ba4166a6';
const UNKNOWN_ID = '35aab8a4-74ef-476e-8182-f6d2ba4166a6';
const APP = { clientId: '8c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e', secret: 'right-secret' };
const FED = { clientId: '9d2e3f40-4a5b-4c6d-8e7f-901a2b3c4d5e', assertion: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzcGlyZSJ9.c2lnbmF0dXJl' };
const MI = { tenantId: TID, clientId: '7a7a7a7a-0000-4000-8000-000000000001' };

const dir = mkdtempSync(join(tmpdir(), 'azure-imds-arm-'));
const tokenFile = join(dir, 'federated-token');
writeFileSync(tokenFile, `${FED.assertion}\n`);
let imds: FakeAzureImds;
let arm: FakeArm;
let bundle: string;

const vms: ArmVm[] = [
  {
    subscriptionId: SUB,
    resourceGroup: 'Frontend',
    name: 'blog',
    vmId: VM_ID,
    location: 'eastus',
    tags: { env: 'prod', owner: 'alice', team: 'web' },
    nics: [
      { resourceGroup: 'Frontend', name: 'blog-nic0', nsg: { resourceGroup: 'Network', name: 'frontend-nsg' }, subnets: [{ resourceGroup: 'network', vnet: 'core-vnet', name: 'web' }] },
      { resourceGroup: 'Frontend', name: 'blog-nic1', subnets: [{ resourceGroup: 'network', vnet: 'core-vnet', name: 'backend' }, { resourceGroup: 'network', vnet: 'edge-vnet', name: 'dmz' }] },
    ],
  },
  { subscriptionId: SUB, resourceGroup: 'frontend', name: 'lone', vmId: LONE_ID, location: 'westus2', nics: [{ resourceGroup: 'frontend', name: 'lone-nic', subnets: [{ resourceGroup: 'network', vnet: 'core-vnet', name: 'web' }] }] },
  {
    subscriptionId: SUB,
    resourceGroup: 'web',
    name: 'web-ss_3',
    scaleSet: 'web-ss',
    vmId: SS_ID,
    location: 'eastus',
    tags: { team: 'web' },
    nics: [{ resourceGroup: 'web', name: 'web-ss-nic', nsg: { resourceGroup: 'network', name: 'web-nsg' }, subnets: [{ resourceGroup: 'network', vnet: 'core-vnet', name: 'web' }] }],
  },
  { subscriptionId: OTHER_SUB, resourceGroup: 'other', name: 'elsewhere', vmId: UNKNOWN_ID, location: 'eastus', nics: [] },
];

beforeAll(async () => {
  const chain = await makeTestChain();
  bundle = join(dir, 'root.pem');
  writeFileSync(bundle, chain.rootPem);
  const domains = new Map([[D, TID]]);
  imds = await FakeAzureImds.start({ subscriptionId: SUB, vmId: VM_ID, name: 'blog', resourceGroup: 'Frontend' }, chain, domains);
  arm = await FakeArm.start({
    apps: [
      { tenantId: TID, clientId: APP.clientId, secret: APP.secret, subscriptions: [SUB] },
      { tenantId: TID, clientId: FED.clientId, assertion: FED.assertion },
    ],
    vms,
    domains,
    serverVm: { subscriptionId: SUB, resourceGroup: 'spire', name: 'spire-server', identity: MI },
  });
});
afterAll(async () => {
  await Promise.all([imds?.close(), arm?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

type Tenant = RawConfig['tenants'][string];
function raw(tenant: Partial<Tenant> = {}): RawConfig {
  return {
    tenants: { [D]: { restrict_to_subscriptions: [], allowed_vm_tags: ['env', 'team', 'missing'], secret_auth: { app_id: APP.clientId, app_secret: APP.secret }, token_auth: undefined, tenant_id: '', ...tenant } },
    agent_path_template: '',
    allowed_metadata_domains: [],
    trust_bundle_path: bundle,
    authority_host: arm.url,
    resource_manager_url: arm.url,
    imds_endpoint: arm.url,
  };
}

function attestor(config: RawConfig, env: Record<string, string> = {}): AzureImdsServerAttestor {
  const a = new AzureImdsServerAttestor({ attested: () => Promise.resolve(false), env, azureTimeoutMs: 3000 });
  a.configure(buildAttestorConfig(config, 'example.org'));
  return a;
}

/** Runs one attestation: payload, the server's nonce, a document signed for it (for `vmId`), claiming `vmssName`. */
async function attest(a: AzureImdsServerAttestor, vmId: string, vmssName: string | null = null, subscriptionId = SUB) {
  let nonce = '';
  const messages = [
    () => ({ request: 'payload', payload: Buffer.from('x') }),
    () => {
      imds.doc = { vmId, subscriptionId };
      try {
        const signature = imds.sign(nonce);
        return { request: 'challenge_response', challenge_response: Buffer.from(JSON.stringify({ document: { encoding: 'pkcs7', signature }, metadata: { agentDomain: D, vmssName } })) };
      } finally {
        imds.doc = {};
      }
    },
  ];
  return a.attest(
    () => Promise.resolve(messages.shift()?.()),
    (n) => void (nonce = n),
  );
}

describe('azure_imds Resource Manager selectors', () => {
  it('produces SPIRE\'s full selector set for a standalone VM (allowed tags only)', async () => {
    const r = await attest(attestor(raw()), VM_ID);
    expect(r.spiffeId).toBe(`spiffe://example.org/spire/agent/azure_imds/${TID}/${SUB}/${VM_ID}`);
    expect(r.selectorValues).toEqual([
      'network-security-group:Network:frontend-nsg',
      'resource-group:frontend',
      `subscription-id:${SUB}`,
      'virtual-network-subnet:core-vnet:backend',
      'virtual-network-subnet:core-vnet:web',
      'virtual-network-subnet:edge-vnet:dmz',
      'virtual-network:core-vnet',
      'virtual-network:edge-vnet',
      'vm-location:eastus',
      'vm-name:blog',
      'vm-tag:env:prod',
      'vm-tag:team:web',
    ]);
  });

  it('has no network-security-group selector for interfaces without an NSG', async () => {
    const r = await attest(attestor(raw({ allowed_vm_tags: [] })), LONE_ID);
    expect(r.selectorValues).toEqual([
      'resource-group:frontend',
      `subscription-id:${SUB}`,
      'virtual-network-subnet:core-vnet:web',
      'virtual-network:core-vnet',
      'vm-location:westus2',
      'vm-name:lone',
    ]);
  });

  it('resolves a scale set instance through the scale set\'s VM list', async () => {
    const before = arm.count('arm:vmss');
    const r = await attest(attestor(raw()), SS_ID, 'web-ss');
    expect(r.selectorValues).toEqual([
      'network-security-group:network:web-nsg',
      'resource-group:web',
      `subscription-id:${SUB}`,
      'virtual-network-subnet:core-vnet:web',
      'virtual-network:core-vnet',
      'vm-location:eastus',
      'vm-name:web-ss_3',
      'vm-tag:team:web',
      'vmss-name:web-ss',
    ]);
    expect(arm.count('arm:vmss') - before).toBe(1);
  });

  it('refuses a VM that is not an instance of the scale set the agent names', async () => {
    await expect(attest(attestor(raw()), LONE_ID, 'web-ss')).rejects.toMatchObject({ code: 7, message: `VMSS instance "${LONE_ID}" not found in scale set "web-ss"` });
    await expect(attest(attestor(raw()), LONE_ID, 'no-such-ss')).rejects.toMatchObject({ code: 7, message: expect.stringMatching(/no scale set "no-such-ss" in subscription/) as unknown });
  });

  it('refuses a malformed scale set name from the agent (INVALID_ARGUMENT)', async () => {
    await expect(attest(attestor(raw()), LONE_ID, "x' or 1==1 //")).rejects.toMatchObject({ code: 3, message: expect.stringMatching(/^invalid VMSS name: VMSS name can only contain/) as unknown });
    expect(validateScaleSetName('-ss')).toMatch(/must start with an alphanumeric/);
    expect(validateScaleSetName('ss.')).toMatch(/must end with an alphanumeric character or an underscore/);
    expect(validateScaleSetName('a'.repeat(65))).toMatch(/at most 64 characters long, got 65/);
    expect(validateScaleSetName('web_ss-1.a_')).toBeUndefined();
  });

  it('refuses a VM Resource Graph does not show to the server\'s app (PERMISSION_DENIED)', async () => {
    await expect(attest(attestor(raw()), UNKNOWN_ID, null, OTHER_SUB)).rejects.toMatchObject({
      code: 7,
      message: `unable to get virtual machine: no virtual machine with VM ID "${UNKNOWN_ID}" in subscription "${OTHER_SUB}" (or the server's credentials cannot read it)`,
    });
  });

  it('reports Resource Manager\'s 403 with its code and message (INTERNAL)', async () => {
    arm.faults = [{ path: /virtualMachineScaleSets\/web-ss\/virtualMachines$/, status: 403, code: 'AuthorizationFailed', message: "The client 'x' does not have authorization to perform action 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read'." }];
    try {
      await expect(attest(attestor(raw()), SS_ID, 'web-ss')).rejects.toMatchObject({
        code: 13,
        message: "unable to list VMSS instances: unable to list VMSS instances: HTTP 403: AuthorizationFailed: The client 'x' does not have authorization to perform action 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read'.",
      });
    } finally {
      arm.faults = [];
    }
  });

  it('reports a wrong app secret with Entra\'s AADSTS error, for the tenant ID looked up from the domain', async () => {
    await expect(attest(attestor(raw({ secret_auth: { app_id: APP.clientId, app_secret: 'nope' } })), VM_ID)).rejects.toMatchObject({
      code: 13,
      message: expect.stringMatching(new RegExp(`${TID}/oauth2/v2\\.0/token: HTTP 401: invalid_client: AADSTS7000215: Invalid client secret provided\\.`)) as unknown,
    });
  });

  it('caches the access token across attestations', async () => {
    const a = attestor(raw());
    const before = arm.count('entra:token');
    await attest(a, VM_ID);
    await attest(a, LONE_ID);
    await attest(a, SS_ID, 'web-ss');
    expect(arm.count('entra:token') - before).toBe(1);
  });

  it('authenticates with a federated token file (token_auth)', async () => {
    const r = await attest(attestor(raw({ secret_auth: undefined, token_auth: { app_id: FED.clientId, token_path: tokenFile } })), LONE_ID);
    expect(r.selectorValues).toContain('vm-name:lone');
    const missing = attestor(raw({ secret_auth: undefined, token_auth: { app_id: FED.clientId, token_path: join(dir, 'nope') } }));
    await expect(attest(missing, LONE_ID)).rejects.toThrow(/unable to read token file ".*nope"/);
  });

  it('without credentials, uses the server VM\'s managed identity', async () => {
    const before = arm.count('imds:token');
    const r = await attest(attestor(raw({ secret_auth: undefined })), LONE_ID);
    expect(r.selectorValues).toContain('vm-location:westus2');
    expect(arm.count('imds:token') - before).toBe(1);
  });
});
