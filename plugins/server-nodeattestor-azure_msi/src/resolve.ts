/**
 * azure_msi's selectors, as SPIRE resolves them through Azure Resource
 * Manager: the VM whose identity is the token's principal (listed in the
 * tenant's subscription with the filter
 * `resourceType eq 'Microsoft.Compute/virtualMachines' and identity/principalId eq '<principal>'`),
 * then the VM and each of its network interfaces:
 *
 * - `subscription-id:<subscription>` (the tenant's `subscription_id`, or the server VM's);
 * - `vm-name:<resource group>:<vm>`;
 * - `network-security-group:<resource group>:<nsg>` per interface with an NSG;
 * - `virtual-network:<resource group>:<vnet>` and
 *   `virtual-network-subnet:<resource group>:<vnet>:<subnet>` per IP configuration.
 *
 * Credentials: a tenant with `app_id`/`app_secret` uses them (client
 * credentials in that tenant); one without uses the server's default Azure
 * credential (environment, workload identity, else the managed identity of
 * the server's VM) and the subscription of the server's VM (from IMDS).
 */
import { azure } from '@spire-ts/nodeattestor-kit';
import { PluginError, Status } from '@spire-ts/plugin-sdk';
import type { AttestorConfig, TenantConfig } from './config.js';

/** Azure VMs have at most 8 network interfaces; more is a hostile or broken answer. */
export const MAX_NETWORK_INTERFACES = 32;
const MAX_IP_CONFIGURATIONS = 256;

/** Resource Manager access for one tenant. */
export interface TenantClient {
  readonly arm: azure.ArmClient;
  subscriptionId(): Promise<string>;
}

