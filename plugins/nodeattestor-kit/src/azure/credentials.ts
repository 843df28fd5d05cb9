/**
 * Access tokens for Azure Resource Manager, as the Azure SDK's credentials
 * obtain them (SPIRE's server attestors use azidentity):
 *
 * - {@link ClientSecretCredential}: OAuth2 client credentials against
 *   Microsoft Entra, `POST <authority><tenant>/oauth2/v2.0/token` with
 *   `client_id`, `client_secret` and `scope=https://management.azure.com/.default`;
 * - {@link ClientAssertionCredential}: the same with a federated token read
 *   from a file on every request (workload identity, azure_imds `token_auth`);
 * - {@link ManagedIdentityCredential}: the managed identity of the VM the
 *   server runs on, from the Instance Metadata Service
 *   (`GET <imds>metadata/identity/oauth2/token?api-version=2018-02-01&resource=...`, `Metadata: true`);
 * - {@link defaultAzureCredential}: the subset of azidentity's
 *   DefaultAzureCredential chain that applies to a server: environment
 *   (`AZURE_TENANT_ID`/`AZURE_CLIENT_ID`/`AZURE_CLIENT_SECRET`), workload
 *   identity (`AZURE_FEDERATED_TOKEN_FILE`/`AZURE_CLIENT_ID`), else managed
 *   identity (user-assigned when `AZURE_CLIENT_ID` is set).
 *
 * Tokens are cached until five minutes before they expire (the SDK's
 * refresh margin); concurrent callers share one request; failures are not
 * cached.
 */
import { readFile } from 'node:fs/promises';
import { AzureError, requestJson, type HttpOptions } from './http.js';

export const RESOURCE_MANAGER_SCOPE = 'https://management.azure.com/.default';
export const RESOURCE_MANAGER_RESOURCE = 'https://management.azure.com/';
export const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com/';
export const DEFAULT_IMDS_ENDPOINT = 'http://169.254.169.254/';
/** Refresh this long before a token expires. */
export const REFRESH_MARGIN_MS = 5 * 60 * 1000;
const MAX_ASSERTION_BYTES = 64 * 1024;

export interface AccessToken {
  readonly token: string;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
}

/** Something that hands out bearer tokens for Resource Manager. */
export interface TokenCredential {
  /** What this credential is, for messages ("client secret of app ... in tenant ..."). */
  readonly description: string;
  getToken(): Promise<string>;
}

/** A tenant ID, or how to learn it (azure_imds looks it up from the tenant's domain). */
export type TenantSource = string | (() => Promise<string>);

export interface CredentialOptions extends HttpOptions {
  /** Clock in milliseconds (tests). */
  readonly now?: () => number;
}

abstract class CachingCredential implements TokenCredential {
  private cached: AccessToken | undefined;
  private inflight: Promise<AccessToken> | undefined;
  /** How many tokens were requested from the service (tests, diagnostics). */
  requests = 0;

  constructor(protected readonly opts: CredentialOptions) {}

  abstract readonly description: string;
  protected abstract fetchToken(): Promise<AccessToken>;

  protected now(): number {
    return (this.opts.now ?? Date.now)();
  }

  async getToken(): Promise<string> {
    const c = this.cached;
    if (c && c.expiresAt - REFRESH_MARGIN_MS > this.now()) return c.token;
    this.inflight ??= (async () => {
      try {
        this.requests++;
        const t = await this.fetchToken();
        this.cached = t;
        return t;
      } finally {
        this.inflight = undefined;
      }
    })();
    return (await this.inflight).token;
  }
}

function tokenFrom(doc: Record<string, unknown>, what: string, now: number): AccessToken {
  const token = doc.access_token;
  if (typeof token !== 'string' || token === '') throw new AzureError(`${what}: response has no access_token`);
  if (doc.token_type !== undefined && typeof doc.token_type === 'string' && doc.token_type.toLowerCase() !== 'bearer') {
    throw new AzureError(`${what}: unexpected token_type ${JSON.stringify(doc.token_type)}`);
  }
  // Entra answers expires_in as a number, IMDS as strings (expires_in and the absolute expires_on).
  const expiresOn = Number(doc.expires_on);
  const expiresIn = Number(doc.expires_in);
  let expiresAt: number;
  if (doc.expires_on !== undefined && Number.isFinite(expiresOn) && expiresOn > 0) expiresAt = expiresOn * 1000;
  else if (doc.expires_in !== undefined && Number.isFinite(expiresIn) && expiresIn > 0) expiresAt = now + expiresIn * 1000;
  else throw new AzureError(`${what}: response has no usable expires_in/expires_on`);
  return { token, expiresAt };
}

async function resolveTenant(t: TenantSource): Promise<string> {
  const id = typeof t === 'string' ? t : await t();
  if (!/^[A-Za-z0-9.-]+$/.test(id)) throw new AzureError(`invalid tenant ID ${JSON.stringify(id)}`);
  return id;
}

abstract class EntraCredential extends CachingCredential {
  constructor(
    protected readonly authorityHost: string,
    protected readonly tenant: TenantSource,
    protected readonly clientId: string,
    opts: CredentialOptions,
  ) {
    super(opts);
  }

  protected abstract form(): Promise<Record<string, string>>;

