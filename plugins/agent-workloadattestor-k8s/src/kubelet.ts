import { X509Certificate } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { checkServerIdentity, createSecureContext, type PeerCertificate } from 'node:tls';
import { readBounded } from '@spire-ts/workloadattestor-kit';
import type { KubeletConfig } from './config.js';

/** Largest CA bundle, certificate or key file read. */
const MAX_PEM_FILE_BYTES = 1024 * 1024;
/** Largest token file read (service account tokens are a few KiB). */
const MAX_TOKEN_BYTES = 64 * 1024;
/** How much of a non-200 answer is quoted in the error. */
const MAX_ERROR_BODY = 1024;

/** Why a kubelet request failed: `config` (files), `unavailable` (network, timeout), `auth` (401/403), `response` (other status, size, JSON). */
export type KubeletErrorKind = 'config' | 'unavailable' | 'auth' | 'response';

export class KubeletError extends Error {
  override readonly name = 'KubeletError';
  constructor(
    readonly kind: KubeletErrorKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** What is read from disk to talk to the kubelet; re-read every `reload_interval`. */
export interface KubeletCredentials {
  caPem: string;
  token: string;
  certPem: string;
  keyPem: string;
}

function why(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.code === 'ENOENT') return `open ${e.path ?? ''}: no such file or directory`;
  if (e?.code === 'EACCES') return `open ${e.path ?? ''}: permission denied`;
  if (e?.code === 'EISDIR') return `read ${e.path ?? ''}: is a directory`;
  return err instanceof Error ? err.message : String(err);
}

async function readFileFor(path: string, limit: number, what: string): Promise<string> {
  try {
    return await readBounded(path, limit);
  } catch (err) {
    throw new KubeletError('config', `unable to load ${what}: ${why(err)}`, { cause: err });
  }
}

/** The certificates of a PEM bundle; throws when there is none or one does not parse. */
export function parseCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error('no PEM certificates found');
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new Error(`certificate ${i + 1}: ${(err as Error).message}`, { cause: err });
    }
  });
}

/** Reads the CA, token or client key pair as SPIRE does (anonymous wins, then the key pair, then the token). */
export async function loadCredentials(cfg: KubeletConfig): Promise<KubeletCredentials> {
  const creds: KubeletCredentials = { caPem: '', token: '', certPem: '', keyPem: '' };
  if (!cfg.secure) return creds;
  if (!cfg.skipVerification) {
    creds.caPem = await readFileFor(cfg.caPath, MAX_PEM_FILE_BYTES, 'kubelet CA');
    try {
      parseCertificates(creds.caPem);
    } catch (err) {
      throw new KubeletError('config', `unable to parse kubelet CA ${JSON.stringify(cfg.caPath)}: ${(err as Error).message}`, { cause: err });
    }
  }
  if (cfg.anonymous) return creds;
  if (cfg.certificatePath !== '' || cfg.privateKeyPath !== '') {
    if (cfg.privateKeyPath === '') throw new KubeletError('config', 'the private key path is required with the certificate path');
    if (cfg.certificatePath === '') throw new KubeletError('config', 'the certificate path is required with the private key path');
    creds.certPem = await readFileFor(cfg.certificatePath, MAX_PEM_FILE_BYTES, 'certificate');
    creds.keyPem = await readFileFor(cfg.privateKeyPath, MAX_PEM_FILE_BYTES, 'private key');
    try {
      createSecureContext({ cert: creds.certPem, key: creds.keyPem });
    } catch (err) {
      throw new KubeletError('config', `unable to load keypair: ${(err as Error).message}`, { cause: err });
    }
    return creds;
  }
  let token: string;
  try {
    token = (await readBounded(cfg.tokenPath, MAX_TOKEN_BYTES)).trim();
  } catch (err) {
    const tooBig = err instanceof Error && /larger|exceed|limit/i.test(err.message);
    throw new KubeletError('config', `unable to load token: ${tooBig ? `${cfg.tokenPath} is larger than ${MAX_TOKEN_BYTES} bytes` : why(err)}`, { cause: err });
  }
  if (token === '') throw new KubeletError('config', `unable to load token: ${JSON.stringify(cfg.tokenPath)} is empty`);
  if (/[\r\n\0]/.test(token)) throw new KubeletError('config', `unable to load token: ${JSON.stringify(cfg.tokenPath)} holds more than one line`);
  creds.token = token;
  return creds;
}

function sameTransport(a: KubeletCredentials, b: KubeletCredentials): boolean {
  return a.caPem === b.caPem && a.certPem === b.certPem && a.keyPem === b.keyPem;
}

/**
 * One kubelet endpoint with its credentials: `GET /pods`, bounded in time
 * and size. The HTTP agent (kept-alive connections, TLS settings) is
 * reused by {@link KubeletClient.withCredentials} when only the token changed.
 */
export class KubeletClient {
  readonly url: string;
  private readonly agent: HttpAgent | HttpsAgent;

  constructor(
    readonly config: KubeletConfig,
    readonly credentials: KubeletCredentials,
    agent?: HttpAgent | HttpsAgent,
  ) {
    const host = isIP(config.host) === 6 ? `[${config.host}]` : config.host;
    this.url = `${config.secure ? 'https' : 'http'}://${host}:${config.port}/pods`;
    this.agent = agent ?? KubeletClient.newAgent(config, credentials);
  }

