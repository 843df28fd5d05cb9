/**
 * Keeps federated bundles fresh (SPIRE's pkg/server/bundle/client manager and
 * updater): the relationships come from the configuration
 * (`federation.federates_with`) merged with those in the DataStore (TrustDomain
 * API), the configuration winning on a conflict; they are re-read every 10 s
 * or when the TrustDomain API changes one. Each trust domain is polled on its
 * own schedule: a quarter of the bundle's refresh hint (at least 1 min, so
 * every 15 s at the most), 5 min when the bundle has no hint. A fetched bundle
 * is stored only when it differs from the stored one; on any failure the
 * stored bundle stays.
 */
import type { Bundle, Logger } from '@spire-ts/common';
import type { BundleEndpointProfile, DataStore } from '../plugin/datastore/datastore.js';
import { bundlesEqual, fetchFederatedBundle, type FetchBundleOptions } from './client.js';

/** Where a federated trust domain's bundle is fetched from and how the endpoint is authenticated. */
export interface TrustDomainConfig {
  readonly bundleEndpointUrl: string;
  readonly profile: BundleEndpointProfile;
}

export interface BundleManagerOptions {
  /** This server's trust domain (never managed). */
  readonly trustDomain: string;
  readonly ds: DataStore;
  readonly log: Logger;
  /** Relationships from the configuration file, by bare trust domain. */
  readonly configured: ReadonlyMap<string, TrustDomainConfig>;
  /** How often the relationships are re-read (SPIRE: 10 s). */
  readonly configRefreshMs?: number;
  /** The smallest refresh hint honoured (SPIRE: 1 min). */
  readonly minimumRefreshHintMs?: number;
  /** Extra Web PKI CAs (PEM) for `https_web` endpoints. */
  readonly extraWebCasPem?: string;
  readonly now?: () => Date;
  /** Replaces the HTTPS fetch (tests). */
  readonly fetch?: (o: FetchBundleOptions) => Promise<Bundle>;
}

const CONFIG_REFRESH_MS = 10_000;
const DEFAULT_REFRESH_MS = 5 * 60_000;
const MINIMUM_REFRESH_HINT_MS = 60_000;
const ATTEMPTS_PER_REFRESH_HINT = 4;
const LIST_PAGE = 1000;

/** The outcome of one update: the stored bundle before it and the fetched one if it was stored. */
export interface UpdateResult {
  readonly local: Bundle | undefined;
  readonly fetched: Bundle | undefined;
}

const sameConfig = (a: TrustDomainConfig, b: TrustDomainConfig): boolean =>
  a.bundleEndpointUrl === b.bundleEndpointUrl &&
  a.profile.type === b.profile.type &&
  (a.profile.type !== 'https_spiffe' || (b.profile.type === 'https_spiffe' && a.profile.endpointSpiffeId === b.profile.endpointSpiffeId));

class Updater {
  config: TrustDomainConfig;
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  #stopped = false;

  constructor(
    readonly trustDomain: string,
    config: TrustDomainConfig,
    private readonly m: BundleRefreshManager,
  ) {
    this.config = config;
  }

  /** Runs `updateBundle` after any update in flight (one at a time per trust domain). */
  update(): Promise<UpdateResult> {
    const run = this.#chain.then(() => this.m.updateBundle(this.trustDomain, this.config));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  start(): void {
    void this.#tick();
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    const next = await this.m.runUpdateOnce(this);
    if (this.#stopped) return;
    this.m.log.debug('Scheduling next bundle refresh', { trust_domain: this.trustDomain, at: new Date(Date.now() + next).toISOString() });
    this.#timer = setTimeout(() => void this.#tick(), next);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#chain;
  }
}

/** Polls the bundle endpoints of the federated trust domains. */
export class BundleRefreshManager {
  readonly log: Logger;
  readonly #o: BundleManagerOptions;
  readonly #updaters = new Map<string, Updater>();
  #configTimer: NodeJS.Timeout | undefined;
  #reloading: Promise<void> | undefined;
  #reloadAgain = false;
  #closed = false;
  readonly #abort = new AbortController();

  constructor(options: BundleManagerOptions) {
    this.#o = options;
    this.log = options.log;
  }

