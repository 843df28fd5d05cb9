/**
 * A minimal Docker Engine API client over node:http: the two inspects the
 * attestor needs, API version negotiation as the Docker client does it, a
 * deadline on every exchange and a cap on every answer.
 */
import { request, type IncomingHttpHeaders } from 'node:http';

/** Newest Engine API version this client speaks (what it asks for when the engine is newer). */
export const CLIENT_MAX_API_VERSION = '1.47';
/** What the Docker client assumes of an engine whose `/_ping` names no version. */
export const FALLBACK_API_VERSION = '1.24';
/** Largest engine answer read, in bytes. */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** Where the engine listens, from `unix:///path` or `tcp://host:port`. */
export type EngineAddress = { kind: 'unix'; socketPath: string } | { kind: 'tcp'; host: string; port: number };

export class EngineAddressError extends Error {
  override readonly name = 'EngineAddressError';
}

export function parseEngineAddress(addr: string): EngineAddress {
  if (addr.startsWith('unix://')) {
    const socketPath = addr.slice('unix://'.length);
    if (!socketPath.startsWith('/')) throw new EngineAddressError(`${JSON.stringify(addr)}: a unix socket path must be absolute (unix:///path/to/socket)`);
    return { kind: 'unix', socketPath };
  }
  if (addr.startsWith('tcp://')) {
    let url: URL;
    try {
      url = new URL(`http://${addr.slice('tcp://'.length)}`);
    } catch {
      throw new EngineAddressError(`${JSON.stringify(addr)} is not a valid tcp://host:port address`);
    }
    if (url.pathname !== '/' || url.search !== '' || url.port === '') throw new EngineAddressError(`${JSON.stringify(addr)} is not a valid tcp://host:port address`);
    return { kind: 'tcp', host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) };
  }
  throw new EngineAddressError(`unsupported scheme in ${JSON.stringify(addr)}: want unix:///path/to/socket or tcp://host:port`);
}

/** Why an exchange with the engine failed. */
export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    message: string,
    /** `unreachable`/`timeout`/5xx are worth retrying; `status` 4xx, `too-large` and `malformed` are not. */
    readonly kind: 'unreachable' | 'timeout' | 'status' | 'too-large' | 'malformed',
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  get transient(): boolean {
    return this.kind === 'unreachable' || this.kind === 'timeout' || (this.kind === 'status' && (this.status ?? 0) >= 500);
  }
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export function compareApiVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const API_VERSION = /^\d{1,3}\.\d{1,3}$/;

/** `docker_version` as the Docker client takes it (an optional leading `v` is dropped). */
export function normaliseApiVersion(v: string): string | undefined {
  const t = v.startsWith('v') ? v.slice(1) : v;
  return API_VERSION.test(t) ? t : undefined;
}

/** What the attestor reads of `GET /containers/{id}/json`. */
export interface ContainerInspect {
  id: string;
  /** Top-level `Image`: the image ID (`sha256:...`). */
  image: string;
  config: { image: string; labels: Record<string, string>; env: string[] };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseContainerInspect(body: Buffer): ContainerInspect {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new EngineError(`container inspect answer is not JSON: ${(err as Error).message}`, 'malformed');
  }
  if (!isRecord(doc)) throw new EngineError('container inspect answer is not a JSON object', 'malformed');
  const config = doc.Config ?? {};
  if (!isRecord(config)) throw new EngineError('container inspect answer: Config is not an object', 'malformed');
  const labelsIn = config.Labels ?? {};
  if (!isRecord(labelsIn)) throw new EngineError('container inspect answer: Config.Labels is not an object', 'malformed');
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(labelsIn)) {
    if (typeof v !== 'string') throw new EngineError(`container inspect answer: label ${JSON.stringify(k)} is not a string`, 'malformed');
    labels[k] = v;
  }
  const envIn = config.Env ?? [];
  if (!Array.isArray(envIn) || !envIn.every((e): e is string => typeof e === 'string')) {
    throw new EngineError('container inspect answer: Config.Env is not a list of strings', 'malformed');
  }
  const image = config.Image ?? '';
  if (typeof image !== 'string') throw new EngineError('container inspect answer: Config.Image is not a string', 'malformed');
  const id = doc.Id ?? '';
  const top = doc.Image ?? '';
  if (typeof id !== 'string' || typeof top !== 'string') throw new EngineError('container inspect answer: Id or Image is not a string', 'malformed');
  return { id, image: top, config: { image, labels, env: envIn } };
}

/** Escapes each `/`-separated part of an image reference (the Engine routes `/images/{name:.*}/json`). */
function imagePath(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}

/** A client of one engine. Negotiates the API version once (unless pinned) and keeps it. */
export class EngineClient {
  private version: string | undefined;

  constructor(
    readonly address: string,
    private readonly target: EngineAddress,
    pinnedVersion: string | undefined,
  ) {
    this.version = pinnedVersion;
  }