export interface ClientOptions extends azure.HttpOptions {
  readonly now?: () => number;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Builds the Resource Manager client of a tenant (no network until the first attestation). */
export function tenantClient(config: AttestorConfig, tenant: TenantConfig, opts: ClientOptions = {}): TenantClient {
  const creds = tenant.credentials;
  if (creds) {
    const cred = new azure.ClientSecretCredential(config.authorityHost, tenant.tenantId, creds.appId, creds.appSecret, opts);
    return { arm: new azure.ArmClient(config.resourceManagerUrl, cred, opts), subscriptionId: () => Promise.resolve(creds.subscriptionId) };
  }
  const cred = azure.defaultAzureCredential({ ...opts, authorityHost: config.authorityHost, imdsEndpoint: config.imdsEndpoint, tenant: tenant.tenantId });
  let subscription: Promise<string> | undefined;
  return {
    arm: new azure.ArmClient(config.resourceManagerUrl, cred, opts),
    subscriptionId: () => {
      subscription ??= azure.fetchInstanceCompute(config.imdsEndpoint, opts).then(
        (c) => c.subscriptionId,
        (err: unknown) => {
          subscription = undefined;
          throw err;
        },
      );
      return subscription;
    },
  };
}

function backend(prefix: string, err: unknown): PluginError {
  if (err instanceof azure.AzureError) return PluginError.internal(`${prefix}: ${err.message}`);
  if (err instanceof PluginError) return err;
  return PluginError.internal(`${prefix}: ${err instanceof Error ? err.message : String(err)}`);
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function idOf(v: unknown): string | undefined {
  const id = obj(v)?.id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/** The resource ID of the VM whose identity is `principalId` (SPIRE's GetVirtualMachineResourceID). */
export async function virtualMachineIdOf(client: TenantClient, principalId: string): Promise<string> {
  const prefix = `unable to get resource for principal ${JSON.stringify(principalId)}`;
  let subscription: string;
  try {
    subscription = await client.subscriptionId();
  } catch (err) {
    throw backend(prefix, err);
  }
  const filter = `resourceType eq 'Microsoft.Compute/virtualMachines' and identity/principalId eq ${azure.odataQuote(principalId)}`;
  let values: Record<string, unknown>[];
  try {
    values = await client.arm.listResources(subscription, filter);
  } catch (err) {
    throw backend(`${prefix}: unable to list virtual machine by principal`, err);
  }
  if (values.length === 0) {
    throw new PluginError(Status.PERMISSION_DENIED, `${prefix}: principal ${JSON.stringify(principalId)} not found (no virtual machine of subscription ${JSON.stringify(subscription)} has this identity)`);
  }
  if (values.length > 1) throw PluginError.internal(`${prefix}: expected one result for principal ${JSON.stringify(principalId)} at most`);
  const id = idOf(values[0]);
  if (!id) throw PluginError.internal(`${prefix}: virtual machine resource missing ID`);
  return id;
}

function networkInterfaceSelectors(nic: Record<string, unknown>, out: Set<string>): void {
  const props = obj(nic.properties) ?? {};
  const nsgId = idOf(props.networkSecurityGroup);
  if (nsgId) {
    const nsg = azure.parseNetworkSecurityGroupId(nsgId);
    if (!nsg) throw PluginError.internal(`malformed network security group ID ${JSON.stringify(nsgId)}`);
    out.add(`network-security-group:${nsg.resourceGroup}:${nsg.name}`);
  }
  const ipcs = Array.isArray(props.ipConfigurations) ? (props.ipConfigurations as unknown[]) : [];
  if (ipcs.length > MAX_IP_CONFIGURATIONS) throw PluginError.internal(`network interface has more than ${MAX_IP_CONFIGURATIONS} IP configurations`);
  for (const ipc of ipcs) {
    const subnetId = idOf(obj(obj(ipc)?.properties)?.subnet);
    if (!subnetId) continue;
    const subnet = azure.parseSubnetId(subnetId);
    if (!subnet) throw PluginError.internal(`malformed virtual network subnet ID ${JSON.stringify(subnetId)}`);
    out.add(`virtual-network:${subnet.resourceGroup}:${subnet.virtualNetwork}`);
    out.add(`virtual-network-subnet:${subnet.resourceGroup}:${subnet.virtualNetwork}:${subnet.name}`);
  }
}

/** SPIRE's selectors for the VM of `principalId`, sorted and deduplicated. */
export async function resolveSelectors(client: TenantClient, principalId: string): Promise<string[]> {
  const vmId = await virtualMachineIdOf(client, principalId);
  const vm = azure.parseVirtualMachineId(vmId);
  if (!vm) throw PluginError.internal(`malformed virtual machine ID ${JSON.stringify(vmId)}`);
  const subscription = await client.subscriptionId();
  const selectors = new Set<string>([`subscription-id:${subscription}`, `vm-name:${vm.resourceGroup}:${vm.name}`]);
  const vmName = JSON.stringify(`${vm.resourceGroup}:${vm.name}`);
  let doc: Record<string, unknown>;
  try {
    doc = await client.arm.getVirtualMachine(vm.subscriptionId, vm.resourceGroup, vm.name);
  } catch (err) {
    throw backend(`unable to get virtual machine ${vmName}`, err);
  }
  const refs = obj(obj(obj(doc.properties)?.networkProfile))?.networkInterfaces;
  const nics = Array.isArray(refs) ? (refs as unknown[]) : [];
  if (nics.length > MAX_NETWORK_INTERFACES) throw PluginError.internal(`virtual machine ${vmName} has more than ${MAX_NETWORK_INTERFACES} network interfaces`);
  for (const ref of nics) {
    const nicId = idOf(ref);
    if (!nicId) continue;
    const nic = azure.parseNetworkInterfaceId(nicId);
    if (!nic) throw PluginError.internal(`malformed network interface ID ${JSON.stringify(nicId)}`);
    let nicDoc: Record<string, unknown>;
    try {
      nicDoc = await client.arm.getNetworkInterface(nic.subscriptionId, nic.resourceGroup, nic.name);
    } catch (err) {
      throw backend(`unable to get network interface ${JSON.stringify(`${nic.resourceGroup}:${nic.name}`)}`, err);
    }
    networkInterfaceSelectors(nicDoc, selectors);
  }
  return [...selectors].sort();
}
