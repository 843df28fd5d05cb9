/**
 * A Workload API client: one-shot fetches and long-lived watches over the
 * agent's streaming RPCs, which reconnect with backoff when the stream ends
 * or the agent goes away.
 */
import * as grpc from '@grpc/grpc-js';
import { createClient, type ServiceClientOf, type workload } from '@spire-ts/proto';
import { endpointFromEnv, workloadApiTarget } from './address.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { JwtBundle, JwtBundleSet, parseJwtSvidInsecure, type JwtSvid } from './jwt.js';
import { TrustDomain } from './spiffeid.js';
import { X509Bundle, X509BundleSet, parseX509Svid, type X509Svid } from './x509.js';

/** The workload's X.509 identities and the bundles to verify peers with. */
export interface X509Context {
  /** Every SVID the agent issued to this workload (the first is the default). */
  readonly svids: readonly X509Svid[];
  /** The workload's own trust domain bundle plus federated bundles. */
  readonly bundles: X509BundleSet;
}

/** Options for {@link WorkloadApiClient}. */
export interface WorkloadApiClientOptions {
  /** `unix:///path`, `unix:path` or `tcp://ip:port`; default `SPIFFE_ENDPOINT_SOCKET`. */
  address?: string;
  /** Delays between reconnection attempts of watches. */
  backoff?: BackoffOptions;
  /** Extra grpc-js channel options. */
  channelOptions?: grpc.ChannelOptions;
}

/** Callbacks of a watch. `onError` reports a failed stream; the watch retries by itself. */
export interface Watcher<T> {
  onUpdate(value: T): void;
  onError?(err: Error): void;
}

/** A running watch; `close()` stops it. */
export interface Watch {
  close(): void;
}

/** A Workload API error with its gRPC status code. */
export type WorkloadApiError = Error & { code?: grpc.status; details?: string };

/** Calls are cut after this long unless a deadline is given. */
const DEFAULT_TIMEOUT_MS = 30_000;

type Client = ServiceClientOf<'SpiffeWorkloadAPI'>;

function securityHeader(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('workload.spiffe.io', 'true');
  return md;
}

/** Parses an X509SVIDResponse into an {@link X509Context}. */
export function x509ContextFromResponse(res: workload.X509SVIDResponse__Output): X509Context {
  if (res.svids.length === 0) throw new Error('workloadapi: X509SVIDResponse holds no SVIDs');
  const svids = res.svids.map((s) => parseX509Svid(s.x509_svid, s.x509_svid_key, s.hint));
  const bundles: X509Bundle[] = [];
  const own = svids[0]!.id.trustDomain;
  bundles.push(X509Bundle.fromDer(own, res.svids[0]!.bundle));
  for (const [td, der] of Object.entries(res.federated_bundles)) {
    const t = TrustDomain.parse(td);
    if (!t.equals(own)) bundles.push(X509Bundle.fromDer(t, der));
  }
  return { svids, bundles: new X509BundleSet(bundles) };
}

function x509BundlesFromResponse(res: workload.X509BundlesResponse__Output): X509BundleSet {
  return new X509BundleSet(Object.entries(res.bundles).map(([td, der]) => X509Bundle.fromDer(td, der)));
}

function jwtBundlesFromResponse(res: workload.JWTBundlesResponse__Output): JwtBundleSet {
  return new JwtBundleSet(Object.entries(res.bundles).map(([td, jwks]) => JwtBundle.fromJwks(td, jwks)));
}

function asError(err: unknown): WorkloadApiError {
  return err instanceof Error ? (err as WorkloadApiError) : new Error(String(err));
}

/**
 * A client for the SPIFFE Workload API served by the agent.
 *
 * @example
 * ```ts
 * const client = new WorkloadApiClient(); // SPIFFE_ENDPOINT_SOCKET
 * const ctx = await client.fetchX509Context();
 * console.log(ctx.svids[0].id.toString());
 * const [jwt] = await client.fetchJwtSvids({ audience: ['spiffe://example.org/api'] });
 * client.close();
 * ```
 */
export class WorkloadApiClient {
  readonly target: string;
  readonly #client: Client;
  readonly #backoff: BackoffOptions;
  readonly #watches = new Set<Watch>();
  #closed = false;

  constructor(opts: WorkloadApiClientOptions = {}) {
    this.target = workloadApiTarget(opts.address ?? endpointFromEnv());
    this.#backoff = opts.backoff ?? {};
    const maxBackoff = Math.min(this.#backoff.maxMs ?? 30_000, 5_000);
    this.#client = createClient('SpiffeWorkloadAPI', this.target, grpc.credentials.createInsecure(), {
      // The channel's own reconnect backoff must not outlast the watches' retries.
      'grpc.initial_reconnect_backoff_ms': Math.min(this.#backoff.initialMs ?? 1000, 1000),
      'grpc.max_reconnect_backoff_ms': maxBackoff,
      ...opts.channelOptions,
    });
  }