  /** Reads the relationships and starts polling; re-reads them periodically. */
  async start(): Promise<void> {
    await this.#reloadLogged();
    const every = this.#o.configRefreshMs ?? CONFIG_REFRESH_MS;
    this.#configTimer = setInterval(() => void this.#reloadLogged(), every);
    this.#configTimer.unref();
  }

  /** The trust domains currently polled. */
  get managed(): string[] {
    return [...this.#updaters.keys()].sort();
  }

  /** Re-reads the relationships soon (after the TrustDomain API changed one). */
  triggerConfigReload(): void {
    void this.#reloadLogged();
  }

  /**
   * Re-reads the relationships, then fetches `trustDomain`'s bundle now.
   * Resolves false when no relationship with it exists; rejects when the
   * update fails.
   */
  async refreshBundleFor(trustDomain: string): Promise<boolean> {
    await this.#reloadLogged();
    const u = this.#updaters.get(trustDomain);
    if (!u) return false;
    const r = await u.update();
    if (r.fetched) this.log.info('Bundle refreshed', { trust_domain: trustDomain });
    return true;
  }

  async #reloadLogged(): Promise<void> {
    try {
      await this.reloadConfigs();
    } catch (err) {
      this.log.error('Failed to reload configs', { error: (err as Error).message });
    }
  }

  /** The merged relationships: the DataStore's, overridden by the configuration's. */
  async #configs(): Promise<Map<string, TrustDomainConfig>> {
    const out = new Map<string, TrustDomainConfig>();
    let pageToken = '';
    let pages = 0;
    do {
      const page = await this.#o.ds.listFederationRelationships({ pageSize: LIST_PAGE, pageToken });
      for (const fr of page.items) out.set(fr.trustDomain, { bundleEndpointUrl: fr.bundleEndpointUrl, profile: fr.bundleEndpointProfile });
      pageToken = page.nextPageToken;
    } while (pageToken !== '' && ++pages < 1000);
    for (const [td, c] of this.#o.configured) out.set(td, c);
    out.delete(this.#o.trustDomain);
    return out;
  }

  /** Starts, updates and stops updaters to match the relationships (serialized; a call during a reload runs once more after it). */
  async reloadConfigs(): Promise<void> {
    if (this.#reloading) {
      this.#reloadAgain = true;
      return this.#reloading;
    }
    const run = async (): Promise<void> => {
      do {
        this.#reloadAgain = false;
        await this.#reloadOnce();
      } while (this.#reloadAgain && !this.#closed);
    };
    this.#reloading = run().finally(() => {
      this.#reloading = undefined;
    });
    return this.#reloading;
  }

