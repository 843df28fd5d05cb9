/**
 * Sources: objects that stay current from the Workload API's streams (and
 * reconnect when the agent restarts), for TLS and JWT helpers to read from.
 */
import { WorkloadApiClient, type Watch, type Watcher, type WorkloadApiClientOptions, type X509Context } from './client.js';
import { validateJwtSvid, type JwtBundle, type JwtBundleSet, type JwtBundleSource, type JwtSvid, type ValidateJwtOptions } from './jwt.js';
import type { TrustDomain } from './spiffeid.js';
import type { X509Bundle, X509BundleSet, X509BundleSource, X509Svid } from './x509.js';

/** Options shared by every source. */
export interface SourceOptions extends WorkloadApiClientOptions {
  /** Use this client (not closed by the source) instead of making one. */
  client?: WorkloadApiClient;
  /** How long `create()` waits for the first update (default 30000 ms). */
  startTimeoutMs?: number;
}

type Listener<T> = (value: T) => void;

/** Listener bookkeeping and the first-update wait shared by the sources. */
abstract class SourceBase<T> {
  protected readonly client: WorkloadApiClient;
  readonly #ownsClient: boolean;
  readonly #updates = new Set<Listener<T>>();
  readonly #errors = new Set<Listener<Error>>();
  protected readonly watches: Watch[] = [];
  #closed = false;

  protected constructor(opts: SourceOptions) {
    this.client = opts.client ?? new WorkloadApiClient(opts);
    this.#ownsClient = !opts.client;
  }

