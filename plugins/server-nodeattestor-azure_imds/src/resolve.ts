/**
 * azure_imds's selectors, as SPIRE resolves them through Azure Resource
 * Manager once the attested document is verified:
 *
 * - a standalone VM is found with Azure Resource Graph by its `vmId` (in
 *   the document's subscription), and its network interfaces by the VM's
 *   resource ID;
 * - a scale set instance (the agent names its scale set; the name is not
 *   trusted as such) is found by listing the scale set's VMs — located with
 *   Resource Graph by name in the document's subscription — and matching
 *   the `vmId`; its interfaces come from the instance's network profile.
 *
 * Selectors (sorted, deduplicated): `subscription-id:<id>`,
 * `vm-name:<name>`, `vm-location:<location>`, `resource-group:<group>`,
 * `vm-tag:<tag>:<value>` for each `allowed_vm_tags` entry the VM carries,
 * `network-security-group:<group>:<nsg>`, `virtual-network:<vnet>`,
 * `virtual-network-subnet:<vnet>:<subnet>`, and `vmss-name:<name>` for a
 * scale set instance.
 */
import { azure } from '@spire-ts/nodeattestor-kit';
import { PluginError, Status } from '@spire-ts/plugin-sdk';
import type { AttestorConfig, TenantConfig } from './config.js';

const MAX_NETWORK_INTERFACES = 32;
const MAX_IP_CONFIGURATIONS = 256;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const SAFE_ID = /^[A-Za-z0-9/._()-]+$/;

