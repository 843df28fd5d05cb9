// Test support for the cache manager: an AgentServerApi backed by a real
// server CA (core/server's CAManager over an in-process KeyManager that uses
// the memory plugin's key code, core/server/test/key-manager.ts), a fake clock with hand-driven timers, and
// SVID checks with node:crypto.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { expect } from 'vitest';
import { memoryLogger, parseCSR, parseCertificate, validateX509Svid, type Bundle } from '@spire-ts/common';
import { CAManager } from '../../server/src/index.js';
import { InProcessKeyManager } from '../../server/test/key-manager.js';
import type { AgentEntry, AgentServerApi, JwtSvidResult, X509SvidResult } from '../src/node/server-api.js';
import { AgentManager, type AgentManagerOptions, type ManagerTimers } from '../src/manager/index.js';
import type { WorkloadIdentity } from '../src/workload/cache.js';

export const TD = 'example.org';
export const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
export const MIN = 60_000;
export const HOUR = 60 * MIN;

/** A clock whose timers fire only when the test advances it. */
export class FakeTime implements ManagerTimers {
  t = T0;
  #seq = 0;
  readonly timers = new Map<number, { at: number; fn: () => void }>();
  readonly delays: number[] = [];

  now(): Date {
    return new Date(this.t);
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.delays.push(ms);
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Moves time forward by `ms`, firing (in order) the timers that come due. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, v]) => v.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = Math.max(this.t, due[1].at);
      due[1].fn();
    }
    this.t = end;
  }
  /** The delay of the one pending timer. */
  pendingDelay(): number | undefined {
    const [first] = [...this.timers.values()];
    return first ? first.at - this.t : undefined;
  }
}

/** A gRPC-style error as the real client rejects with. */
export function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details });
}

export function entry(id: string, path: string, selectors: string[], over: Partial<AgentEntry> = {}): AgentEntry {
  return {
    id,
    spiffeId: `spiffe://${TD}${path}`,
    selectors: selectors.map((s) => ({ type: s.slice(0, s.indexOf(':')), value: s.slice(s.indexOf(':') + 1) })),
    federatesWith: [],
    admin: false,
    downstream: false,
    revisionNumber: 1,
    storeSvid: false,
    hint: '',
    createdAt: 1_700_000_000,
    disableX509SvidPrefetch: false,
    jwtSvidIncludeJti: false,
    ...over,
  };
}

/** The server side: entries, a real CA, federated bundles, and failure switches. */
export class TestServer implements AgentServerApi {
  readonly entries = new Map<string, AgentEntry>();
  readonly federated = new Map<string, Bundle>();
  readonly calls = { sync: 0, batches: [] as string[][], jwt: [] as { entryId: string; audience: string[] }[], bundle: 0, federated: [] as string[] };
  /** When set, every call fails with UNAVAILABLE. */
  down = false;
  /** Entries whose SVID requests fail. */
  readonly refuse = new Set<string>();
  /** Resolves pending JWT mints when set (to hold them). */
  jwtGate: Promise<void> | undefined;

  private constructor(
    readonly ca: CAManager,
    readonly time: FakeTime,
  ) {}

  static async create(time: FakeTime, x509SvidTtlMs = HOUR): Promise<TestServer> {
    const ca = await CAManager.create({ trustDomain: TD, clock: time, keyManager: new InProcessKeyManager(), caTtlMs: 24 * HOUR, svid: { x509SvidTtlMs, jwtSvidTtlMs: 5 * MIN } });
    return new TestServer(ca, time);
  }

  put(e: AgentEntry): void {
    this.entries.set(e.id, e);
  }

