/**
 * A minimal kube-apiserver client over node:http(s): the three calls the
 * attestor makes (TokenReview create, pod get, node get), with the
 * kubeconfig's TLS trust and credentials, a timeout and a response size cap.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { ApiServerConnection } from './kubeconfig.js';

/** The parts of `authentication.k8s.io/v1` TokenReviewStatus the attestor reads. */
export interface TokenReviewStatus {
  authenticated: boolean;
  error: string;
  audiences: string[];
  user: { username: string; uid: string; extra: Record<string, string[]> };
}

/** The parts of a core/v1 Pod the attestor reads. */
export interface Pod {
  name: string;
  namespace: string;
  uid: string;
  nodeName: string;
  hostIP: string;
  labels: Record<string, string>;
}

/** The parts of a core/v1 Node the attestor reads. */
export interface Node {
  name: string;
  uid: string;
  labels: Record<string, string>;
}

/** A non-2xx answer from the API server, with its Status message. */
export class ApiServerError extends Error {
  override readonly name = 'ApiServerError';
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ApiClientOptions {
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
  /** Largest response body (default 4 MiB). */
  maxResponseBytes?: number;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const asStr = (v: unknown): string => (typeof v === 'string' ? v : '');

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObj(v)) return out;
  for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

function stringListMap(v: unknown): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (!isObj(v)) return out;
  for (const [k, val] of Object.entries(v)) {
    if (Array.isArray(val)) out[k] = val.filter((x): x is string => typeof x === 'string');
  }
  return out;
}

/** The API server's own explanation in a failure body (a metav1.Status), if any. */
function statusMessage(body: string): string {
  try {
    const doc = JSON.parse(body) as unknown;
    if (isObj(doc) && typeof doc.message === 'string' && doc.message !== '') return doc.message;
  } catch {
    // not JSON
  }
  const text = body.replace(/\s+/g, ' ').trim();
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

export class ApiServerClient {
  private readonly timeoutMs: number;
  private readonly maxBytes: number;

  constructor(
    private readonly conn: ApiServerConnection,
    opts: ApiClientOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxBytes = opts.maxResponseBytes ?? 4 * 1024 * 1024;
  }

  /** POST a TokenReview for `token` with `audiences` (none: the API server's own audience). */
  async tokenReview(token: string, audiences: readonly string[]): Promise<TokenReviewStatus> {
    const body = {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token, ...(audiences.length > 0 ? { audiences } : {}) },
    };
    const doc = await this.call('POST', '/apis/authentication.k8s.io/v1/tokenreviews', body);
    const status = isObj(doc.status) ? doc.status : {};
    const user = isObj(status.user) ? status.user : {};
    return {
      authenticated: status.authenticated === true,
      error: asStr(status.error),
      audiences: Array.isArray(status.audiences) ? status.audiences.filter((x): x is string => typeof x === 'string') : [],
      user: { username: asStr(user.username), uid: asStr(user.uid), extra: stringListMap(user.extra) },
    };
  }

  async getPod(namespace: string, name: string): Promise<Pod> {
    const doc = await this.call('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`);
    const meta = isObj(doc.metadata) ? doc.metadata : {};
    const spec = isObj(doc.spec) ? doc.spec : {};
    const status = isObj(doc.status) ? doc.status : {};
    return {
      name: asStr(meta.name),
      namespace: asStr(meta.namespace),
      uid: asStr(meta.uid),
      nodeName: asStr(spec.nodeName),
      hostIP: asStr(status.hostIP),
      labels: stringMap(meta.labels),
    };
  }

  async getNode(name: string): Promise<Node> {
    const doc = await this.call('GET', `/api/v1/nodes/${encodeURIComponent(name)}`);
    const meta = isObj(doc.metadata) ? doc.metadata : {};
    return { name: asStr(meta.name), uid: asStr(meta.uid), labels: stringMap(meta.labels) };
  }

  private call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Obj> {
    const c = this.conn;
    const url = new URL(c.server);
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'spire-ts-k8s_psat' };
    if (data) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(data.length);
    }
    if (c.bearerToken) headers.Authorization = `Bearer ${c.bearerToken}`;
    else if (c.basicAuth) headers.Authorization = `Basic ${Buffer.from(`${c.basicAuth.username}:${c.basicAuth.password}`).toString('base64')}`;
    const https = url.protocol === 'https:';
    const opts: RequestOptions = {
      method,
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port || (https ? 443 : 80),
      path: `${url.pathname.replace(/\/+$/, '')}${path}`,
      headers,
      timeout: this.timeoutMs,
      ...(https
        ? {
            ...(c.ca ? { ca: c.ca } : {}),
            ...(c.clientCert && c.clientKey ? { cert: c.clientCert, key: c.clientKey } : {}),
            rejectUnauthorized: !c.insecureSkipTlsVerify,
            ...(c.tlsServerName ? { servername: c.tlsServerName } : {}),
            agent: false,
          }
        : { agent: false }),
    };
    const where = `${method} ${c.server}${path.split('?')[0]}`;
    return new Promise<Obj>((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(opts, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.maxBytes) {
            req.destroy(new Error(`${where}: response larger than ${this.maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const code = res.statusCode ?? 0;
          if (code < 200 || code > 299) {
            reject(new ApiServerError(code, `${where}: ${code} ${res.statusMessage ?? ''}: ${statusMessage(text)}`.replace(/ +:/, ':')));
            return;
          }
          let doc: unknown;
          try {
            doc = JSON.parse(text);
          } catch {
            reject(new Error(`${where}: response is not JSON`));
            return;
          }
          if (!isObj(doc)) reject(new Error(`${where}: response is not a JSON object`));
          else resolve(doc);
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${where}: no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err) => reject(err.message.startsWith(where) ? err : new Error(`${where}: ${err.message}`)));
      req.end(data);
    });
  }
}