  private static newAgent(config: KubeletConfig, creds: KubeletCredentials): HttpAgent | HttpsAgent {
    if (!config.secure) return new HttpAgent({ keepAlive: true, maxSockets: 2 });
    const nodeName = config.nodeName;
    return new HttpsAgent({
      keepAlive: true,
      maxSockets: 2,
      rejectUnauthorized: !config.skipVerification,
      ...(config.skipVerification ? {} : { ca: creds.caPem }),
      // Without a node name SPIRE checks the chain only (the kubelet's
      // certificate rarely names 127.0.0.1); with one, the certificate must name it.
      checkServerIdentity: (_host: string, cert: PeerCertificate) => (config.skipVerification || nodeName === '' ? undefined : checkServerIdentity(nodeName, cert)),
      ...(nodeName !== '' && isIP(nodeName) === 0 ? { servername: nodeName } : {}),
      ...(creds.certPem !== '' ? { cert: creds.certPem, key: creds.keyPem } : {}),
    });
  }

  /** A client with freshly loaded credentials, sharing this one's connections when the TLS material is unchanged. */
  withCredentials(config: KubeletConfig, creds: KubeletCredentials): KubeletClient {
    if (configKey(config) === configKey(this.config) && sameTransport(creds, this.credentials)) return new KubeletClient(config, creds, this.agent);
    return new KubeletClient(config, creds);
  }

  close(): void {
    this.agent.destroy();
  }

  /** Whether both clients share one HTTP agent (closing one would close the other's connections). */
  sharesAgentWith(other: KubeletClient): boolean {
    return this.agent === other.agent;
  }

  /** The raw `/pods` body. */
  getPodList(signal?: AbortSignal): Promise<Buffer> {
    const { requestTimeoutMs, maxResponseBytes } = this.config;
    const url = this.url;
    return new Promise<Buffer>((resolve, reject) => {
      let settled = false;
      const finish = (err: KubeletError | undefined, body?: Buffer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err) {
          req.destroy();
          reject(err);
        } else resolve(body!);
      };
      const headers: Record<string, string> = { Accept: 'application/json' };
      if (this.credentials.token !== '') headers.Authorization = `Bearer ${this.credentials.token}`;
      const opts = { host: this.config.host, port: this.config.port, path: '/pods', method: 'GET', headers, agent: this.agent };
      const req = (this.config.secure ? httpsRequest : httpRequest)(opts, (res) => this.onResponse(res, url, maxResponseBytes, finish));
      const timer = setTimeout(
        () => finish(new KubeletError('unavailable', `unable to perform request to ${url}: no complete answer within ${requestTimeoutMs} ms`)),
        requestTimeoutMs,
      );
      const onAbort = () => finish(new KubeletError('unavailable', `request to ${url} cancelled`));
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => finish(new KubeletError('unavailable', `unable to perform request to ${url}: ${err.message}`, { cause: err })));
      req.end();
    });
  }

  private onResponse(res: IncomingMessage, url: string, max: number, finish: (err: KubeletError | undefined, body?: Buffer) => void): void {
    const status = res.statusCode ?? 0;
    const chunks: Buffer[] = [];
    let size = 0;
    if (status !== 200) {
      res.on('data', (c: Buffer) => {
        if (size < MAX_ERROR_BODY) chunks.push(c.subarray(0, MAX_ERROR_BODY - size));
        size += c.length;
        if (size >= MAX_ERROR_BODY) done();
      });
      const done = () => {
        const text = Buffer.concat(chunks).toString('utf8').trim().replace(/\s+/g, ' ');
        const line = `${status} ${res.statusMessage ?? ''}`.trim();
        if (status === 401 || status === 403) {
          const hint = this.credentials.token !== '' ? 'the bearer token' : this.credentials.certPem !== '' ? 'the client certificate' : 'anonymous access';
          finish(new KubeletError('auth', `kubelet at ${url} refused ${hint}: ${line}${text ? `: ${text}` : ''}`));
        } else {
          finish(new KubeletError('response', `unexpected status code on pods response from ${url}: ${line}${text ? `: ${text}` : ''}`));
        }
      };
      res.on('end', done);
      res.on('error', done);
      return;
    }
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      finish(new KubeletError('response', `pods response from ${url} is ${declared} bytes, over the limit of ${max} bytes`));
      return;
    }
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        finish(new KubeletError('response', `pods response from ${url} is over the limit of ${max} bytes`));
        return;
      }
      chunks.push(c);
    });
    res.on('end', () => finish(undefined, Buffer.concat(chunks, size)));
    res.on('error', (err) => finish(new KubeletError('unavailable', `unable to read pods response from ${url}: ${err.message}`, { cause: err })));
    res.on('aborted', () => finish(new KubeletError('unavailable', `unable to read pods response from ${url}: connection closed mid-answer`)));
  }
}

function configKey(c: KubeletConfig): string {
  return JSON.stringify([c.secure, c.host, c.port, c.nodeName, c.skipVerification]);
}

/** Builds a client for `config`, reusing `previous`'s connections when possible. */
export async function buildKubeletClient(config: KubeletConfig, previous?: KubeletClient): Promise<KubeletClient> {
  const creds = await loadCredentials(config);
  return previous ? previous.withCredentials(config, creds) : new KubeletClient(config, creds);
}