  protected async fetchToken(): Promise<AccessToken> {
    const tenantId = await resolveTenant(this.tenant);
    const url = `${this.authorityHost}${tenantId}/oauth2/v2.0/token`;
    const what = `unable to get an access token for app ${JSON.stringify(this.clientId)} from ${url}`;
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: this.clientId, scope: RESOURCE_MANAGER_SCOPE, ...(await this.form()) });
    const doc = await requestJson(url, { method: 'POST', what, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() }, this.opts);
    return tokenFrom(doc, what, this.now());
  }
}

/** OAuth2 client credentials with an application secret (SPIRE's `app_id`/`app_secret`). */
export class ClientSecretCredential extends EntraCredential {
  constructor(authorityHost: string, tenant: TenantSource, clientId: string, private readonly secret: string, opts: CredentialOptions = {}) {
    super(authorityHost, tenant, clientId, opts);
  }
  get description(): string {
    return `client secret of app ${JSON.stringify(this.clientId)}`;
  }
  protected form(): Promise<Record<string, string>> {
    return Promise.resolve({ client_secret: this.secret });
  }
}

/** OAuth2 client credentials with a federated token (a JWT) read from `tokenPath` for every request. */
export class ClientAssertionCredential extends EntraCredential {
  constructor(authorityHost: string, tenant: TenantSource, clientId: string, private readonly tokenPath: string, opts: CredentialOptions = {}) {
    super(authorityHost, tenant, clientId, opts);
  }
  get description(): string {
    return `federated token ${JSON.stringify(this.tokenPath)} of app ${JSON.stringify(this.clientId)}`;
  }
  protected async form(): Promise<Record<string, string>> {
    let text: string;
    try {
      const buf = await readFile(this.tokenPath);
      if (buf.length > MAX_ASSERTION_BYTES) throw new Error(`larger than ${MAX_ASSERTION_BYTES} bytes`);
      text = buf.toString('utf8').trim();
    } catch (err) {
      throw new AzureError(`unable to read token file ${JSON.stringify(this.tokenPath)}: ${(err as Error).message}`);
    }
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(text)) {
      throw new AzureError(`unable to parse token file ${JSON.stringify(this.tokenPath)}: not a compact JWT`);
    }
    return { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: text };
  }
}

/** The managed identity of the VM this process runs on (system-assigned, or user-assigned by client ID). */
export class ManagedIdentityCredential extends CachingCredential {
  constructor(private readonly imdsEndpoint: string, private readonly clientId = '', opts: CredentialOptions = {}) {
    super(opts);
  }
  get description(): string {
    return this.clientId ? `managed identity ${JSON.stringify(this.clientId)}` : 'managed identity of this VM';
  }
  protected async fetchToken(): Promise<AccessToken> {
    const q = new URLSearchParams({ 'api-version': '2018-02-01', resource: RESOURCE_MANAGER_RESOURCE });
    if (this.clientId) q.set('client_id', this.clientId);
    const url = `${this.imdsEndpoint}metadata/identity/oauth2/token?${q.toString()}`;
    const what = `unable to get a managed identity access token from ${this.imdsEndpoint}`;
    const doc = await requestJson(url, { what, headers: { Metadata: 'true' } }, this.opts);
    return tokenFrom(doc, what, this.now());
  }
}

export interface DefaultCredentialOptions extends CredentialOptions {
  readonly authorityHost: string;
  readonly imdsEndpoint: string;
  /** The tenant the workload identity authenticates in (SPIRE passes the configured tenant). */
  readonly tenant: TenantSource;
  /** The process environment (tests pass their own). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** The server-relevant part of azidentity's DefaultAzureCredential (see the module comment). */
export function defaultAzureCredential(o: DefaultCredentialOptions): TokenCredential {
  const env = o.env ?? process.env;
  const clientId = env.AZURE_CLIENT_ID ?? '';
  if (env.AZURE_TENANT_ID && clientId && env.AZURE_CLIENT_SECRET) {
    return new ClientSecretCredential(o.authorityHost, env.AZURE_TENANT_ID, clientId, env.AZURE_CLIENT_SECRET, o);
  }
  if (env.AZURE_FEDERATED_TOKEN_FILE && clientId) {
    return new ClientAssertionCredential(o.authorityHost, o.tenant, clientId, env.AZURE_FEDERATED_TOKEN_FILE, o);
  }
  return new ManagedIdentityCredential(o.imdsEndpoint, clientId, o);
}

/** The compute metadata of the VM this process runs on (`GET <imds>metadata/instance`), as SPIRE's FetchInstanceMetadata checks it. */
export async function fetchInstanceCompute(imdsEndpoint: string, opts: HttpOptions = {}): Promise<{ name: string; subscriptionId: string; resourceGroupName: string }> {
  const url = `${imdsEndpoint}metadata/instance?api-version=2021-02-01&format=json`;
  const what = `unable to fetch instance metadata from ${imdsEndpoint}`;
  const doc = await requestJson(url, { what, headers: { Metadata: 'true' } }, opts);
  const compute = doc.compute;
  const c = typeof compute === 'object' && compute !== null ? (compute as Record<string, unknown>) : {};
  const str = (k: string): string => (typeof c[k] === 'string' ? (c[k] as string) : '');
  if (!str('name')) throw new AzureError(`${what}: response missing instance name`);
  if (!str('subscriptionId')) throw new AzureError(`${what}: response missing instance subscription id`);
  if (!str('resourceGroupName')) throw new AzureError(`${what}: response missing instance resource group name`);
  return { name: str('name'), subscriptionId: str('subscriptionId'), resourceGroupName: str('resourceGroupName') };
}
