/**
 * The Compute Engine API client behind `use_instance_metadata`: one
 * `instances.get` per attestation (SPIRE's), authorised with an OAuth 2.0
 * access token from
 * - `service_account_file` (a service account key JSON): a JWT signed with
 *   the account's key, exchanged at its `token_uri` (RFC 7523), as Google's
 *   client libraries do;
 * - otherwise Application Default Credentials: the key file named by
 *   GOOGLE_APPLICATION_CREDENTIALS, else the metadata server's token of the
 *   VM the server runs on (GCE_METADATA_HOST, default metadata.google.internal).
 * Tokens are cached until a minute before they expire.
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const COMPUTE_API_URL = 'https://compute.googleapis.com/compute/v1/';
const SCOPE = 'https://www.googleapis.com/auth/compute.readonly';
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** The parts of a Compute Engine `Instance` the selectors use. */
export interface ComputeInstance {
  tags?: { items?: string[] };
  labels?: Record<string, string>;
  metadata?: { items?: Array<{ key?: string; value?: string | null }> };
}

export class ComputeError extends Error {}

interface ServiceAccountKey {
  clientEmail: string;
  key: KeyObject;
  keyId: string | undefined;
  tokenUri: string;
}

/** Reads and checks a service account key file; errors name the file and what is wrong. */
export function readServiceAccountFile(path: string): ServiceAccountKey {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ComputeError(`cannot read service account file ${JSON.stringify(path)}: ${(err as Error).message}`);
  }
  const o = (raw ?? {}) as Record<string, unknown>;
  if (o.type !== 'service_account') throw new ComputeError(`service account file ${JSON.stringify(path)}: "type" is ${JSON.stringify(o.type)}, want "service_account"`);
  const str = (k: string): string => {
    const v = o[k];
    if (typeof v !== 'string' || v === '') throw new ComputeError(`service account file ${JSON.stringify(path)}: "${k}" is missing`);
    return v;
  };
  let key: KeyObject;
  try {
    key = createPrivateKey(str('private_key'));
  } catch (err) {
    throw new ComputeError(`service account file ${JSON.stringify(path)}: "private_key" is not a PEM private key: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'rsa') throw new ComputeError(`service account file ${JSON.stringify(path)}: "private_key" is ${key.asymmetricKeyType ?? 'unknown'}, want RSA`);
  const tokenUri = typeof o.token_uri === 'string' && o.token_uri ? o.token_uri : 'https://oauth2.googleapis.com/token';
  return { clientEmail: str('client_email'), key, keyId: typeof o.private_key_id === 'string' ? o.private_key_id : undefined, tokenUri };
}

async function fetchJson(url: string, init: RequestInit, what: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), redirect: 'error' });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    throw new ComputeError(`${what}: ${url}: ${cause ?? (err as Error).message}`);
  }
  const len = Number(res.headers.get('content-length') ?? '0');
  if (len > MAX_BODY_BYTES) throw new ComputeError(`${what}: ${url}: answer of ${len} bytes is over the ${MAX_BODY_BYTES}-byte limit`);
  const text = await res.text();
  if (text.length > MAX_BODY_BYTES) throw new ComputeError(`${what}: ${url}: answer is over the ${MAX_BODY_BYTES}-byte limit`);
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const e = body as { error?: { message?: string } | string; error_description?: string } | undefined;
    const msg = typeof e?.error === 'object' ? e.error.message : [e?.error, e?.error_description].filter(Boolean).join(': ');
    throw new ComputeError(`${what}: ${url}: HTTP ${res.status}${msg ? `: ${msg}` : ''}`);
  }
  if (body === undefined) throw new ComputeError(`${what}: ${url}: the answer is not JSON`);
  return body;
}

/** OAuth 2.0 access tokens for the Compute API. */
export class GoogleCredentials {
  private cached: { token: string; until: number } | undefined;
  private pending: Promise<string> | undefined;

  constructor(
    private readonly serviceAccountFile: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly now: () => number = Date.now,
  ) {}

  token(): Promise<string> {
    if (this.cached && this.cached.until > this.now()) return Promise.resolve(this.cached.token);
    this.pending ??= this.fetchToken().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async fetchToken(): Promise<string> {
    const file = this.serviceAccountFile || this.env.GOOGLE_APPLICATION_CREDENTIALS || '';
    const body = file ? await this.fromKey(readServiceAccountFile(file)) : await this.fromMetadataServer();
    const o = body as { access_token?: unknown; expires_in?: unknown };
    if (typeof o.access_token !== 'string' || !o.access_token) throw new ComputeError('the token endpoint answered without an access_token');
    const ttl = typeof o.expires_in === 'number' && o.expires_in > 0 ? o.expires_in : 3600;
    this.cached = { token: o.access_token, until: this.now() + Math.max(0, ttl - 60) * 1000 };
    return o.access_token;
  }

  private fromKey(sa: ServiceAccountKey): Promise<unknown> {
    const iat = Math.floor(this.now() / 1000);
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', ...(sa.keyId ? { kid: sa.keyId } : {}) })).toString('base64url');
    const claims = Buffer.from(JSON.stringify({ iss: sa.clientEmail, scope: SCOPE, aud: sa.tokenUri, iat, exp: iat + 3600 })).toString('base64url');
    const assertion = `${header}.${claims}.${sign('sha256', Buffer.from(`${header}.${claims}`), sa.key).toString('base64url')}`;
    const form = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion });
    return fetchJson(sa.tokenUri, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: form.toString() }, 'failed to get an access token');
  }

  private fromMetadataServer(): Promise<unknown> {
    const host = this.env.GCE_METADATA_HOST || 'metadata.google.internal';
    const url = `http://${host}/computeMetadata/v1/instance/service-accounts/default/token?scopes=${encodeURIComponent(SCOPE)}`;
    return fetchJson(url, { headers: { 'Metadata-Flavor': 'Google' } }, 'failed to get an access token from the metadata server (no service_account_file or GOOGLE_APPLICATION_CREDENTIALS)');
  }
}

