/**
 * The CA manager: SPIRE's slot lifecycle for the X.509 CA and the JWT signing
 * key. Each kind has two slots (A, B); the next authority is prepared in the
 * spare slot and published in the bundle ahead of activation, activated when
 * due, and the one it replaces stays in the bundle until it expires (plus
 * SPIRE's 24 h grace). Timing decisions come from {@link nextAction}; the
 * clock, the KeyManager and the journal store are injected.
 */
import { randomBytes } from 'node:crypto';
import { buildCertificate, caTemplate, nullLogger, parseCertificate, type Bundle, type JwtAuthority, type Logger, type NameSpec } from '@spire-ts/common';
import type { Key, KeyManager, KeyType } from '../../plugin/keymanager/keymanager.js';
import { ServerCA, type ServerCAConfig } from '../ca.js';
import type { Clock } from '../clock.js';
import { BUNDLE_PRUNE_GRACE_MS, isPrunable, nextAction, type AuthorityKind, type RotationAction, type RotationState, type SlotTimes } from '../rotator.js';
import { certificateSigner } from '../signers.js';
import { encodeJournal, loadJournal, JournalError, JOURNAL_VERSION, type Journal } from './journal.js';
import { jwtKeyId, otherSlot, x509CAKeyId, type JwtKeySlot, type SlotId, type X509CASlot } from './slot.js';

/** SPIRE's `ca_ttl` default. */
export const DEFAULT_CA_TTL_MS = 24 * 60 * 60 * 1000;

export interface CAManagerConfig {
  /** Bare trust domain name. */
  trustDomain: string;
  clock: Clock;
  keyManager: KeyManager;
  /** SPIRE's `ca_key_type`; default EC_P256. */
  caKeyType?: KeyType;
  /** SPIRE's `jwt_key_type`; default the CA key type. */
  jwtKeyType?: KeyType;
  /** SPIRE's `ca_ttl`; default 24 h. Also the JWT keys' lifetime. */
  caTtlMs?: number;
  /** SPIRE's `ca_subject`; default `C=US, O=SPIFFE`. */
  caSubject?: NameSpec;
  /** How long an expired authority stays in the bundle; default SPIRE's 24 h. */
  bundlePruneGraceMs?: number;
  /** Signing settings for the {@link ServerCA} the manager drives (the trust domain and clock are the manager's). */
  svid?: Omit<ServerCAConfig, 'trustDomain' | 'clock'>;
  /** Persists the journal after every change (e.g. into the DataStore). */
  saveJournal?: (journal: Uint8Array) => void | Promise<void>;
  /** Called after the bundle changed. */
  onBundleUpdated?: (bundle: Bundle) => void;
  random?: (size: number) => Uint8Array;
  log?: Logger;
}

/** One slot as seen from outside. */
export interface SlotView {
  readonly id: SlotId;
  readonly status: 'prepared' | 'active' | 'old';
  readonly issuedAt: Date;
  readonly notAfter: Date;
  /** X.509: the CA certificate's SKI in hex; JWT: the kid. */
  readonly authorityId: string;
}

interface Pair<T> {
  current: SlotId;
  slots: Record<SlotId, T | undefined>;
}

interface BundleX509 {
  der: Uint8Array;
  notAfter: Date;
}

const KID_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const MAX_STEPS = 16;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const hex = (b: Uint8Array | undefined): string => (b ? Buffer.from(b).toString('hex') : '');

function parseJournalCert(b64der: string): ReturnType<typeof parseCertificate> {
  try {
    return parseCertificate(unb64(b64der));
  } catch (err) {
    throw new JournalError(`bad certificate: ${(err as Error).message}`);
  }
}

function live<T extends { status: string }>(s: T | undefined): T | undefined {
  return s && s.status !== 'old' ? s : undefined;
}

/** Drives the slots; owns the {@link ServerCA} it activates authorities on. */
export class CAManager {
  readonly ca: ServerCA;
  readonly #c: CAManagerConfig;
  readonly #x509: Pair<X509CASlot> = { current: 'A', slots: { A: undefined, B: undefined } };
  readonly #jwt: Pair<JwtKeySlot> = { current: 'A', slots: { A: undefined, B: undefined } };
  #bundleX509: BundleX509[] = [];
  #bundleJwt: JwtAuthority[] = [];
  #sequence = 0;
  /** Serialises rotation steps: a prepare must not interleave with another. */
  #lock: Promise<unknown> = Promise.resolve();

  private constructor(config: CAManagerConfig) {
    this.#c = config;
    this.ca = new ServerCA({ ...config.svid, trustDomain: config.trustDomain, clock: config.clock });
  }

