/**
 * A minimal IMDSv2 client: a session token from `PUT /latest/api/token`
 * (with the TTL header), then `GET /latest/dynamic/instance-identity/...`
 * with the token. IMDSv1 (no token) is never used. Every response is
 * bounded in time and size.
 */

export class ImdsError extends Error {
  override readonly name = 'ImdsError';
}

export const DEFAULT_IMDS_ENDPOINT = 'http://169.254.169.254';
export const TOKEN_TTL_SECONDS = 21600;
const TIMEOUT_MS = 5000;
const MAX_BODY_BYTES = 64 * 1024;

/**
 * The base URL requests are made under. SPIRE's doc shows endpoints both
 * with and without the `/latest` suffix (AWS SDK v1 vs v2 style): both work.
 */
export function imdsBase(endpoint: string): string {
  let base = endpoint || DEFAULT_IMDS_ENDPOINT;
  base = base.replace(/\/+$/, '');
  if (base.endsWith('/latest')) base = base.slice(0, -'/latest'.length);
  return base;
}

async function readBounded(res: Response, what: string): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > MAX_BODY_BYTES) throw new ImdsError(`${what}: response of ${declared} bytes exceeds ${MAX_BODY_BYTES}`);
  const body = Buffer.from(await res.arrayBuffer());
  if (body.length > MAX_BODY_BYTES) throw new ImdsError(`${what}: response of ${body.length} bytes exceeds ${MAX_BODY_BYTES}`);
  return body.toString('utf8');
}

async function request(url: string, init: RequestInit, what: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    throw new ImdsError(`${what}: ${url}: ${(err as Error).message}${cause ? ` (${cause})` : ''}`);
  }
  const body = await readBounded(res, what);
  if (res.status !== 200) {
    throw new ImdsError(`${what}: ${url} answered HTTP ${res.status}${body ? `: ${body.slice(0, 200)}` : ''}`);
  }
  return body;
}

export class ImdsClient {
  private readonly base: string;

  constructor(endpoint: string) {
    this.base = imdsBase(endpoint);
  }

  async token(): Promise<string> {
    const token = await request(
      `${this.base}/latest/api/token`,
      { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_SECONDS) } },
      'failed to get an IMDSv2 session token',
    );
    if (!token || /[\r\n]/.test(token)) throw new ImdsError('failed to get an IMDSv2 session token: the token is empty or malformed');
    return token;
  }

  /** `GET /latest/dynamic/<path>` with the session token. */
  async dynamic(path: string, token: string): Promise<string> {
    return request(
      `${this.base}/latest/dynamic/${path}`,
      { method: 'GET', headers: { 'X-aws-ec2-metadata-token': token } },
      `failed to read ${path} from the instance metadata service`,
    );
  }
}