/** `instances.get` of the Compute Engine API. */
export class ComputeClient {
  private readonly base: string;

  constructor(
    baseUrl: string,
    private readonly credentials: GoogleCredentials,
  ) {
    this.base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  }

  async instance(projectId: string, zone: string, name: string): Promise<ComputeInstance> {
    const path = `projects/${encodeURIComponent(projectId)}/zones/${encodeURIComponent(zone)}/instances/${encodeURIComponent(name)}`;
    const token = await this.credentials.token();
    const body = await fetchJson(`${this.base}${path}`, { headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } }, 'failed to fetch instance metadata');
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ComputeError(`failed to fetch instance metadata: ${path}: the answer is not an Instance`);
    return body as ComputeInstance;
  }
}

export interface InstanceSelectorOptions {
  readonly allowedLabelKeys: ReadonlySet<string>;
  readonly allowedMetadataKeys: ReadonlySet<string>;
  readonly maxMetadataValueSize: number;
}

/** SPIRE's `tag:`, `label:<k>:<v>` and `metadata:<k>:<v>` selectors of an instance (allowed keys only). */
export function instanceSelectors(instance: ComputeInstance, opts: InstanceSelectorOptions): string[] {
  const values: string[] = [];
  for (const tag of instance.tags?.items ?? []) if (typeof tag === 'string') values.push(`tag:${tag}`);
  for (const [k, v] of Object.entries(instance.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (opts.allowedLabelKeys.has(k) && typeof v === 'string') values.push(`label:${k}:${v}`);
  }
  for (const item of instance.metadata?.items ?? []) {
    if (typeof item?.key !== 'string' || !opts.allowedMetadataKeys.has(item.key)) continue;
    const value = typeof item.value === 'string' ? item.value : '';
    if (value.length > opts.maxMetadataValueSize) {
      throw new ComputeError(`metadata ${JSON.stringify(item.key)} exceeded value limit (${value.length} > ${opts.maxMetadataValueSize})`);
    }
    values.push(`metadata:${item.key}:${value}`);
  }
  return values;
}