  #check(): void {
    if (this.down) throw grpcError(14, 'connection refused');
  }

  async syncAuthorizedEntries(known?: ReadonlyMap<string, AgentEntry>): Promise<AgentEntry[]> {
    this.#check();
    this.calls.sync++;
    return [...this.entries.values()].map((e) => {
      const k = known?.get(e.id);
      return k && k.revisionNumber === e.revisionNumber ? k : { ...e };
    });
  }

  async batchNewX509Svid(requests: readonly { entryId: string; csr: Uint8Array }[]): Promise<X509SvidResult[]> {
    this.#check();
    this.calls.batches.push(requests.map((r) => r.entryId));
    const out: X509SvidResult[] = [];
    for (const r of requests) {
      const e = this.entries.get(r.entryId);
      if (!e) {
        out.push({ ok: false, entryId: r.entryId, code: 5, message: 'entry not found' });
        continue;
      }
      if (this.refuse.has(r.entryId)) {
        out.push({ ok: false, entryId: r.entryId, code: 8, message: 'rate limited' });
        continue;
      }
      const csr = parseCSR(r.csr);
      expect(csr.signatureValid).toBe(true);
      expect(csr.uris).toEqual([e.spiffeId]);
      const svid = await this.ca.ca.signWorkloadX509Svid({ spiffeId: e.spiffeId, publicKeyDer: csr.publicKeyDer });
      out.push({ ok: true, entryId: r.entryId, certChain: [svid.certificate, ...svid.chain], expiresAt: Math.floor(svid.expiresAt.getTime() / 1000) });
    }
    return out;
  }

  async newJwtSvid(entryId: string, audience: readonly string[]): Promise<JwtSvidResult> {
    this.#check();
    this.calls.jwt.push({ entryId, audience: [...audience] });
    if (this.jwtGate) await this.jwtGate;
    const e = this.entries.get(entryId);
    if (!e) throw grpcError(5, 'entry not found');
    const s = await this.ca.ca.signJwtSvid({ spiffeId: e.spiffeId, audience });
    return { token: s.token, issuedAt: Math.floor(s.issuedAt.getTime() / 1000), expiresAt: Math.floor(s.expiresAt.getTime() / 1000) };
  }

  async getBundle(): Promise<Bundle> {
    this.#check();
    this.calls.bundle++;
    return this.ca.bundle();
  }

  async getFederatedBundle(trustDomain: string): Promise<Bundle | undefined> {
    this.#check();
    this.calls.federated.push(trustDomain);
    return this.federated.get(trustDomain);
  }
}

export interface Harness {
  time: FakeTime;
  server: TestServer;
  manager: AgentManager;
  log: ReturnType<typeof memoryLogger>;
  /** Advance the clock and wait for the work it started. */
  advance(ms: number): Promise<void>;
  /** Advance `ms` in steps, letting every sync that comes due run. */
  runFor(ms: number): Promise<void>;
}

export async function harness(over: Partial<AgentManagerOptions> = {}, x509SvidTtlMs = HOUR, startAt = T0): Promise<Harness> {
  const time = new FakeTime();
  time.t = startAt;
  const server = await TestServer.create(time, x509SvidTtlMs);
  const log = memoryLogger();
  const manager = new AgentManager({ api: server, trustDomain: TD, clock: time, timers: time, log, random: () => 0.5, ...over });
  return {
    time,
    server,
    manager,
    log,
    async advance(ms) {
      time.advance(ms);
      await settle(manager);
    },
    async runFor(ms) {
      const end = time.t + ms;
      for (;;) {
        const d = time.pendingDelay();
        if (d === undefined || time.t + d > end) break;
        time.advance(d);
        await settle(manager);
      }
      time.advance(end - time.t);
      await settle(manager);
    },
  };
}

/** Waits for queued syncs and mints, then for pending notifications. */
export async function settle(manager: AgentManager): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await manager.whenIdle();
    await new Promise((r) => setImmediate(r));
  }
}

/** Checks an identity with node:crypto and validateX509Svid against the bundle; returns the leaf. */
export function checkIdentity(id: WorkloadIdentity, bundle: Bundle | undefined, now: Date): X509Certificate {
  expect(bundle).toBeDefined();
  const [leafDer, ...rest] = id.certChainDer;
  const v = validateX509Svid(leafDer as Uint8Array, rest, (bundle as Bundle).x509Authorities, now);
  expect(v.spiffeId).toBe(id.spiffeId);
  const leaf = new X509Certificate(leafDer as Uint8Array);
  const issuer = [...rest, ...(bundle as Bundle).x509Authorities].map((d) => new X509Certificate(d)).find((c) => leaf.checkIssued(c));
  expect(issuer).toBeDefined();
  expect(leaf.verify(issuer!.publicKey)).toBe(true);
  expect(leaf.subjectAltName).toBe(`URI:${id.spiffeId}`);
  // The private key handed to the workload belongs to the certificate.
  expect(leaf.checkPrivateKey(createPrivateKeyFrom(id.privateKeyPkcs8Der))).toBe(true);
  expect(id.expiresAt.getTime()).toBe(parseCertificate(leafDer as Uint8Array).notAfter.getTime());
  return leaf;
}

function createPrivateKeyFrom(der: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
}
