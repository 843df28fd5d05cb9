import type { Logger } from '@spire-ts/plugin-sdk';
import type { KubeletConfig } from './config.js';
import { KubeletError, buildKubeletClient, type KubeletClient } from './kubelet.js';

/** Pods of one kubelet listing by UID, with a version that grows with each successful listing. */
export interface VersionedPodList {
  readonly pods: ReadonlyMap<string, unknown>;
  readonly version: number;
}

export type FetchResult = { ok: true; list: VersionedPodList } | { ok: false; error: KubeletError };

export class FetcherClosedError extends Error {
  override readonly name = 'FetcherClosedError';
  constructor() {
    super('pod list fetcher is closed');
  }
}

/** Splits a `/pods` body into pods by `metadata.uid`. */
export function parsePodList(body: Buffer, url: string, log?: Logger): Map<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new KubeletError('response', `unable to parse kubelet response from ${url}: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new KubeletError('response', 'invalid kubelet response: expected an object');
  const items = (doc as { items?: unknown }).items;
  if (items === undefined || (items !== null && !Array.isArray(items))) throw new KubeletError('response', 'invalid kubelet response: expected an items array');
  const pods = new Map<string, unknown>();
  for (const pod of (items ?? []) as unknown[]) {
    const md = (pod as { metadata?: { uid?: unknown; name?: unknown } } | null)?.metadata;
    const uid = typeof md?.uid === 'string' ? md.uid : '';
    if (uid === '') {
      log?.warn('Pod has no UID', { pod: typeof md?.name === 'string' ? md.name : '' });
      continue;
    }
    pods.set(uid, pod);
  }
  return pods;
}

interface Waiter {
  (result: FetchResult): void;
}

/**
 * Shares kubelet `/pods` requests among concurrent attestations, as SPIRE's
 * pod list fetcher: at most one request in flight; request starts at least
 * `poll_retry_interval` apart; a successful listing is served from cache
 * to callers that have not seen it while it is younger than that interval;
 * otherwise callers wait for the next request. Credentials are re-read
 * (and the client rebuilt) at the first request after `reload_interval`.
 */
export class PodListFetcher {
  private config: KubeletConfig | undefined;
  private pollIntervalMs = 0;
  private client: KubeletClient | undefined;
  private clientLoadedAt = 0;
  private lastFetchStart = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = false;
  private readonly waiters = new Set<Waiter>();
  private cached: (VersionedPodList & { fetchStart: number }) | undefined;
  private version = 0;
  private closed = false;
  private retired: KubeletClient[] = [];

  constructor(private readonly log?: Logger) {}

  /** Builds the kubelet client (reading CA, token, key pair): a failure leaves the previous configuration in place. */
  async configure(config: KubeletConfig, pollIntervalMs: number): Promise<void> {
    if (this.closed) throw new FetcherClosedError();
    const client = await buildKubeletClient(config, this.client);
    this.install(client);
    this.config = config;
    this.pollIntervalMs = pollIntervalMs;
    this.stopTimer();
    this.schedule();
  }

  get url(): string | undefined {
    return this.client?.url;
  }

  /**
   * A listing newer than `afterVersion`: the cached one while fresh, else
   * the result of the next shared request. A failed request resolves with
   * its error (the caller decides whether to retry).
   */
  fetchNext(afterVersion: number, signal?: AbortSignal): Promise<FetchResult> {
    if (this.closed) return Promise.reject(new FetcherClosedError());
    const c = this.cached;
    if (c && afterVersion < c.version && Date.now() < c.fetchStart + this.pollIntervalMs) return Promise.resolve({ ok: true, list: c });
    return new Promise<FetchResult>((resolve, reject) => {
      const waiter: Waiter = (r) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(r);
      };
      const onAbort = () => {
        this.waiters.delete(waiter);
        if (this.waiters.size === 0) this.stopTimer();
        reject(signal?.reason instanceof Error ? signal.reason : new Error('cancelled'));
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
      this.schedule();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopTimer();
    const err = new FetcherClosedError();
    for (const w of this.waiters) w({ ok: false, error: new KubeletError('unavailable', err.message) });
    this.waiters.clear();
    this.client?.close();
    for (const c of this.retired) c.close();
    this.retired = [];
  }

  private install(client: KubeletClient): void {
    const old = this.client;
    this.client = client;
    this.clientLoadedAt = Date.now();
    if (old && !old.sharesAgentWith(client)) {
      // Close now if idle; an in-flight request on it finishes first.
      if (this.inFlight) this.retired.push(old);
      else old.close();
    }
  }

  private schedule(): void {
    if (this.closed || !this.config || this.inFlight || this.timer || this.waiters.size === 0) return;
    const delay = this.lastFetchStart === 0 ? 0 : this.pollIntervalMs - (Date.now() - this.lastFetchStart);
    if (delay <= 0) {
      this.start();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.waiters.size > 0) this.start();
    }, delay);
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private start(): void {
    const config = this.config!;
    this.inFlight = true;
    this.lastFetchStart = Date.now();
    const fetchStart = this.lastFetchStart;
    const version = this.version + 1;
    void this.fetch(config).then((res) => {
      this.inFlight = false;
      for (const c of this.retired) c.close();
      this.retired = [];
      if (this.closed) return;
      let result: FetchResult;
      if (res instanceof KubeletError) result = { ok: false, error: res };
      else {
        this.version = version;
        this.cached = { pods: res, version, fetchStart };
        result = { ok: true, list: this.cached };
      }
      const waiters = [...this.waiters];
      this.waiters.clear();
      for (const w of waiters) w(result);
      this.schedule();
    });
  }

  private async fetch(config: KubeletConfig): Promise<Map<string, unknown> | KubeletError> {
    try {
      let client = this.client;
      let orphan: KubeletClient | undefined;
      if (!client || Date.now() - this.clientLoadedAt >= config.reloadIntervalMs) {
        const reloaded = await buildKubeletClient(config, client);
        // A configure() meanwhile wins over this reload.
        if (this.client === client && this.config === config) this.install(reloaded);
        else if (!this.client || !reloaded.sharesAgentWith(this.client)) orphan = reloaded;
        client = reloaded;
      }
      try {
        const body = await client.getPodList();
        return parsePodList(body, client.url, this.log);
      } finally {
        orphan?.close();
      }
    } catch (err) {
      if (err instanceof KubeletError) return err;
      return new KubeletError('response', err instanceof Error ? err.message : String(err), { cause: err });
    }
  }
}