  async #reloadOnce(): Promise<void> {
    if (this.#closed) return;
    const configs = await this.#configs();
    if (this.#closed) return;
    const stopping: Promise<void>[] = [];
    for (const [td, u] of this.#updaters) {
      const c = configs.get(td);
      if (!c) {
        this.log.info('Trust domain no longer managed', { trust_domain: td });
        this.#updaters.delete(td);
        stopping.push(u.stop());
      } else if (!sameConfig(u.config, c)) {
        u.config = c;
        this.log.info('Updated configuration for managed trust domain', { trust_domain: td, bundle_endpoint_url: c.bundleEndpointUrl, bundle_endpoint_profile: c.profile.type });
      }
    }
    for (const [td, c] of configs) {
      if (this.#updaters.has(td)) continue;
      this.log.info('Trust domain is now managed', { trust_domain: td, bundle_endpoint_url: c.bundleEndpointUrl, bundle_endpoint_profile: c.profile.type });
      const u = new Updater(td, c, this);
      this.#updaters.set(td, u);
      u.start();
    }
    await Promise.all(stopping);
  }

  /** One scheduled poll; returns the delay before the next one. */
  async runUpdateOnce(u: Updater): Promise<number> {
    this.log.debug('Polling for bundle update', { trust_domain: u.trustDomain });
    let r: UpdateResult;
    try {
      r = await u.update();
    } catch (err) {
      const e = err as Error & { local?: Bundle };
      this.log.error('Error updating bundle', { trust_domain: u.trustDomain, error: e.message });
      return e.local ? this.nextUpdateMs(e.local) : (this.#o.minimumRefreshHintMs ?? MINIMUM_REFRESH_HINT_MS);
    }
    if (r.fetched) {
      this.log.info('Bundle refreshed', { trust_domain: u.trustDomain });
      return this.nextUpdateMs(r.fetched);
    }
    if (r.local) return this.nextUpdateMs(r.local);
    return this.#o.minimumRefreshHintMs ?? MINIMUM_REFRESH_HINT_MS;
  }

  /** A quarter of the bundle's refresh hint (at least the minimum); the default when it has none. */
  nextUpdateMs(b: Bundle): number {
    if (!(b.refreshHint > 0)) return DEFAULT_REFRESH_MS;
    const min = this.#o.minimumRefreshHintMs ?? MINIMUM_REFRESH_HINT_MS;
    return Math.max(b.refreshHint * 1000, min) / ATTEMPTS_PER_REFRESH_HINT;
  }

  /**
   * Fetches `trustDomain`'s bundle from its endpoint and stores it if it
   * changed. Errors carry the stored bundle (`local`) when there is one.
   */
  async updateBundle(trustDomain: string, config: TrustDomainConfig): Promise<UpdateResult> {
    const ds = this.#o.ds;
    let spiffeAuth: FetchBundleOptions['spiffeAuth'];
    if (config.profile.type === 'https_spiffe') {
      const endpointId = config.profile.endpointSpiffeId;
      const endpointTd = endpointTrustDomain(endpointId);
      let endpointBundle: Bundle | undefined;
      try {
        endpointBundle = await ds.fetchBundle(endpointTd);
      } catch (err) {
        throw new Error(`failed to fetch local copy of bundle for "${endpointTd}": ${(err as Error).message}`, { cause: err });
      }
      if (!endpointBundle) {
        throw new Error(
          `can't perform SPIFFE Authentication: local copy of bundle for "${endpointTd}" not found; bootstrap it with \`spire-server bundle set -id spiffe://${endpointTd}\``,
        );
      }
      spiffeAuth = { endpointSpiffeId: endpointId, roots: endpointBundle.x509Authorities };
    }
    let local: Bundle | undefined;
    try {
      local = await ds.fetchBundle(trustDomain);
    } catch (err) {
      throw new Error(`failed to fetch local federated bundle: ${(err as Error).message}`, { cause: err });
    }
    const withLocal = (err: Error): Error => Object.assign(err, { local });
    let fetched: Bundle;
    try {
      const fetch = this.#o.fetch ?? fetchFederatedBundle;
      fetched = await fetch({
        trustDomain,
        url: config.bundleEndpointUrl,
        ...(spiffeAuth ? { spiffeAuth } : {}),
        ...(this.#o.extraWebCasPem ? { extraWebCasPem: this.#o.extraWebCasPem } : {}),
        ...(this.#o.now ? { now: this.#o.now } : {}),
        signal: this.#abort.signal,
      });
    } catch (err) {
      throw withLocal(new Error(`failed to fetch federated bundle from endpoint: ${(err as Error).message}`, { cause: err }));
    }
    if (fetched.trustDomain !== trustDomain) {
      throw withLocal(new Error(`the endpoint answered the bundle of "${fetched.trustDomain}" for "${trustDomain}"`));
    }
    if (local && bundlesEqual(fetched, local)) return { local, fetched: undefined };
    try {
      await ds.setBundle(fetched);
    } catch (err) {
      throw withLocal(new Error(`failed to store fetched federated bundle: ${(err as Error).message}`, { cause: err }));
    }
    return { local, fetched };
  }

  /** Stops polling; waits for updates in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#configTimer) clearInterval(this.#configTimer);
    this.#abort.abort();
    await this.#reloading?.catch(() => undefined);
    const all = [...this.#updaters.values()];
    this.#updaters.clear();
    await Promise.all(all.map((u) => u.stop()));
    this.log.info('Bundle refresh manager stopped');
  }
}

function endpointTrustDomain(spiffeId: string): string {
  const m = /^spiffe:\/\/([^/]+)/.exec(spiffeId);
  if (!m?.[1]) throw new Error(`endpoint SPIFFE ID ${JSON.stringify(spiffeId)} is not a SPIFFE ID`);
  return m[1];
}
