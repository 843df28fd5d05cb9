/**
 * A small Azure Resource Manager client: the reads SPIRE's azure_msi and
 * azure_imds server attestors make, over plain HTTPS+JSON with a bearer
 * token from a {@link TokenCredential}.
 *
 * Hostile-input rules: path segments are percent-encoded; `nextLink`s are
 * followed only on the configured Resource Manager origin (the bearer token
 * never goes elsewhere) and at most {@link MAX_PAGES} pages; every response
 * is size-capped and timed out (see http.ts).
 */
import type { TokenCredential } from './credentials.js';
import { AzureError, requestJson, type HttpOptions } from './http.js';

export const DEFAULT_RESOURCE_MANAGER_URL = 'https://management.azure.com/';
export const API_VERSIONS = {
  resources: '2021-04-01',
  compute: '2024-07-01',
  network: '2024-05-01',
  resourceGraph: '2021-03-01',
} as const;
export const MAX_PAGES = 20;

const RESOURCE_GROUP_ID = String.raw`^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/`;
const VM_ID = new RegExp(`${RESOURCE_GROUP_ID}Microsoft\\.Compute/virtualMachines/([^/]+)$`, 'i');
const NIC_ID = new RegExp(`${RESOURCE_GROUP_ID}Microsoft\\.Network/networkInterfaces/([^/]+)$`, 'i');
const NSG_ID = new RegExp(`${RESOURCE_GROUP_ID}Microsoft\\.Network/networkSecurityGroups/([^/]+)$`, 'i');
const SUBNET_ID = new RegExp(`${RESOURCE_GROUP_ID}Microsoft\\.Network/virtualNetworks/([^/]+)/subnets/([^/]+)$`, 'i');

export interface ResourceName {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
}

export interface SubnetName extends ResourceName {
  /** The virtual network (`name` is the subnet). */
  readonly virtualNetwork: string;
}

function parseWith(re: RegExp, id: string): RegExpExecArray | null {
  return id.length <= 1024 ? re.exec(id) : null;
}

/** `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{vm}`, or undefined. */
export function parseVirtualMachineId(id: string): ResourceName | undefined {
  const m = parseWith(VM_ID, id);
  return m ? { subscriptionId: m[1]!, resourceGroup: m[2]!, name: m[3]! } : undefined;
}
export function parseNetworkInterfaceId(id: string): ResourceName | undefined {
  const m = parseWith(NIC_ID, id);
  return m ? { subscriptionId: m[1]!, resourceGroup: m[2]!, name: m[3]! } : undefined;
}
export function parseNetworkSecurityGroupId(id: string): ResourceName | undefined {
  const m = parseWith(NSG_ID, id);
  return m ? { subscriptionId: m[1]!, resourceGroup: m[2]!, name: m[3]! } : undefined;
}
export function parseSubnetId(id: string): SubnetName | undefined {
  const m = parseWith(SUBNET_ID, id);
  return m ? { subscriptionId: m[1]!, resourceGroup: m[2]!, virtualNetwork: m[3]!, name: m[4]! } : undefined;
}

