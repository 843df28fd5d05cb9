/**
 * The HTTP plumbing of the Azure clients: every request has a timeout,
 * refuses redirects and reads at most a fixed number of bytes, and every
 * failure is an {@link AzureError} carrying what the service said (HTTP
 * status, the `error.code`/`error.message` of Resource Manager's error body
 * or the `error`/`error_description` of Microsoft Entra's).
 */
import { PluginError } from '@spire-ts/plugin-sdk';

export class AzureError extends Error {
  override readonly name = 'AzureError';
  constructor(
    message: string,
    /** HTTP status, when the service answered. */
    readonly status?: number,
    /** The service's error code (`ResourceNotFound`, `invalid_client`, ...). */
    readonly code?: string,
  ) {
    super(message);
  }
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export interface HttpOptions {
  readonly timeoutMs?: number;
  readonly maxResponseBytes?: number;
}

export interface JsonRequest {
  readonly method?: 'GET' | 'POST';
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** What is being done, for messages ("request token from ..."). */
  readonly what: string;
}

async function readCapped(res: Response, max: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? '');
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => undefined);
    throw new AzureError(`${what}: response larger than ${max} bytes`, res.status);
  }
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => undefined);
      throw new AzureError(`${what}: response larger than ${max} bytes`, res.status);
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks, total);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The code and message of an Azure error body (Resource Manager or Microsoft Entra shape). */
export function describeErrorBody(body: Buffer): { code?: string; message?: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    const text = body.toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 200);
    return text ? { message: text } : {};
  }
  if (!isObject(doc)) return {};
  const clip = (v: unknown): string | undefined => (typeof v === 'string' && v ? v.slice(0, 500) : undefined);
  if (isObject(doc.error)) {
    const r: { code?: string; message?: string } = {};
    const code = clip(doc.error.code);
    const message = clip(doc.error.message);
    if (code) r.code = code;
    if (message) r.message = message;
    return r;
  }
  const r: { code?: string; message?: string } = {};
  const code = clip(doc.error);
  const message = clip(doc.error_description);
  if (code) r.code = code;
  if (message) r.message = message.split(/\r?\n/)[0];
  return r;
}

/** Sends a request and returns the JSON object of a 200 answer; anything else is an {@link AzureError}. */
export async function requestJson(url: string, req: JsonRequest, opts: HttpOptions = {}): Promise<Record<string, unknown>> {
  const max = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const init: RequestInit = {
    method: req.method ?? 'GET',
    redirect: 'error',
    signal: AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    headers: { accept: 'application/json', ...req.headers },
  };
  if (req.body !== undefined) init.body = req.body;
  let res: Response;
  let body: Buffer;
  try {
    res = await fetch(url, init);
    body = await readCapped(res, max, req.what);
  } catch (err) {
    if (err instanceof AzureError) throw err;
    const e = err as Error & { cause?: { message?: string } };
    const reason = e.name === 'TimeoutError' ? `timed out after ${opts.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms` : `${e.message}${e.cause?.message ? ` (${e.cause.message})` : ''}`;
    throw new AzureError(`${req.what}: ${reason}`);
  }
  if (res.status !== 200) {
    const { code, message } = describeErrorBody(body);
    const detail = code && message ? `${code}: ${message}` : (code ?? message ?? 'no error details');
    throw new AzureError(`${req.what}: HTTP ${res.status}: ${detail}`, res.status, code);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new AzureError(`${req.what}: response is not JSON: ${(err as Error).message}`, res.status);
  }
  if (!isObject(doc)) throw new AzureError(`${req.what}: response is not a JSON object`, res.status);
  return doc;
}

/** A base URL with a trailing slash: https, or http to a loopback address (tests); `key` names the setting in errors. */
export function checkBaseUrl(value: string, key: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new AzureError(`${key} ${JSON.stringify(value)} is not a URL`);
  }
  const loopback = u.hostname === 'localhost' || u.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(u.hostname);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) {
    throw new AzureError(`${key} ${JSON.stringify(value)} must be an https URL (http is allowed for loopback addresses only)`);
  }
  if (u.search || u.hash) throw new AzureError(`${key} ${JSON.stringify(value)} must not have a query or fragment`);
  return u.href.endsWith('/') ? u.href : `${u.href}/`;
}

/** Like {@link checkBaseUrl}, but http is allowed for any host (the IMDS link-local address is plain http). */
export function checkMetadataUrl(value: string, key: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new AzureError(`${key} ${JSON.stringify(value)} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new AzureError(`${key} ${JSON.stringify(value)} must be an http(s) URL`);
  if (u.search || u.hash) throw new AzureError(`${key} ${JSON.stringify(value)} must not have a query or fragment`);
  return u.href.endsWith('/') ? u.href : `${u.href}/`;
}

/**
 * A configured endpoint: `raw`, or `fallback` when unset, checked with
 * `check` (e.g. {@link checkBaseUrl}); a bad value is the plugin's
 * InvalidArgument naming `key`.
 */
export function configuredUrl(check: (value: string, key: string) => string, raw: string, fallback: string, key: string): string {
  try {
    return check(raw || fallback, key);
  } catch (err) {
    if (err instanceof AzureError) throw PluginError.invalidArgument(err.message);
    throw err;
  }
}