  #deadline(timeoutMs?: number): grpc.CallOptions {
    return { deadline: Date.now() + (timeoutMs ?? DEFAULT_TIMEOUT_MS) };
  }

  #first<T>(stream: grpc.ClientReadableStream<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      stream.once('data', (m: T) => {
        resolve(m);
        stream.cancel();
      });
      stream.once('error', (err: unknown) => reject(asError(err)));
      stream.once('end', () => reject(new Error('workloadapi: stream ended before the first message')));
    });
  }

  /** The current X.509-SVIDs and bundles (the first message of FetchX509SVID). */
  async fetchX509Context(opts: { timeoutMs?: number } = {}): Promise<X509Context> {
    return x509ContextFromResponse(await this.#first(this.#client.FetchX509SVID({}, securityHeader(), this.#deadline(opts.timeoutMs))));
  }

  /** The current X.509 bundles of every trust domain the workload trusts. */
  async fetchX509Bundles(opts: { timeoutMs?: number } = {}): Promise<X509BundleSet> {
    return x509BundlesFromResponse(await this.#first(this.#client.FetchX509Bundles({}, securityHeader(), this.#deadline(opts.timeoutMs))));
  }

  /** The current JWT bundles. */
  async fetchJwtBundles(opts: { timeoutMs?: number } = {}): Promise<JwtBundleSet> {
    return jwtBundlesFromResponse(await this.#first(this.#client.FetchJWTBundles({}, securityHeader(), this.#deadline(opts.timeoutMs))));
  }

  /**
   * JWT-SVIDs for `audience` (every identity of the workload, or only
   * `spiffeId`). The tokens are read, not verified: they come from the agent.
   */
  fetchJwtSvids(req: { audience: readonly string[]; spiffeId?: string; timeoutMs?: number }): Promise<JwtSvid[]> {
    if (req.audience.length === 0) return Promise.reject(new Error('workloadapi: at least one audience is required'));
    return new Promise((resolve, reject) => {
      this.#client.FetchJWTSVID({ audience: [...req.audience], spiffe_id: req.spiffeId ?? '' }, securityHeader(), this.#deadline(req.timeoutMs), (err, res) => {
        if (err || !res) return reject(asError(err ?? new Error('workloadapi: empty FetchJWTSVID response')));
        try {
          resolve(res.svids.map((s) => parseJwtSvidInsecure(s.svid, s.hint)));
        } catch (e) {
          reject(asError(e));
        }
      });
    });
  }

  /** Asks the agent to validate a JWT-SVID for `audience`; resolves to the token's SPIFFE ID and claims. */
  validateJwtSvid(token: string, audience: string, opts: { timeoutMs?: number } = {}): Promise<JwtSvid> {
    return new Promise((resolve, reject) => {
      this.#client.ValidateJWTSVID({ audience, svid: token }, securityHeader(), this.#deadline(opts.timeoutMs), (err, res) => {
        if (err || !res) return reject(asError(err ?? new Error('workloadapi: empty ValidateJWTSVID response')));
        try {
          resolve(parseJwtSvidInsecure(token));
        } catch (e) {
          reject(asError(e));
        }
      });
    });
  }

  /** Watches FetchX509SVID: `onUpdate` on every new snapshot; reconnects with backoff. */
  watchX509Context(watcher: Watcher<X509Context>): Watch {
    return this.#watch(() => this.#client.FetchX509SVID({}, securityHeader()), x509ContextFromResponse, watcher);
  }

  /** Watches FetchX509Bundles. */
  watchX509Bundles(watcher: Watcher<X509BundleSet>): Watch {
    return this.#watch(() => this.#client.FetchX509Bundles({}, securityHeader()), x509BundlesFromResponse, watcher);
  }

  /** Watches FetchJWTBundles. */
  watchJwtBundles(watcher: Watcher<JwtBundleSet>): Watch {
    return this.#watch(() => this.#client.FetchJWTBundles({}, securityHeader()), jwtBundlesFromResponse, watcher);
  }

  #watch<M, T>(open: () => grpc.ClientReadableStream<M>, convert: (m: M) => T, watcher: Watcher<T>): Watch {
    if (this.#closed) throw new Error('workloadapi: client is closed');
    const backoff = new Backoff(this.#backoff);
    let stream: grpc.ClientReadableStream<M> | undefined;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const report = (err: Error): void => {
      try {
        watcher.onError?.(err);
      } catch {
        // a throwing callback must not stop the watch
      }
    };
    const retry = (err: Error): void => {
      if (stopped) return;
      stream = undefined;
      report(err);
      timer = setTimeout(start, backoff.next());
    };
    const start = (): void => {
      timer = undefined;
      if (stopped) return;
      const s = open();
      stream = s;
      let failed = false;
      const fail = (err: Error): void => {
        if (failed || stream !== s) return;
        failed = true;
        s.cancel();
        retry(err);
      };
      s.on('data', (m: M) => {
        if (stream !== s) return;
        let value: T;
        try {
          value = convert(m);
        } catch (err) {
          fail(asError(err));
          return;
        }
        backoff.reset();
        try {
          watcher.onUpdate(value);
        } catch (err) {
          report(asError(err));
        }
      });
      s.on('error', (err: unknown) => fail(asError(err)));
      s.on('end', () => fail(new Error('workloadapi: stream ended by the agent')));
    };
    const watch: Watch = {
      close: () => {
        if (stopped) return;
        stopped = true;
        if (timer) clearTimeout(timer);
        const s = stream;
        stream = undefined;
        s?.cancel();
        this.#watches.delete(watch);
      },
    };
    this.#watches.add(watch);
    start();
    return watch;
  }

  /** Stops every watch and closes the channel. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of [...this.#watches]) w.close();
    this.#client.close();
  }
}