  /** The API version in use, once known. */
  get apiVersion(): string | undefined {
    return this.version;
  }

  /** One GET, bounded by `signal` and by {@link MAX_RESPONSE_BYTES}. */
  get(path: string, signal: AbortSignal): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      if (signal.aborted) {
        reject(this.timeoutError(path));
        return;
      }
      const where = this.target.kind === 'unix' ? { socketPath: this.target.socketPath } : { host: this.target.host, port: this.target.port };
      const req = request({ ...where, path, method: 'GET', headers: { Host: 'docker', 'User-Agent': 'spire-ts-workloadattestor-docker', Accept: 'application/json' }, agent: false });
      let done = false;
      const finish = (err: Error | undefined, answer?: Answer) => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        if (err) {
          req.destroy();
          reject(err);
        } else resolve(answer!);
      };
      const onAbort = () => finish(this.timeoutError(path));
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => finish(new EngineError(`docker engine at ${this.address} is unreachable: ${err.message}`, 'unreachable', undefined, { cause: err })));
      req.on('response', (res) => {
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > MAX_RESPONSE_BYTES) {
          finish(this.tooLarge(path, `${declared} bytes`));
          return;
        }
        const chunks: Buffer[] = [];
        let total = 0;
        res.on('data', (chunk: Buffer) => {
          total += chunk.length;
          if (total > MAX_RESPONSE_BYTES) {
            finish(this.tooLarge(path, `more than ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks, total) }));
        res.on('error', (err) => finish(new EngineError(`docker engine at ${this.address}: reading the answer to GET ${path}: ${err.message}`, 'unreachable', undefined, { cause: err })));
        res.on('aborted', () => finish(new EngineError(`docker engine at ${this.address} closed the connection during GET ${path}`, 'unreachable')));
      });
      req.end();
    });
  }

  private timeoutError(path: string): EngineError {
    return new EngineError(`docker engine at ${this.address} did not answer GET ${path} in time`, 'timeout');
  }

  private tooLarge(path: string, size: string): EngineError {
    return new EngineError(`docker engine at ${this.address}: the answer to GET ${path} is ${size}, over the ${MAX_RESPONSE_BYTES}-byte limit`, 'too-large');
  }

  /** The engine's message of an error answer (`{"message": ...}`), or its start. */
  private static message(a: Answer): string {
    const text = a.body.toString('utf8');
    try {
      const doc: unknown = JSON.parse(text);
      if (isRecord(doc) && typeof doc.message === 'string') return doc.message;
    } catch {
      // not JSON: quote it
    }
    return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}...` : text);
  }

  /**
   * The API version to use: the pinned one, or (negotiated once, as the
   * Docker client does) the engine's `/_ping` `API-Version` capped at ours;
   * an engine that names none is taken to speak 1.24.
   */
  async negotiate(signal: AbortSignal): Promise<string> {
    if (this.version !== undefined) return this.version;
    const a = await this.get('/_ping', signal);
    if (a.status >= 500) throw new EngineError(`docker engine at ${this.address}: GET /_ping: HTTP ${a.status}: ${EngineClient.message(a)}`, 'status', a.status);
    const header = a.headers['api-version'];
    const offered = typeof header === 'string' ? normaliseApiVersion(header.trim()) : undefined;
    let v = offered ?? FALLBACK_API_VERSION;
    if (compareApiVersions(v, CLIENT_MAX_API_VERSION) > 0) v = CLIENT_MAX_API_VERSION;
    this.version = v;
    return v;
  }

  private async getJson(path: string, signal: AbortSignal, what: string): Promise<Answer> {
    const version = await this.negotiate(signal);
    const full = `/v${version}${path}`;
    const a = await this.get(full, signal);
    if (a.status === 200) return a;
    if (a.status === 404) throw new EngineError(`${what} not found by the docker engine at ${this.address}: ${EngineClient.message(a)}`, 'status', 404);
    throw new EngineError(`docker engine at ${this.address}: GET ${full}: HTTP ${a.status}: ${EngineClient.message(a)}`, 'status', a.status);
  }

  async inspectContainer(id: string, signal: AbortSignal): Promise<ContainerInspect> {
    const a = await this.getJson(`/containers/${encodeURIComponent(id)}/json`, signal, `container ${JSON.stringify(id)}`);
    return parseContainerInspect(a.body);
  }

  /** The image's `Id` (its config digest). */
  async inspectImageId(name: string, signal: AbortSignal): Promise<string> {
    const a = await this.getJson(`/images/${imagePath(name)}/json`, signal, `image ${JSON.stringify(name)}`);
    let doc: unknown;
    try {
      doc = JSON.parse(a.body.toString('utf8'));
    } catch (err) {
      throw new EngineError(`image inspect answer is not JSON: ${(err as Error).message}`, 'malformed');
    }
    if (!isRecord(doc) || typeof doc.Id !== 'string') throw new EngineError('image inspect answer has no string Id', 'malformed');
    return doc.Id;
  }
}