/** Escapes a value for a single-quoted OData `$filter` literal. */
export function odataQuote(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export interface ResourceGraphResult {
  readonly totalRecords: number;
  readonly data: readonly Record<string, unknown>[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class ArmClient {
  /** Requests sent (tests, diagnostics). */
  requests = 0;

  constructor(
    /** Base URL ending in "/". */
    readonly baseUrl: string,
    readonly credential: TokenCredential,
    private readonly opts: HttpOptions = {},
  ) {}

  private path(...segments: string[]): string {
    return segments.map((s, i) => (i % 2 === 1 ? encodeURIComponent(s) : s)).join('/');
  }

  private async send(url: string, what: string, body?: unknown): Promise<Record<string, unknown>> {
    let token: string;
    try {
      token = await this.credential.getToken();
    } catch (err) {
      if (err instanceof AzureError) throw new AzureError(`${what}: ${err.message}`, err.status, err.code);
      throw err;
    }
    this.requests++;
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return requestJson(url, body === undefined ? { what, headers } : { what, headers, method: 'POST', body: JSON.stringify(body) }, this.opts);
  }

  private url(path: string, query: Record<string, string>): string {
    return `${this.baseUrl}${path}?${new URLSearchParams(query).toString()}`;
  }

  /** Follows `nextLink` on the Resource Manager origin only; returns every page's `value` items. */
  private async list(first: string, what: string): Promise<Record<string, unknown>[]> {
    const origin = new URL(this.baseUrl).origin;
    const items: Record<string, unknown>[] = [];
    let url: string | undefined = first;
    for (let page = 0; url; page++) {
      if (page >= MAX_PAGES) throw new AzureError(`${what}: more than ${MAX_PAGES} pages of results`);
      const doc = await this.send(url, what);
      if (!Array.isArray(doc.value)) throw new AzureError(`${what}: response has no "value" array`);
      for (const v of doc.value as unknown[]) if (isObject(v)) items.push(v);
      const next = doc.nextLink;
      url = undefined;
      if (typeof next === 'string' && next !== '') {
        let u: URL;
        try {
          u = new URL(next);
        } catch {
          throw new AzureError(`${what}: malformed nextLink ${JSON.stringify(next.slice(0, 200))}`);
        }
        if (u.origin !== origin) throw new AzureError(`${what}: nextLink ${JSON.stringify(u.origin)} is not on ${origin}`);
        url = u.href;
      }
    }
    return items;
  }

  /** `GET /subscriptions/{s}/resources?$filter=...` (every page). */
  listResources(subscriptionId: string, filter: string): Promise<Record<string, unknown>[]> {
    const url = this.url(this.path('subscriptions', subscriptionId, 'resources'), { $filter: filter, 'api-version': API_VERSIONS.resources });
    return this.list(url, `unable to list resources of subscription ${JSON.stringify(subscriptionId)}`);
  }

  /** `GET .../Microsoft.Compute/virtualMachines/{name}`. */
  getVirtualMachine(subscriptionId: string, resourceGroup: string, name: string): Promise<Record<string, unknown>> {
    const p = this.path('subscriptions', subscriptionId, 'resourceGroups', resourceGroup, 'providers/Microsoft.Compute/virtualMachines', name);
    return this.send(this.url(p, { 'api-version': API_VERSIONS.compute }), 'unable to get virtual machine');
  }

  /** `GET .../Microsoft.Network/networkInterfaces/{name}`. */
  getNetworkInterface(subscriptionId: string, resourceGroup: string, name: string): Promise<Record<string, unknown>> {
    const p = this.path('subscriptions', subscriptionId, 'resourceGroups', resourceGroup, 'providers/Microsoft.Network/networkInterfaces', name);
    return this.send(this.url(p, { 'api-version': API_VERSIONS.network }), 'unable to get network interface');
  }

  /** `GET .../Microsoft.Compute/virtualMachineScaleSets/{name}/virtualMachines` (every page). */
  listScaleSetVms(subscriptionId: string, resourceGroup: string, scaleSet: string): Promise<Record<string, unknown>[]> {
    const p = this.path('subscriptions', subscriptionId, 'resourceGroups', resourceGroup, 'providers/Microsoft.Compute/virtualMachineScaleSets', scaleSet, 'virtualMachines');
    return this.list(this.url(p, { 'api-version': API_VERSIONS.compute }), 'unable to list VMSS instances');
  }

  /** `POST /providers/Microsoft.ResourceGraph/resources` with an object-array result. */
  async queryResourceGraph(query: string, subscriptions: readonly string[] | undefined, what: string): Promise<ResourceGraphResult> {
    const body: Record<string, unknown> = { query, options: { resultFormat: 'objectArray' } };
    if (subscriptions) body.subscriptions = subscriptions;
    const doc = await this.send(this.url('providers/Microsoft.ResourceGraph/resources', { 'api-version': API_VERSIONS.resourceGraph }), what, body);
    const total = doc.totalRecords;
    if (typeof total !== 'number' || !Number.isInteger(total) || total < 0) throw new AzureError(`${what}: response has no "totalRecords"`);
    if (!Array.isArray(doc.data)) throw new AzureError(`${what}: response "data" is not an object array`);
    const data: Record<string, unknown>[] = [];
    for (const d of doc.data as unknown[]) {
      if (!isObject(d)) throw new AzureError(`${what}: response "data" is not an object array`);
      data.push(d);
    }
    return { totalRecords: total, data };
  }
}