export interface ClientOptions extends azure.HttpOptions {
  readonly now?: () => number;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** The Resource Manager client of a tenant; `tenantId` resolves the domain's ID when needed. */
export function tenantClient(config: AttestorConfig, tenant: TenantConfig, tenantId: () => Promise<string>, opts: ClientOptions = {}): azure.ArmClient {
  const a = tenant.auth;
  let cred: azure.TokenCredential;
  if (a?.kind === 'secret') cred = new azure.ClientSecretCredential(config.authorityHost, tenantId, a.appId, a.appSecret, opts);
  else if (a?.kind === 'token') cred = new azure.ClientAssertionCredential(config.authorityHost, tenantId, a.appId, a.tokenPath, opts);
  else cred = azure.defaultAzureCredential({ ...opts, authorityHost: config.authorityHost, imdsEndpoint: config.imdsEndpoint, tenant: tenantId });
  return new azure.ArmClient(config.resourceManagerUrl, cred, opts);
}

/** SPIRE's scale set name rule (Azure's naming rules); the name comes from the agent, untrusted. */
export function validateScaleSetName(name: string): string | undefined {
  if (name.length < 1) return 'VMSS name must be at least 1 character(s) long, got 0';
  if (name.length > 64) return `VMSS name must be at most 64 characters long, got ${name.length}`;
  if (!/^[a-zA-Z0-9._-]+$/.test(name)) return 'VMSS name can only contain alphanumeric characters, underscores, periods, and hyphens';
  if (!/^[a-zA-Z0-9]/.test(name)) return 'VMSS name must start with an alphanumeric character';
  if (!/[a-zA-Z0-9_]$/.test(name)) return 'VMSS name must end with an alphanumeric character or an underscore';
  return undefined;
}

interface NetworkInterface {
  readonly nsg?: { readonly resourceGroup: string; readonly name: string };
  readonly subnets: readonly { readonly vnet: string; readonly name: string }[];
}

interface VirtualMachine {
  readonly name: string;
  readonly location: string;
  readonly resourceGroup: string;
  readonly tags: Readonly<Record<string, unknown>>;
  readonly interfaces: readonly NetworkInterface[];
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
function idOf(v: unknown): string {
  return str(obj(v)?.id);
}

function backend(prefix: string, err: unknown): PluginError {
  if (err instanceof azure.AzureError) return PluginError.internal(`${prefix}: ${err.message}`);
  if (err instanceof PluginError) return err;
  return PluginError.internal(`${prefix}: ${err instanceof Error ? err.message : String(err)}`);
}

/** The interface of an NSG ID and the subnets of IP configurations (`{properties: {subnet: {id}}}`). */
function networkInterface(nsgId: string, ipConfigurations: unknown): NetworkInterface {
  let nsg: NetworkInterface['nsg'];
  if (nsgId) {
    const n = azure.parseNetworkSecurityGroupId(nsgId);
    if (!n) throw PluginError.internal(`malformed network security group ID ${JSON.stringify(nsgId)}`);
    nsg = { resourceGroup: n.resourceGroup, name: n.name };
  }
  const ipcs = Array.isArray(ipConfigurations) ? (ipConfigurations as unknown[]) : [];
  if (ipcs.length > MAX_IP_CONFIGURATIONS) throw PluginError.internal(`network interface has more than ${MAX_IP_CONFIGURATIONS} IP configurations`);
  const subnets: { vnet: string; name: string }[] = [];
  for (const ipc of ipcs) {
    const subnetId = idOf(obj(obj(ipc)?.properties)?.subnet);
    if (!subnetId) continue;
    const sn = azure.parseSubnetId(subnetId);
    if (!sn) throw PluginError.internal(`malformed virtual network subnet ID ${JSON.stringify(subnetId)}`);
    subnets.push({ vnet: sn.virtualNetwork, name: sn.name });
  }
  return nsg ? { nsg, subnets } : { subnets };
}

async function graph(arm: azure.ArmClient, query: string, subscriptionId: string, what: string): Promise<azure.ResourceGraphResult> {
  try {
    return await arm.queryResourceGraph(query, [subscriptionId], what);
  } catch (err) {
    throw backend(what, err);
  }
}

async function standaloneVm(arm: azure.ArmClient, vmId: string, subscriptionId: string): Promise<VirtualMachine> {
  // vmId is a UUID (checked by the caller): nothing to escape.
  const vmQuery = [
    'resources',
    "| where type =~ 'microsoft.compute/virtualmachines'",
    `| where properties.vmId == '${vmId}'`,
    '| project id, name, location, tags, resourceGroup, vmId = tostring(properties.vmId)',
  ].join('\n');
  const found = await graph(arm, vmQuery, subscriptionId, 'unable to get virtual machine');
  if (found.data.length === 0) {
    throw new PluginError(Status.PERMISSION_DENIED, `unable to get virtual machine: no virtual machine with VM ID ${JSON.stringify(vmId)} in subscription ${JSON.stringify(subscriptionId)} (or the server's credentials cannot read it)`);
  }
  if (found.data.length > 1) throw PluginError.internal(`unable to get virtual machine: expected one result for VM ID ${JSON.stringify(vmId)} at most`);
  const vm = found.data[0]!;
  const id = str(vm.id);
  if (!azure.parseVirtualMachineId(id) || !SAFE_ID.test(id)) throw PluginError.internal(`malformed virtual machine ID ${JSON.stringify(id)}`);
  const nicQuery = [
    'resources',
    "| where type =~ 'microsoft.network/networkinterfaces'",
    `| where tolower(tostring(properties.virtualMachine.id)) == '${id.toLowerCase()}'`,
    '| project name, resourceGroup, nsgId = tostring(properties.networkSecurityGroup.id), ipConfigurations = properties.ipConfigurations',
  ].join('\n');
  const nics = await graph(arm, nicQuery, subscriptionId, 'unable to get network interfaces');
  if (nics.data.length > MAX_NETWORK_INTERFACES) throw PluginError.internal(`virtual machine ${JSON.stringify(id)} has more than ${MAX_NETWORK_INTERFACES} network interfaces`);
  return {
    name: str(vm.name),
    location: str(vm.location),
    resourceGroup: str(vm.resourceGroup),
    tags: obj(vm.tags) ?? {},
    interfaces: nics.data.map((n) => networkInterface(str(n.nsgId), n.ipConfigurations)),
  };
}

async function scaleSetInstance(arm: azure.ArmClient, vmId: string, subscriptionId: string, scaleSet: string): Promise<VirtualMachine> {
  const problem = validateScaleSetName(scaleSet);
  if (problem) throw PluginError.invalidArgument(`invalid VMSS name: ${problem}`);
  const ssQuery = [
    'resources',
    "| where type =~ 'microsoft.compute/virtualmachinescalesets'",
    `| where name == '${scaleSet}'`,
    '| project id, name, location, resourceGroup, subscriptionId',
  ].join('\n');
  const found = await graph(arm, ssQuery, subscriptionId, 'unable to get VMSS info');
  if (found.data.length === 0) {
    throw new PluginError(Status.PERMISSION_DENIED, `unable to get VMSS info: no scale set ${JSON.stringify(scaleSet)} in subscription ${JSON.stringify(subscriptionId)}`);
  }
  if (found.data.length > 1) throw PluginError.internal(`unable to get VMSS info: expected one result for scale set ${JSON.stringify(scaleSet)} at most`);
  const resourceGroup = str(found.data[0]!.resourceGroup);
  if (!resourceGroup) throw PluginError.internal(`unable to get VMSS info: scale set ${JSON.stringify(scaleSet)} has no resource group`);
  let instances: Record<string, unknown>[];
  try {
    instances = await arm.listScaleSetVms(subscriptionId, resourceGroup, scaleSet);
  } catch (err) {
    throw backend('unable to list VMSS instances', err);
  }
  const instance = instances.find((i) => str(obj(i.properties)?.vmId) === vmId);
  if (!instance) throw new PluginError(Status.PERMISSION_DENIED, `VMSS instance ${JSON.stringify(vmId)} not found in scale set ${JSON.stringify(scaleSet)}`);
  const props = obj(instance.properties) ?? {};
  if (!str(instance.name)) throw PluginError.internal('vmss instance name is nil');
  if (!str(instance.location)) throw PluginError.internal('vmss instance location is nil');
  const configs = obj(props.networkProfileConfiguration)?.networkInterfaceConfigurations;
  const list = Array.isArray(configs) ? (configs as unknown[]) : [];
  if (list.length > MAX_NETWORK_INTERFACES) throw PluginError.internal(`VMSS instance ${JSON.stringify(vmId)} has more than ${MAX_NETWORK_INTERFACES} network interfaces`);
  const interfaces: NetworkInterface[] = [];
  for (const c of list) {
    const cp = obj(obj(c)?.properties);
    // As SPIRE: an interface configuration that does not parse is skipped, not fatal.
    try {
      if (cp) interfaces.push(networkInterface(idOf(cp.networkSecurityGroup), cp.ipConfigurations));
    } catch {
      continue;
    }
  }
  return { name: str(instance.name), location: str(instance.location), resourceGroup, tags: obj(instance.tags) ?? {}, interfaces };
}

/** SPIRE's selectors for the attested VM (see the module comment). */
export async function resolveSelectors(arm: azure.ArmClient, tenant: TenantConfig, doc: { vmId: string; subscriptionId: string; vmssName: string | undefined }): Promise<string[]> {
  if (!UUID.test(doc.vmId)) throw PluginError.invalidArgument(`invalid VM ID: ${JSON.stringify(doc.vmId)} is not a UUID`);
  const selectors = new Set<string>();
  let vm: VirtualMachine;
  if (doc.vmssName !== undefined) {
    vm = await scaleSetInstance(arm, doc.vmId, doc.subscriptionId, doc.vmssName);
    selectors.add(`vmss-name:${doc.vmssName}`);
  } else {
    vm = await standaloneVm(arm, doc.vmId, doc.subscriptionId);
  }
  selectors.add(`subscription-id:${doc.subscriptionId}`);
  selectors.add(`vm-name:${vm.name}`);
  selectors.add(`vm-location:${vm.location}`);
  selectors.add(`resource-group:${vm.resourceGroup}`);
  for (const tag of tenant.allowedTags) {
    if (!Object.prototype.hasOwnProperty.call(vm.tags, tag)) continue;
    const value = vm.tags[tag];
    if (typeof value === 'string') selectors.add(`vm-tag:${tag}:${value}`);
  }
  for (const nic of vm.interfaces) {
    if (nic.nsg) selectors.add(`network-security-group:${nic.nsg.resourceGroup}:${nic.nsg.name}`);
    for (const sn of nic.subnets) {
      selectors.add(`virtual-network:${sn.vnet}`);
      selectors.add(`virtual-network-subnet:${sn.vnet}:${sn.name}`);
    }
  }
  return [...selectors].sort();
}