  /**
   * Subscribes to updates (`'update'`, with the new value) or errors
   * (`'error'`: a stream failed; the source keeps its last value and
   * reconnects). Returns a function that unsubscribes.
   */
  on(event: 'update', listener: Listener<T>): () => void;
  on(event: 'error', listener: Listener<Error>): () => void;
  on(event: 'update' | 'error', listener: Listener<T> | Listener<Error>): () => void {
    const set = (event === 'update' ? this.#updates : this.#errors) as Set<typeof listener>;
    set.add(listener);
    return () => set.delete(listener);
  }

  protected emitUpdate(value: T): void {
    for (const l of [...this.#updates]) {
      try {
        l(value);
      } catch (err) {
        this.emitError(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }

  protected emitError(err: Error): void {
    for (const l of [...this.#errors]) {
      try {
        l(err);
      } catch {
        // listeners must not break the source
      }
    }
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  protected checkOpen(): void {
    if (this.#closed) throw new Error('spiffe: source is closed');
  }

  /** Resolves once `ready()` returns true; rejects with the last stream error after `timeoutMs`. */
  protected waitReady(ready: () => boolean, timeoutMs: number): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let last: Error | undefined;
      const offU = this.on('update', () => {
        if (ready()) done();
      });
      const offE = this.on('error', (e) => (last = e));
      const timer = setTimeout(() => {
        cleanup();
        this.close();
        reject(new Error(`spiffe: no update from the Workload API at ${this.client.target} within ${timeoutMs} ms${last ? `: ${last.message}` : ''}`, { cause: last }));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        offU();
        offE();
      };
      const done = (): void => {
        cleanup();
        resolve();
      };
    });
  }

  protected watcher<V>(apply: (v: V) => void): Watcher<V> {
    return { onUpdate: apply, onError: (e) => this.emitError(e) };
  }

  /** Stops the streams (and closes the client if the source made it). Values stay readable but no longer change. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.watches) w.close();
    if (this.#ownsClient) this.client.close();
    this.#updates.clear();
    this.#errors.clear();
  }
}

/** Chooses the SVID to present among several (default: the first). */
export type SvidPicker = (svids: readonly X509Svid[]) => X509Svid;

/**
 * The workload's X.509-SVID and X.509 bundles, kept current from
 * FetchX509SVID.
 *
 * @example
 * ```ts
 * const source = await X509Source.create(); // SPIFFE_ENDPOINT_SOCKET
 * source.getX509Svid().id.toString();
 * source.on('update', (ctx) => log(`rotated: ${ctx.svids[0].certificates[0].serialNumber}`));
 * source.getX509Bundle('example.org');
 * source.close();
 * ```
 */
export class X509Source extends SourceBase<X509Context> implements X509BundleSource {
  #ctx: X509Context | undefined;
  readonly #picker: SvidPicker;

  private constructor(opts: SourceOptions & { picker?: SvidPicker }) {
    super(opts);
    this.#picker = opts.picker ?? ((s) => s[0]!);
  }

  /** Connects and resolves once the first SVID arrived. */
  static async create(opts: SourceOptions & { picker?: SvidPicker } = {}): Promise<X509Source> {
    const s = new X509Source(opts);
    s.watches.push(
      s.client.watchX509Context(
        s.watcher((ctx) => {
          s.#ctx = ctx;
          s.emitUpdate(ctx);
        }),
      ),
    );
    await s.waitReady(() => s.#ctx !== undefined, opts.startTimeoutMs ?? 30_000);
    return s;
  }

  /** The SVID to present (the picker's choice, by default the first). */
  getX509Svid(): X509Svid {
    this.checkOpen();
    return this.#picker(this.#ctx!.svids);
  }

  /** Every SVID and bundle. */
  getX509Context(): X509Context {
    this.checkOpen();
    return this.#ctx!;
  }

  getX509Bundle(td: TrustDomain | string): X509Bundle | undefined {
    this.checkOpen();
    return this.#ctx!.bundles.getX509Bundle(td);
  }

  /** Every bundle (own trust domain and federated). */
  getX509Bundles(): X509Bundle[] {
    this.checkOpen();
    return this.#ctx!.bundles.bundles();
  }
}

/**
 * JWT-SVIDs on demand, and JWT bundles kept current from FetchJWTBundles for
 * validating tokens locally.
 *
 * @example
 * ```ts
 * const jwt = await JwtSource.create();
 * const svid = await jwt.fetchJwtSvid({ audience: ['spiffe://example.org/api'] });
 * // on the receiving side:
 * const caller = jwt.validate(svid.token, 'spiffe://example.org/api');
 * ```
 */
export class JwtSource extends SourceBase<JwtBundleSet> implements JwtBundleSource {
  #bundles: JwtBundleSet | undefined;

  private constructor(opts: SourceOptions) {
    super(opts);
  }

  static async create(opts: SourceOptions = {}): Promise<JwtSource> {
    const s = new JwtSource(opts);
    s.watches.push(
      s.client.watchJwtBundles(
        s.watcher((b) => {
          s.#bundles = b;
          s.emitUpdate(b);
        }),
      ),
    );
    await s.waitReady(() => s.#bundles !== undefined, opts.startTimeoutMs ?? 30_000);
    return s;
  }

  /** A JWT-SVID for the audiences (the default identity, or `spiffeId`). */
  async fetchJwtSvid(req: { audience: readonly string[]; spiffeId?: string }): Promise<JwtSvid> {
    this.checkOpen();
    const svids = await this.client.fetchJwtSvids(req);
    const svid = svids[0];
    if (!svid) throw new Error('spiffe: the Workload API returned no JWT-SVID');
    return svid;
  }

  /** Every JWT-SVID of the workload for the audiences. */
  fetchJwtSvids(req: { audience: readonly string[]; spiffeId?: string }): Promise<JwtSvid[]> {
    this.checkOpen();
    return this.client.fetchJwtSvids(req);
  }

  getJwtBundle(td: TrustDomain | string): JwtBundle | undefined {
    this.checkOpen();
    return this.#bundles!.getJwtBundle(td);
  }

  /** Validates a JWT-SVID locally against the current bundles; throws a `JwtSvidError` if invalid. */
  validate(token: string, audience: string | readonly string[], opts: Omit<ValidateJwtOptions, 'audience'> = {}): JwtSvid {
    this.checkOpen();
    return validateJwtSvid(token, this, { ...opts, audience });
  }
}

/**
 * X.509 and JWT bundles (no SVID of its own), for a workload that only
 * verifies others.
 *
 * @example
 * ```ts
 * const bundles = await BundleSource.create();
 * verifyX509Svid(peerChain, bundles);
 * ```
 */
export class BundleSource extends SourceBase<{ x509: X509BundleSet; jwt: JwtBundleSet }> implements X509BundleSource, JwtBundleSource {
  #x509: X509BundleSet | undefined;
  #jwt: JwtBundleSet | undefined;

  private constructor(opts: SourceOptions) {
    super(opts);
  }

  static async create(opts: SourceOptions = {}): Promise<BundleSource> {
    const s = new BundleSource(opts);
    const changed = (): void => {
      if (s.#x509 && s.#jwt) s.emitUpdate({ x509: s.#x509, jwt: s.#jwt });
    };
    s.watches.push(
      s.client.watchX509Bundles(
        s.watcher((b) => {
          s.#x509 = b;
          changed();
        }),
      ),
      s.client.watchJwtBundles(
        s.watcher((b) => {
          s.#jwt = b;
          changed();
        }),
      ),
    );
    await s.waitReady(() => s.#x509 !== undefined && s.#jwt !== undefined, opts.startTimeoutMs ?? 30_000);
    return s;
  }

  getX509Bundle(td: TrustDomain | string): X509Bundle | undefined {
    this.checkOpen();
    return this.#x509!.getX509Bundle(td);
  }

  getJwtBundle(td: TrustDomain | string): JwtBundle | undefined {
    this.checkOpen();
    return this.#jwt!.getJwtBundle(td);
  }
}