  /**
   * A manager restored from `journal` (if given) and rotated: on return an
   * X.509 CA and a JWT key are active. Journal entries whose key is gone from
   * the KeyManager or no longer matches are dropped, and a new one prepared.
   */
  static async create(config: CAManagerConfig, journal?: Uint8Array): Promise<CAManager> {
    const m = new CAManager(config);
    if (journal) await m.#restore(loadJournal(journal));
    await m.rotate();
    return m;
  }

  get #log(): Logger {
    return this.#c.log ?? nullLogger;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  get #caTtlMs(): number {
    return this.#c.caTtlMs ?? DEFAULT_CA_TTL_MS;
  }

  get #graceMs(): number {
    return this.#c.bundlePruneGraceMs ?? BUNDLE_PRUNE_GRACE_MS;
  }

  async #restore(j: Journal): Promise<void> {
    const now = this.#c.clock.now();
    const km = this.#c.keyManager;
    this.#x509.current = j.currentX509Slot;
    this.#jwt.current = j.currentJwtSlot;
    for (const e of j.x509CAs) {
      const certificate = parseJournalCert(e.certificate);
      if (certificate.notAfter.getTime() <= now.getTime()) continue;
      const key = await km.getKey(x509CAKeyId(e.slot));
      if (!key || !sameBytes(key.publicKeyDer, certificate.publicKey.der)) {
        this.#log.warn(key ? 'X509 CA key does not match the journal; a new CA will be prepared' : 'X509 CA key is gone from the KeyManager; a new CA will be prepared', { slot: e.slot });
        continue;
      }
      this.#x509.slots[e.slot] = {
        id: e.slot,
        status: e.status,
        issuedAt: new Date(e.issuedAt),
        ca: { certificate, upstreamChain: e.upstreamChain.map(unb64), key },
      };
    }
    for (const e of j.jwtKeys) {
      if (e.notAfter <= now.getTime()) continue;
      const key = await km.getKey(jwtKeyId(e.slot));
      if (!key || !sameBytes(key.publicKeyDer, unb64(e.publicKey))) {
        this.#log.warn(key ? 'JWT key does not match the journal; a new key will be prepared' : 'JWT key is gone from the KeyManager; a new key will be prepared', { slot: e.slot });
        continue;
      }
      this.#jwt.slots[e.slot] = { id: e.slot, status: e.status, issuedAt: new Date(e.issuedAt), jwtKey: { kid: e.kid, key, notAfter: new Date(e.notAfter) } };
    }
    this.#bundleX509 = j.bundle.x509Authorities.map((s) => {
      const certificate = parseJournalCert(s);
      return { der: certificate.der, notAfter: certificate.notAfter };
    });
    this.#bundleJwt = j.bundle.jwtAuthorities.map((a) => ({ keyId: a.kid, publicKeyDer: unb64(a.publicKey), expiresAt: a.expiresAt }));
    this.#sequence = j.bundle.sequenceNumber;
    const active = this.#x509.slots[this.#x509.current];
    if (active?.status === 'active') this.ca.setX509CA(active.ca);
    const activeJwt = this.#jwt.slots[this.#jwt.current];
    if (activeJwt?.status === 'active') this.ca.setJwtKey(activeJwt.jwtKey);
  }

  /** What {@link nextAction} needs. */
  rotationState(): RotationState {
    const x509 = (s: X509CASlot | undefined): SlotTimes | undefined =>
      s && { issuedAt: s.issuedAt, notAfter: s.ca.certificate.notAfter, status: s.status };
    const jwt = (s: JwtKeySlot | undefined): SlotTimes | undefined => s && { issuedAt: s.issuedAt, notAfter: s.jwtKey.notAfter, status: s.status };
    // Authorities of live slots are never pruned: a rotation replaces them first.
    const liveCerts = [this.#x509.slots.A, this.#x509.slots.B].map(live).flatMap((s) => (s ? [s.ca.certificate.der] : []));
    const liveKids = new Set([this.#jwt.slots.A, this.#jwt.slots.B].map(live).flatMap((s) => (s ? [s.jwtKey.kid] : [])));
    return {
      x509: { current: x509(this.#x509.slots[this.#x509.current]), next: x509(this.#x509.slots[otherSlot(this.#x509.current)]) },
      jwt: { current: jwt(this.#jwt.slots[this.#jwt.current]), next: jwt(this.#jwt.slots[otherSlot(this.#jwt.current)]) },
      bundleExpiries: [
        ...this.#bundleX509.filter((a) => !liveCerts.some((d) => sameBytes(d, a.der))).map((a) => a.notAfter),
        ...this.#bundleJwt.filter((a) => !liveKids.has(a.keyId)).map((a) => new Date(a.expiresAt * 1000)),
      ],
      pruneGraceMs: this.#graceMs,
    };
  }

  /**
   * Applies every rotation step due now (prepare, activate, prune) and
   * returns them with the time of the next check.
   */
  rotate(): Promise<{ actions: RotationAction[]; nextCheckAt: Date }> {
    return this.#serial(() => this.#rotate());
  }

  async #rotate(): Promise<{ actions: RotationAction[]; nextCheckAt: Date }> {
    const actions: RotationAction[] = [];
    for (let i = 0; i < MAX_STEPS; i++) {
      const a = nextAction(this.#c.clock.now(), this.rotationState());
      if (a.type === 'nothing') return { actions, nextCheckAt: a.nextCheckAt };
      actions.push(a);
      if (a.type === 'prepare') await this.#prepare(a.kind);
      else if (a.type === 'activate') await this.#activate(a.kind);
      else await this.#prune();
    }
    throw new Error(`CA rotation did not settle after ${MAX_STEPS} steps: ${JSON.stringify(actions)}`);
  }

  /** Prepares the next authority of `kind` (into the current slot if that is empty) and publishes it in the bundle. */
  prepare(kind: AuthorityKind): Promise<void> {
    return this.#serial(() => this.#prepare(kind));
  }

  async #prepare(kind: AuthorityKind): Promise<void> {
    if (kind === 'x509') await this.#prepareX509();
    else await this.#prepareJwt();
    await this.#changed(true);
  }

  async #prepareX509(): Promise<void> {
    const pair = this.#x509;
    const id = live(pair.slots[pair.current]) ? otherSlot(pair.current) : pair.current;
    const now = this.#c.clock.now();
    const key = await this.#c.keyManager.generateKey(x509CAKeyId(id), this.#c.caKeyType ?? 'EC_P256');
    const template = caTemplate({
      trustDomain: this.#c.trustDomain,
      now,
      ttlMs: this.#caTtlMs,
      ...(this.#c.caSubject ? { subject: this.#c.caSubject } : {}),
      ...(this.#c.random ? { random: this.#c.random } : {}),
    });
    const der = await buildCertificate(template, { publicKeyDer: key.publicKeyDer, signer: certificateSigner(key), verifySignature: true });
    const certificate = parseCertificate(der);
    pair.slots[id] = { id, status: 'prepared', issuedAt: now, ca: { certificate, upstreamChain: [], key } };
    this.#log.info('X509 CA prepared', { slot: id, issued_at: now.toISOString(), expiration: certificate.notAfter.toISOString(), self_signed: true });
    if (!this.#bundleX509.some((a) => sameBytes(a.der, der))) this.#bundleX509.push({ der, notAfter: certificate.notAfter });
  }

  async #prepareJwt(): Promise<void> {
    const pair = this.#jwt;
    const id = live(pair.slots[pair.current]) ? otherSlot(pair.current) : pair.current;
    const now = this.#c.clock.now();
    const key: Key = await this.#c.keyManager.generateKey(jwtKeyId(id), this.#c.jwtKeyType ?? this.#c.caKeyType ?? 'EC_P256');
    const notAfter = new Date(now.getTime() + this.#caTtlMs);
    const kid = Array.from((this.#c.random ?? randomBytes)(32), (b) => KID_ALPHABET[b % KID_ALPHABET.length]).join('');
    pair.slots[id] = { id, status: 'prepared', issuedAt: now, jwtKey: { kid, key, notAfter } };
    this.#log.info('JWT key prepared', { slot: id, issued_at: now.toISOString(), expiration: notAfter.toISOString(), local_authority_id: kid });
    this.#bundleJwt.push({ keyId: kid, publicKeyDer: key.publicKeyDer, expiresAt: Math.floor(notAfter.getTime() / 1000) });
  }

  /** Activates the prepared authority of `kind`; the one it replaces becomes `old` (still in the bundle). */
  activate(kind: AuthorityKind): Promise<void> {
    return this.#serial(() => this.#activate(kind));
  }

  async #activate(kind: AuthorityKind): Promise<void> {
    const pair: Pair<{ status: 'prepared' | 'active' | 'old' }> = kind === 'x509' ? this.#x509 : this.#jwt;
    const current = pair.slots[pair.current];
    if (current?.status !== 'prepared') {
      const nextId = otherSlot(pair.current);
      if (pair.slots[nextId]?.status !== 'prepared') throw new Error(`no prepared ${kind} authority to activate`);
      if (current) current.status = 'old';
      pair.current = nextId;
    }
    const active = pair.slots[pair.current] as { status: string };
    active.status = 'active';
    if (kind === 'x509') this.ca.setX509CA(this.#x509.slots[this.#x509.current]?.ca);
    else this.ca.setJwtKey(this.#jwt.slots[this.#jwt.current]?.jwtKey);
    this.#log.info(kind === 'x509' ? 'X509 CA activated' : 'JWT key activated', { slot: pair.current });
    await this.#changed(false);
  }

  /** Drops authorities that expired more than the grace period ago, except those of live slots. */
  prune(): Promise<void> {
    return this.#serial(() => this.#prune());
  }

  async #prune(): Promise<void> {
    const now = this.#c.clock.now();
    const expiries = new Set(this.rotationState().bundleExpiries.filter((d) => isPrunable(now, d, this.#graceMs)).map((d) => d.getTime()));
    const liveKids = new Set([this.#jwt.slots.A, this.#jwt.slots.B].map(live).flatMap((s) => (s ? [s.jwtKey.kid] : [])));
    const liveCerts = [this.#x509.slots.A, this.#x509.slots.B].map(live).flatMap((s) => (s ? [s.ca.certificate.der] : []));
    const before = this.#bundleX509.length + this.#bundleJwt.length;
    this.#bundleX509 = this.#bundleX509.filter((a) => liveCerts.some((d) => sameBytes(d, a.der)) || !expiries.has(a.notAfter.getTime()));
    this.#bundleJwt = this.#bundleJwt.filter((a) => liveKids.has(a.keyId) || !expiries.has(a.expiresAt * 1000));
    const pruned = before - this.#bundleX509.length - this.#bundleJwt.length;
    if (pruned > 0) this.#log.info('Pruned expired authorities from the bundle', { count: pruned });
    await this.#changed(pruned > 0);
  }

  async #changed(bundleChanged: boolean): Promise<void> {
    if (bundleChanged) this.#sequence++;
    await this.#c.saveJournal?.(this.journal());
    if (bundleChanged) this.#c.onBundleUpdated?.(this.bundle());
  }

  /** The local trust bundle: every published X.509 CA and JWT key, in publication order. */
  bundle(): Bundle {
    return {
      trustDomain: this.ca.trustDomain,
      x509Authorities: this.#bundleX509.map((a) => a.der),
      jwtAuthorities: this.#bundleJwt.map((a) => ({ ...a })),
      refreshHint: 0,
      sequenceNumber: this.#sequence,
    };
  }

  /** The slots, for status displays and tests. */
  slots(): { x509: { current?: SlotView; next?: SlotView }; jwt: { current?: SlotView; next?: SlotView } } {
    const x = (s: X509CASlot | undefined): SlotView | undefined =>
      s && { id: s.id, status: s.status, issuedAt: s.issuedAt, notAfter: s.ca.certificate.notAfter, authorityId: hex(s.ca.certificate.extensions.subjectKeyId) };
    const j = (s: JwtKeySlot | undefined): SlotView | undefined =>
      s && { id: s.id, status: s.status, issuedAt: s.issuedAt, notAfter: s.jwtKey.notAfter, authorityId: s.jwtKey.kid };
    const view = <T, V>(p: Pair<T>, f: (s: T | undefined) => V | undefined): { current?: V; next?: V } => {
      const current = f(p.slots[p.current]);
      const next = f(p.slots[otherSlot(p.current)]);
      return { ...(current ? { current } : {}), ...(next ? { next } : {}) };
    };
    return { x509: view(this.#x509, x), jwt: view(this.#jwt, j) };
  }

  /** The journal bytes ({@link loadJournal} reads them back). */
  journal(): Uint8Array {
    const j: Journal = {
      version: JOURNAL_VERSION,
      currentX509Slot: this.#x509.current,
      currentJwtSlot: this.#jwt.current,
      x509CAs: [this.#x509.slots.A, this.#x509.slots.B].flatMap((s) =>
        s ? [{ slot: s.id, status: s.status, issuedAt: s.issuedAt.getTime(), certificate: b64(s.ca.certificate.der), upstreamChain: s.ca.upstreamChain.map(b64) }] : [],
      ),
      jwtKeys: [this.#jwt.slots.A, this.#jwt.slots.B].flatMap((s) =>
        s
          ? [{ slot: s.id, status: s.status, issuedAt: s.issuedAt.getTime(), notAfter: s.jwtKey.notAfter.getTime(), kid: s.jwtKey.kid, publicKey: b64(s.jwtKey.key.publicKeyDer) }]
          : [],
      ),
      bundle: {
        x509Authorities: this.#bundleX509.map((a) => b64(a.der)),
        jwtAuthorities: this.#bundleJwt.map((a) => ({ kid: a.keyId, publicKey: b64(a.publicKeyDer), expiresAt: a.expiresAt })),
        sequenceNumber: this.#sequence,
      },
    };
    return encodeJournal(j);
  }
}
