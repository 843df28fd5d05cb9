// Shared setup for the Agent/SVID API tests: the real SQL DataStore plugin on
// SQLite, the real memory KeyManager plugin, a CAManager, the entry cache,
// a movable clock, fake calls with an identified caller, and SVID checks.
import { X509Certificate, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { ManagedPlugin, buildCSR, nullLogger, parseCertificate, resolveBuiltIn, validateX509Svid } from '@spire-ts/common';
import type { RequestOf, ResponseOf, UnaryMethodOf } from '@spire-ts/common';
import type { ServiceImpl } from '@spire-ts/plugin-sdk';
import type { ServiceClientOf, ServiceName, apiTypes, serverApiAgentV1 } from '@spire-ts/proto';
import { setCaller, type Caller } from '../../src/api/caller.js';
import type { ApiDeps, NodeAttestor } from '../../src/api/deps.js';
import { CAManager } from '../../src/ca/index.js';
import { createEntryCache, type EntryCache } from '../../src/entrycache/index.js';
import { DataStoreV1 } from '../../src/plugin/datastore/v1.js';
import { KeyManagerV1 } from '../../src/plugin/keymanager/v1.js';
import { NodeAttestorV1 } from '../../src/plugin/nodeattestor/v1.js';

export const TD = 'example.org';
export const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

const DS_SERVICE = 'spire_ts.plugin.server.datastore.v1.DataStore';
const KM_SERVICE = 'spire.plugin.server.keymanager.v1.KeyManager';
const NA_SERVICE = 'spire.plugin.server.nodeattestor.v1.NodeAttestor';

export const NODE_ATTESTOR_FIXTURE = fileURLToPath(new URL('../fixtures/nodeattestor-challenge.mjs', import.meta.url));

function builtIn<N extends typeof DS_SERVICE | typeof KM_SERVICE>(type: 'DataStore' | 'KeyManager', name: string, service: N, pluginData?: string): ManagedPlugin<N> {
  const bin = resolveBuiltIn('server', type, name);
  if (!bin) throw new Error(`${type} ${name} not built`);
  return new ManagedPlugin({
    launch: { type, name, command: bin.command, args: bin.args },
    service,
    ...(pluginData === undefined ? {} : { pluginData }),
    trustDomain: TD,
    log: nullLogger,
    restart: false,
  });
}

/** The fixture NodeAttestor plugin (a child process) under `name`. */
export function fixtureNodeAttestor(name = 'test'): ManagedPlugin<typeof NA_SERVICE> {
  chmodSync(NODE_ATTESTOR_FIXTURE, 0o755);
  return new ManagedPlugin({
    launch: { type: 'NodeAttestor', name, command: NODE_ATTESTOR_FIXTURE },
    service: NA_SERVICE,
    trustDomain: TD,
    log: nullLogger,
    restart: false,
  });
}

export interface TestEnv {
  deps: ApiDeps;
  ds: DataStoreV1;
  cache: EntryCache;
  manager: CAManager;
  /** Moves the clock the CA, the cache and the services read. */
  setNow(ms: number): void;
  now(): Date;
  close(): Promise<void>;
}

export async function startEnv(opts: { nodeAttestorPlugin?: boolean; agentTtlMs?: number } = {}): Promise<TestEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'api-agent-svid-'));
  const dsPlugin = builtIn('DataStore', 'sql', DS_SERVICE, `database_type = "sqlite3"\nconnection_string = ${JSON.stringify(join(dir, 'ds.sqlite3'))}`);
  const kmPlugin = builtIn('KeyManager', 'memory', KM_SERVICE);
  const naPlugin = opts.nodeAttestorPlugin ? fixtureNodeAttestor() : undefined;
  await Promise.all([dsPlugin.start(), kmPlugin.start(), naPlugin?.start()]);
  let t = T0;
  const clock = { now: () => new Date(t) };
  const ds = new DataStoreV1(dsPlugin);
  const manager = await CAManager.create({ trustDomain: TD, clock, keyManager: new KeyManagerV1(kmPlugin), caTtlMs: 24 * HOUR });
  const cache = await createEntryCache({ ds, clock, log: nullLogger, trustDomain: TD, pollIntervalMs: 60_000 });
  const nodeAttestors = new Map<string, NodeAttestor>();
  if (naPlugin) nodeAttestors.set('test', new NodeAttestorV1(naPlugin));
  const deps: ApiDeps = {
    trustDomain: TD,
    clock,
    log: nullLogger,
    ds,
    ca: manager.ca,
    bundle: () => manager.bundle(),
    entries: cache,
    nodeAttestors,
    agentTtlMs: opts.agentTtlMs,
    adminIds: [],
  };
  return {
    deps,
    ds,
    cache,
    manager,
    setNow: (ms) => void (t = ms),
    now: () => new Date(t),
    async close() {
      await cache.close();
      await Promise.all([dsPlugin.stop(), kmPlugin.stop(), naPlugin?.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fake call object with its caller set, for calling unary handlers directly. */
export function callAs(caller: Caller): object {
  const call = {};
  setCaller(call, caller);
  return call;
}

export const local = (): object => callAs({ kind: 'local' });

/** A call from the holder of `svid` (its leaf's ID and serial). */
export function callFromSvid(svid: apiTypes.X509SVID__Output | apiTypes.X509SVID | null | undefined): object {
  const der = Buffer.from((svid?.cert_chain?.[0] ?? Buffer.alloc(0)) as Uint8Array);
  const leaf = parseCertificate(new Uint8Array(der));
  const id = new X509Certificate(der).subjectAltName?.replace(/^URI:/, '') ?? '';
  return callAs({ kind: 'x509', address: '127.0.0.1:1', spiffeId: id, serialNumber: leaf.serialNumber.toString(10), notAfter: Math.floor(leaf.notAfter.getTime() / 1000), chain: [] });
}

export function agentCall(agentId: string): object {
  return callAs({ kind: 'x509', address: '127.0.0.1:1', spiffeId: agentId, serialNumber: '1', notAfter: 0, chain: [] });
}

export interface KeyedCsr {
  key: KeyObject;
  csr: Buffer;
}

export function newCsr(opts: { uris?: string[]; dnsNames?: string[]; rsa?: boolean } = {}): KeyedCsr {
  const { privateKey } = opts.rsa ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { key: privateKey, csr: Buffer.from(buildCSR(privateKey, { ...(opts.uris ? { uris: opts.uris } : {}), ...(opts.dnsNames ? { dnsNames: opts.dnsNames } : {}) })) };
}

/** A CSR whose signature no longer verifies (one bit of the signature flipped). */
export function tamperedCsr(): Buffer {
  const { csr } = newCsr();
  const out = Buffer.from(csr);
  out[out.length - 5] = (out[out.length - 5] as number) ^ 0x01;
  return out;
}

/**
 * Checks an issued X.509-SVID: node:crypto verifies the leaf against the CA,
 * validateX509Svid accepts it against the bundle, it carries `id` and the
 * key of `key`, and `expires_at` is the leaf's NotAfter.
 */
export function checkSvid(env: TestEnv, svid: apiTypes.X509SVID__Output | apiTypes.X509SVID | null | undefined, id: string, key?: KeyObject): X509Certificate {
  expect(svid).toBeTruthy();
  const chain = (svid?.cert_chain ?? []).map((c) => new Uint8Array(Buffer.from(c as Uint8Array)));
  expect(chain.length).toBeGreaterThanOrEqual(1);
  const leaf = new X509Certificate(chain[0] as Uint8Array);
  const roots = env.manager.bundle().x509Authorities;
  const caCert = env.deps.ca.x509CA?.certificate.der;
  expect(caCert).toBeDefined();
  expect(leaf.verify(new X509Certificate(caCert as Uint8Array).publicKey)).toBe(true);
  expect(validateX509Svid(chain[0] as Uint8Array, chain.slice(1), roots, env.now()).spiffeId).toBe(id);
  expect(leaf.subjectAltName).toContain(`URI:${id}`);
  expect(leaf.ca).toBe(false);
  expect(`spiffe://${svid?.id?.trust_domain}${svid?.id?.path}`).toBe(id);
  expect(svid?.expires_at).toBe(Math.floor(new Date(leaf.validTo).getTime() / 1000));
  if (key) expect(leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(createPublicKey(key).export({ type: 'spki', format: 'der' }))).toBe(true);
  return leaf;
}

type AttestReq = serverApiAgentV1.AttestAgentRequest;
type AttestRes = serverApiAgentV1.AttestAgentResponse;

/**
 * A fake AttestAgent server stream: the test plays the agent (`send`,
 * `closeSend`), and reads what the server wrote and how it ended.
 */
export class FakeAttestStream extends EventEmitter {
  readonly written: AttestRes[] = [];
  ended = false;
  error: (Error & { code?: number; metadata?: { get(k: string): unknown[] } }) | undefined;
  private readonly done: Promise<void>;
  private finish!: () => void;
  private readonly waiters: Array<(m: AttestRes) => void> = [];

  constructor(private readonly peer = 'ipv4:10.1.2.3:5555') {
    super();
    this.done = new Promise((r) => (this.finish = r));
    this.on('error', (err: Error) => {
      this.error = err;
      this.finish();
    });
  }

  write(m: AttestRes): boolean {
    this.written.push(m);
    this.waiters.shift()?.(m);
    return true;
  }

  end(): void {
    this.ended = true;
    this.finish();
  }

  getPeer(): string {
    return this.peer;
  }

  /** Sends a message shaped as the decoder gives it (oneof discriminator set). */
  send(m: AttestReq): void {
    const step = m.step ?? (m.params ? 'params' : m.challenge_response !== undefined ? 'challenge_response' : undefined);
    this.emit('data', { ...m, ...(step ? { step } : {}) });
  }

  closeSend(): void {
    this.emit('end');
  }

  /** The next message the server writes (or one already written and not yet taken). */
  nextWritten(taken: number): Promise<AttestRes> {
    if (this.written.length > taken) return Promise.resolve(this.written[taken] as AttestRes);
    return new Promise((r) => this.waiters.push(r));
  }

  finished(): Promise<void> {
    return this.done;
  }
}

/** A service's unary handlers typed as a client sees them: optional request fields, decoded (`__Output`) responses. */
export type Direct<N extends ServiceName> = {
  [M in UnaryMethodOf<ServiceClientOf<N>>]: (req: RequestOf<ServiceClientOf<N>[M]>, call: object) => Promise<ResponseOf<ServiceClientOf<N>[M]>>;
};

/** Unary handlers to call directly in tests (sync throws become rejections). */
export function direct<N extends ServiceName>(impl: ServiceImpl<N>): Direct<N> {
  const out: Record<string, (req: unknown, call: object) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(impl as Record<string, unknown>)) {
    if (typeof fn === 'function') out[name] = (req, call) => Promise.resolve().then(() => (fn as (r: unknown, c: object) => unknown).call(impl, req, call));
  }
  return out as unknown as Direct<N>;
}
