// The server CA core under a fake clock: SPIRE's prepare → publish → activate →
// old kept → pruned lifecycle, SVIDs checked by independent parsers (node:crypto
// X509Certificate, `openssl verify`, validateX509Svid, validateJwtSvid), and
// restart from the journal.
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeJwtUnverified, memoryLogger, parseCertificate, pemEncode, validateJwtSvid, validateX509Svid, type Bundle } from '@spire-ts/common';
import {
  ACTIVATION_THRESHOLD_CAP_MS,
  CAManager,
  JournalError,
  PREPARATION_THRESHOLD_CAP_MS,
  activationThreshold,
  loadJournal,
  nextAction,
  preparationThreshold,
  startRotationLoop,
  type CAManagerConfig,
  type IssuedX509Svid,
  type RotationAction,
} from '../src/index.js';
import { InProcessKeyManager } from './key-manager.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
const TD = 'example.org';

class FakeClock {
  constructor(public t: number = T0) {}
  now(): Date {
    return new Date(this.t);
  }
  set(t: number | Date): void {
    this.t = typeof t === 'number' ? t : t.getTime();
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'ca-rotation-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function pemFile(name: string, ders: readonly Uint8Array[]): string {
  const path = join(dir, name);
  writeFileSync(path, ders.map((d) => pemEncode('CERTIFICATE', d)).join(''));
  return path;
}

function openssl(...args: string[]): string {
  try {
    return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    return String((err as { stdout?: string }).stdout) + String((err as { stderr?: string }).stderr);
  }
}

/** The bundle authority that signed the SVID's leaf. */
function issuerIn(svid: IssuedX509Svid, roots: readonly Uint8Array[]): X509Certificate {
  const leaf = new X509Certificate(svid.certificate);
  const found = roots.map((r) => new X509Certificate(r)).find((r) => leaf.checkIssued(r) && leaf.verify(r.publicKey));
  if (!found) throw new Error('no bundle authority issued this SVID');
  return found;
}

/**
 * Every X.509-SVID goes through here: validateX509Svid, node:crypto's parser
 * and `openssl verify -x509_strict` against the bundle's roots at `now`.
 */
function checkX509Svid(svid: IssuedX509Svid, bundle: Bundle, now: Date, spiffeId: string, dnsNames: string[] = []): void {
  // A self-signed CA is a bundle root: SPIRE sends the leaf alone.
  expect(svid.chain).toEqual([]);
  const v = validateX509Svid(svid.certificate, svid.chain, bundle.x509Authorities, now);
  expect(v.spiffeId).toBe(spiffeId);

  const leaf = new X509Certificate(svid.certificate);
  expect(leaf.ca).toBe(false);
  expect(leaf.subjectAltName?.split(', ').sort()).toEqual([`URI:${spiffeId}`, ...dnsNames.map((d) => `DNS:${d}`)].sort());
  const issuer = issuerIn(svid, bundle.x509Authorities);
  expect(issuer.ca).toBe(true);
  expect(leaf.checkIssued(issuer)).toBe(true);
  expect(leaf.verify(issuer.publicKey)).toBe(true);
  expect(new Date(leaf.validTo).getTime()).toBeLessThanOrEqual(new Date(issuer.validTo).getTime());
  expect(bundle.x509Authorities.some((r) => Buffer.from(r).equals(issuer.raw))).toBe(true);

  const leafFile = pemFile('leaf.pem', [svid.certificate]);
  const text = openssl('x509', '-text', '-noout', '-in', leafFile);
  expect(text).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:FALSE\n/);
  expect(text).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment, Key Agreement\n/);
  expect(text).toMatch(/X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication, TLS Web Client Authentication\n/);
  expect(text).toMatch(/X509v3 Subject Key Identifier/);
  expect(text).toMatch(/X509v3 Authority Key Identifier/);
  expect((text.match(/URI:/g) ?? []).length).toBe(1);
  const at = String(Math.floor(now.getTime() / 1000));
  const roots = pemFile('roots.pem', bundle.x509Authorities);
  for (const purpose of ['sslclient', 'sslserver']) {
    expect(openssl('verify', '-x509_strict', '-attime', at, '-purpose', purpose, '-CAfile', roots, leafFile).trim()).toMatch(/: OK$/);
  }
}

function leafKey(): Uint8Array {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
}

async function newManager(over: Partial<CAManagerConfig> = {}, journal?: Uint8Array) {
  const clock = (over.clock as FakeClock | undefined) ?? new FakeClock();
  const keyManager = (over.keyManager as InProcessKeyManager | undefined) ?? new InProcessKeyManager();
  const saved: Uint8Array[] = [];
  const m = await CAManager.create(
    { trustDomain: TD, clock, keyManager, caTtlMs: HOUR, saveJournal: (j) => void saved.push(j), ...over },
    journal,
  );
  return { m, clock, keyManager, saved };
}

const der = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const describeAction = (a: RotationAction): string => (a.type === 'prune' ? 'prune' : `${a.type} ${a.type === 'nothing' ? '' : a.kind}`);

describe('rotator: SPIRE thresholds as a pure function', () => {
  const at = (ms: number): Date => new Date(T0 + ms);
  const slot = (issued: number, ttl: number, status: 'prepared' | 'active' | 'old' = 'active') => ({ issuedAt: at(issued), notAfter: at(issued + ttl), status });

  it('prepares at half-life and activates at five sixths, strictly after the threshold', () => {
    const cur = slot(0, HOUR);
    expect(preparationThreshold(cur)).toEqual(at(30 * MIN));
    expect(activationThreshold(cur)).toEqual(at(50 * MIN));
    const state = (next?: ReturnType<typeof slot>) => ({ x509: { current: cur, next }, jwt: { current: cur, next }, bundleExpiries: [] });
    expect(nextAction(at(30 * MIN), state())).toEqual({ type: 'nothing', nextCheckAt: at(30 * MIN + 1) });
    expect(nextAction(at(30 * MIN + 1), state())).toEqual({ type: 'prepare', kind: 'x509' });
    const prepared = slot(30 * MIN, HOUR, 'prepared');
    expect(nextAction(at(40 * MIN), state(prepared))).toEqual({ type: 'nothing', nextCheckAt: at(50 * MIN + 1) });
    expect(nextAction(at(50 * MIN + 1), state(prepared))).toEqual({ type: 'activate', kind: 'x509' });
    // Activation due with nothing prepared (e.g. the server was down): prepare first.
    expect(nextAction(at(55 * MIN), state())).toEqual({ type: 'prepare', kind: 'x509' });
  });

  it('caps the thresholds at 30 days and 7 days before expiry', () => {
    const year = 365 * 24 * HOUR;
    const cur = slot(0, year);
    expect(preparationThreshold(cur)).toEqual(at(year - PREPARATION_THRESHOLD_CAP_MS));
    expect(activationThreshold(cur)).toEqual(at(year - ACTIVATION_THRESHOLD_CAP_MS));
  });

  it('first start: prepare, then activate; an old slot counts as empty', () => {
    expect(nextAction(at(0), { x509: {}, jwt: {}, bundleExpiries: [] })).toEqual({ type: 'prepare', kind: 'x509' });
    const cur = slot(0, HOUR);
    expect(nextAction(at(0), { x509: { current: slot(0, HOUR, 'prepared') }, jwt: { current: cur }, bundleExpiries: [] })).toEqual({ type: 'activate', kind: 'x509' });
    expect(nextAction(at(0), { x509: { current: cur }, jwt: { current: slot(0, HOUR, 'old') }, bundleExpiries: [] })).toEqual({ type: 'prepare', kind: 'jwt' });
  });

  it('prunes an authority once it is past expiry plus the grace period', () => {
    const cur = slot(0, HOUR);
    const state = { x509: { current: cur }, jwt: { current: cur }, bundleExpiries: [at(10 * MIN)], pruneGraceMs: 5 * MIN };
    expect(nextAction(at(15 * MIN), state)).toEqual({ type: 'nothing', nextCheckAt: at(15 * MIN + 1) });
    expect(nextAction(at(15 * MIN + 1), state)).toEqual({ type: 'prune' });
  });
});

describe('CA manager lifecycle with ca_ttl = 1h under a fake clock', () => {
  it('prepare → publish → activate → old kept → pruned at expiry, SVIDs valid throughout', async () => {
    const { m, clock, keyManager } = await newManager({ bundlePruneGraceMs: 0 });
    // First start: slot A prepared and activated at once.
    expect(keyManager.generated).toEqual(['x509-CA-A', 'JWT-Signer-A']);
    let s = m.slots();
    expect(s.x509.current).toMatchObject({ id: 'A', status: 'active' });
    expect(s.x509.next).toBeUndefined();
    expect(m.bundle().x509Authorities).toHaveLength(1);
    expect(m.bundle().jwtAuthorities).toHaveLength(1);
    const caA = m.ca.x509CA?.certificate.der as Uint8Array;
    const kidA = m.ca.jwtKey?.kid as string;
    expect(kidA).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(m.bundle().jwtAuthorities[0]).toMatchObject({ keyId: kidA, expiresAt: (T0 + HOUR) / 1000 });

    // Nothing until half-life.
    let r = await m.rotate();
    expect(r.actions).toEqual([]);
    expect(r.nextCheckAt).toEqual(new Date(T0 + 30 * MIN + 1));

    // Half-life: B prepared and published, A still signing.
    clock.set(r.nextCheckAt);
    r = await m.rotate();
    expect(r.actions.map(describeAction)).toEqual(['prepare x509', 'prepare jwt']);
    expect(r.nextCheckAt).toEqual(new Date(T0 + 50 * MIN + 1));
    s = m.slots();
    expect(s.x509.current).toMatchObject({ id: 'A', status: 'active' });
    expect(s.x509.next).toMatchObject({ id: 'B', status: 'prepared' });
    expect(s.jwt.next).toMatchObject({ id: 'B', status: 'prepared' });
    expect(m.bundle().x509Authorities).toHaveLength(2);
    expect(m.bundle().jwtAuthorities).toHaveLength(2);
    expect(der(m.ca.x509CA?.certificate.der as Uint8Array)).toBe(der(caA));
    const caB = m.bundle().x509Authorities[1] as Uint8Array;

    // Just before activation: sign with A.
    clock.set(T0 + 50 * MIN);
    const id = `spiffe://${TD}/workload`;
    const svidA = await m.ca.signWorkloadX509Svid({ spiffeId: id, publicKeyDer: leafKey(), dnsNames: ['w.example.org'] });
    expect(der(issuerIn(svidA, m.bundle().x509Authorities).raw)).toBe(der(caA));
    // Default 1h TTL capped at A's notAfter.
    expect(svidA.expiresAt).toEqual(new Date(T0 + HOUR));
    const jwtA = await m.ca.signJwtSvid({ spiffeId: id, audience: ['api'] });
    expect(jwtA.kid).toBe(kidA);
    checkX509Svid(svidA, m.bundle(), clock.now(), id, ['w.example.org']);

    // Activation: B signs, A is old but still in the bundle.
    clock.set(T0 + 50 * MIN + 1);
    r = await m.rotate();
    expect(r.actions.map(describeAction)).toEqual(['activate x509', 'activate jwt']);
    s = m.slots();
    expect(s.x509.current).toMatchObject({ id: 'B', status: 'active' });
    expect(s.x509.next).toMatchObject({ id: 'A', status: 'old' });
    expect(s.jwt.current).toMatchObject({ id: 'B', status: 'active' });
    expect(der(m.ca.x509CA?.certificate.der as Uint8Array)).toBe(der(caB));
    expect(m.bundle().x509Authorities.map(der)).toEqual([der(caA), der(caB)]);

    clock.set(T0 + 55 * MIN);
    checkX509Svid(svidA, m.bundle(), clock.now(), id, ['w.example.org']);
    const jwtBundles = () => new Map([[TD, m.bundle()]]);
    expect(validateJwtSvid(jwtA.token, { audience: 'api', bundles: jwtBundles(), now: clock.now() }).keyId).toBe(kidA);
    const svidB = await m.ca.signWorkloadX509Svid({ spiffeId: id, publicKeyDer: leafKey() });
    expect(der(issuerIn(svidB, m.bundle().x509Authorities).raw)).toBe(der(caB));
    checkX509Svid(svidB, m.bundle(), clock.now(), id);
    const jwtB = await m.ca.signJwtSvid({ spiffeId: id, audience: ['api'] });
    expect(jwtB.kid).not.toBe(kidA);
    expect(validateJwtSvid(jwtB.token, { audience: 'api', bundles: jwtBundles(), now: clock.now() }).keyId).toBe(jwtB.kid);

    // A's expiry: still published up to and including its notAfter...
    clock.set(T0 + HOUR);
    r = await m.rotate();
    expect(r.actions).toEqual([]);
    expect(m.bundle().x509Authorities).toHaveLength(2);
    // ...then the next CA goes into slot A and the expired one is pruned (grace 0 here).
    clock.set(r.nextCheckAt.getTime() + 1);
    r = await m.rotate();
    expect(r.actions.map(describeAction)).toEqual(['prepare x509', 'prepare jwt', 'prune']);
    const bundle = m.bundle();
    expect(bundle.x509Authorities.map(der)).not.toContain(der(caA));
    expect(bundle.x509Authorities).toHaveLength(2);
    expect(bundle.jwtAuthorities.map((a) => a.keyId)).not.toContain(kidA);
    expect(bundle.jwtAuthorities.map((a) => a.keyId)).toContain(jwtB.kid);
    expect(() => validateJwtSvid(jwtA.token, { audience: 'api', bundles: jwtBundles(), now: clock.now() })).toThrow();
    expect(m.slots().x509.next).toMatchObject({ id: 'A', status: 'prepared' });
    expect(bundle.sequenceNumber).toBeGreaterThan(3);
  });

  it('keeps an expired authority for SPIRE\'s 24h grace by default, over many rotations', async () => {
    const { m, clock } = await newManager();
    const caA = der(m.bundle().x509Authorities[0] as Uint8Array);
    const log: string[] = [];
    const id = `spiffe://${TD}/w`;
    let activations = 0;
    while (clock.t < T0 + 26 * HOUR) {
      const r = await m.rotate();
      for (const a of r.actions) log.push(`${clock.t - T0}ms ${describeAction(a)}`);
      // An SVID from the active CA at every step verifies against the bundle.
      if (r.actions.some((a) => a.type === 'activate')) {
        const svid = await m.ca.signWorkloadX509Svid({ spiffeId: id, publicKeyDer: leafKey() });
        // The independent parsers (openssl is slow to spawn) on the first few rotations; ours on all.
        if (++activations <= 3) checkX509Svid(svid, m.bundle(), clock.now(), id);
        else expect(validateX509Svid(svid.certificate, [], m.bundle().x509Authorities, clock.now()).spiffeId).toBe(id);
      }
      const inBundle = m.bundle().x509Authorities.map(der).includes(caA);
      expect(inBundle).toBe(clock.t <= T0 + 25 * HOUR);
      clock.set(r.nextCheckAt);
    }
    // A new CA every 30 minutes; at most: prepared + active + the expired ones still in grace.
    expect(log.slice(0, 4)).toEqual([
      `${30 * MIN + 1}ms prepare x509`,
      `${30 * MIN + 1}ms prepare jwt`,
      `${50 * MIN + 1}ms activate x509`,
      `${50 * MIN + 1}ms activate jwt`,
    ]);
    expect(log.filter((l) => l.endsWith('prune')).length).toBeGreaterThan(0);
    expect(m.bundle().x509Authorities.length).toBeLessThanOrEqual(2 + 49);
  });

  it('caps SVID TTLs at the CA and JWT key lifetimes, and refuses foreign or non-agent IDs', async () => {
    const { m, clock } = await newManager({ svid: { x509SvidTtlMs: 10 * MIN, jwtSvidTtlMs: 2 * MIN, jwtIssuer: 'https://oidc.example.org' } });
    const id = `spiffe://${TD}/w`;
    const svid = await m.ca.signWorkloadX509Svid({ spiffeId: id, publicKeyDer: leafKey() });
    expect(svid.expiresAt).toEqual(new Date(T0 + 10 * MIN));
    checkX509Svid(svid, m.bundle(), clock.now(), id);
    const long = await m.ca.signWorkloadX509Svid({ spiffeId: id, publicKeyDer: leafKey(), ttlMs: 5 * HOUR });
    expect(long.expiresAt).toEqual(new Date(T0 + HOUR));
    checkX509Svid(long, m.bundle(), clock.now(), id);

    const agentId = `spiffe://${TD}/spire/agent/join_token/abc`;
    const agent = await m.ca.signAgentX509Svid({ spiffeId: agentId, publicKeyDer: leafKey() });
    checkX509Svid(agent, m.bundle(), clock.now(), agentId);
    await expect(m.ca.signAgentX509Svid({ spiffeId: id, publicKeyDer: leafKey() })).rejects.toThrow(/not an agent SPIFFE ID/);
    const server = await m.ca.signServerX509Svid({ publicKeyDer: leafKey() });
    checkX509Svid(server, m.bundle(), clock.now(), `spiffe://${TD}/spire/server`);
    await expect(m.ca.signWorkloadX509Svid({ spiffeId: 'spiffe://other.org/w', publicKeyDer: leafKey() })).rejects.toThrow(/trust domain/);

    const jwt = await m.ca.signJwtSvid({ spiffeId: id, audience: ['a', 'b'] });
    expect(jwt.expiresAt).toEqual(new Date(T0 + 2 * MIN));
    const decoded = decodeJwtUnverified(jwt.token);
    expect(decoded.header).toEqual({ alg: 'ES256', kid: jwt.kid, typ: 'JWT' });
    expect(decoded.claims).toMatchObject({ sub: id, aud: ['a', 'b'], iss: 'https://oidc.example.org', iat: T0 / 1000, exp: T0 / 1000 + 120 });
    expect(validateJwtSvid(jwt.token, { audience: 'b', bundles: new Map([[TD, m.bundle()]]), now: clock.now() }).spiffeId.toString()).toBe(id);
    // A JWT-SVID never outlives its key.
    clock.set(T0 + 59 * MIN);
    await m.rotate();
    const late = await m.ca.signJwtSvid({ spiffeId: id, audience: ['a'], ttlMs: HOUR });
    expect(late.expiresAt.getTime()).toBeLessThanOrEqual((m.ca.jwtKey as { notAfter: Date }).notAfter.getTime());
    await expect(m.ca.signJwtSvid({ spiffeId: `spiffe://${TD}`, audience: ['a'] })).rejects.toThrow(/path/);
  });

  it('honours ca_key_type, ca_subject and the key types of the JWT keys', async () => {
    const { m, clock } = await newManager({ caKeyType: 'RSA_2048', jwtKeyType: 'EC_P384', caSubject: { country: 'DE', organization: 'Acme' } });
    const ca = m.ca.x509CA?.certificate;
    expect(ca?.signatureAlgorithm).toBe('rsa-pkcs1-sha256');
    const node = new X509Certificate(m.bundle().x509Authorities[0] as Uint8Array);
    expect(node.subject).toMatch(/C=DE\nO=Acme\nserialNumber=\d+/);
    expect(node.ca).toBe(true);
    expect(node.verify(node.publicKey)).toBe(true);
    expect(new Date(node.validTo).getTime()).toBe(T0 + HOUR - (T0 + HOUR) % 1000);
    const id = `spiffe://${TD}/w`;
    checkX509Svid(await m.ca.signWorkloadX509Svid({ spiffeId: id, publicKeyDer: leafKey() }), m.bundle(), clock.now(), id);
    const jwt = await m.ca.signJwtSvid({ spiffeId: id, audience: ['x'] });
    expect(decodeJwtUnverified(jwt.token).header.alg).toBe('ES384');
    expect(validateJwtSvid(jwt.token, { audience: 'x', bundles: new Map([[TD, m.bundle()]]), now: clock.now() }).alg).toBe('ES384');
    const spki = createPublicKey({ key: Buffer.from(m.bundle().jwtAuthorities[0]?.publicKeyDer as Uint8Array), format: 'der', type: 'spki' });
    expect(spki.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
  });
});

describe('CA journal: restart keeps the CA', () => {
  it('restores the same slots, keys and bundle, and resumes the schedule', async () => {
    const first = await newManager();
    first.clock.set(T0 + 40 * MIN);
    await first.m.rotate(); // B prepared
    const journal = first.saved.at(-1) as Uint8Array;
    expect(Buffer.from(journal).equals(Buffer.from(first.m.journal()))).toBe(true);
    const parsed = loadJournal(journal);
    expect(parsed.x509CAs.map((e) => `${e.slot}:${e.status}`)).toEqual(['A:active', 'B:prepared']);

    const generatedBefore = first.keyManager.generated.length;
    const again = await newManager({ clock: first.clock, keyManager: first.keyManager }, journal);
    expect(first.keyManager.generated.length).toBe(generatedBefore); // nothing new
    expect(again.m.slots()).toEqual(first.m.slots());
    expect(again.m.bundle()).toEqual(first.m.bundle());
    expect(again.m.ca.jwtKey?.kid).toBe(first.m.ca.jwtKey?.kid);
    expect(der(again.m.ca.x509CA?.certificate.der as Uint8Array)).toBe(der(first.m.ca.x509CA?.certificate.der as Uint8Array));

    // An SVID from the restarted server verifies against the bundle published before the restart.
    const id = `spiffe://${TD}/w`;
    checkX509Svid(await again.m.ca.signWorkloadX509Svid({ spiffeId: id, publicKeyDer: leafKey() }), first.m.bundle(), again.clock.now(), id);
    const jwt = await again.m.ca.signJwtSvid({ spiffeId: id, audience: ['x'] });
    expect(validateJwtSvid(jwt.token, { audience: 'x', bundles: new Map([[TD, first.m.bundle()]]), now: again.clock.now() }).keyId).toBe(jwt.kid);

    // The schedule carries on: B activates at 50 minutes.
    again.clock.set(T0 + 50 * MIN + 1);
    expect((await again.m.rotate()).actions.map(describeAction)).toEqual(['activate x509', 'activate jwt']);
    expect(again.m.slots().x509.current).toMatchObject({ id: 'B', status: 'active' });
  });

  it('a key gone from the KeyManager, or replaced, means a new authority', async () => {
    const first = await newManager();
    const journal = first.m.journal();
    const caA = der(first.m.ca.x509CA?.certificate.der as Uint8Array);
    first.keyManager.keys.delete('x509-CA-A');
    await first.keyManager.generateKey('JWT-Signer-A', 'EC_P256'); // a different key under the same ID
    const again = await newManager({ clock: first.clock, keyManager: first.keyManager }, journal);
    expect(der(again.m.ca.x509CA?.certificate.der as Uint8Array)).not.toBe(caA);
    expect(again.m.ca.jwtKey?.kid).not.toBe(first.m.ca.jwtKey?.kid);
    // The old authorities remain published; the new ones are added.
    expect(again.m.bundle().x509Authorities.map(der)).toContain(caA);
    expect(again.m.bundle().x509Authorities).toHaveLength(2);
    expect(again.m.bundle().jwtAuthorities).toHaveLength(2);
    const id = `spiffe://${TD}/w`;
    checkX509Svid(await again.m.ca.signWorkloadX509Svid({ spiffeId: id, publicKeyDer: leafKey() }), again.m.bundle(), again.clock.now(), id);
  });

  it('an expired journal CA is replaced; bad journals are refused with a reason', async () => {
    const first = await newManager();
    first.clock.set(T0 + 2 * HOUR);
    const again = await newManager({ clock: first.clock, keyManager: first.keyManager }, first.m.journal());
    expect(again.m.ca.x509CA?.certificate.notAfter.getTime()).toBe(T0 + 3 * HOUR - ((T0 + 3 * HOUR) % 1000));
    expect(parseCertificate(again.m.bundle().x509Authorities.at(-1) as Uint8Array).notAfter.getTime()).toBe(T0 + 3 * HOUR);

    const bad = (s: string) => () => loadJournal(new TextEncoder().encode(s));
    expect(bad('nope')).toThrow(JournalError);
    expect(bad('{"version":2}')).toThrow(/unsupported version 2/);
    const j = JSON.parse(new TextDecoder().decode(first.m.journal())) as { x509CAs: { slot: string }[] };
    (j.x509CAs[0] as { slot: string }).slot = 'C';
    expect(bad(JSON.stringify(j))).toThrow(/x509CAs\[0\]\.slot/);
  });
});

describe('CA manager: concurrency and logs', () => {
  it('serialises concurrent rotations (one prepare per slot) and logs as SPIRE does', async () => {
    const log = memoryLogger();
    const { m, clock, keyManager } = await newManager({ log });
    clock.set(T0 + 31 * MIN);
    const [a, b] = await Promise.all([m.rotate(), m.rotate()]);
    expect([...a.actions, ...b.actions].map(describeAction)).toEqual(['prepare x509', 'prepare jwt']);
    expect(keyManager.generated).toEqual(['x509-CA-A', 'JWT-Signer-A', 'x509-CA-B', 'JWT-Signer-B']);
    await expect(m.activate('x509')).resolves.toBeUndefined();
    await expect(m.activate('x509')).rejects.toThrow(/no prepared x509 authority/);
    expect(log.lines.map((l) => l.msg)).toEqual([
      'X509 CA prepared',
      'X509 CA activated',
      'JWT key prepared',
      'JWT key activated',
      'X509 CA prepared',
      'JWT key prepared',
      'X509 CA activated',
    ]);
    expect(log.lines[0]?.fields).toMatchObject({ slot: 'A', self_signed: true });
  });
});

describe('rotation loop', () => {
  it('rotates at each next check, at most every 10 s, retries after errors, and stops', async () => {
    const { m, clock } = await newManager();
    const pending: Array<{ fn: () => void; ms: number }> = [];
    const timers = { setTimeout: (fn: () => void, ms: number) => pending.push({ fn, ms }), clearTimeout: () => undefined };
    const errors: unknown[] = [];
    let fail = false;
    const target = { rotate: () => (fail ? Promise.reject(new Error('km down')) : m.rotate()) };
    const settle = () => new Promise((r) => setTimeout(r, 20));
    const stop = startRotationLoop({ target, clock, timers, onError: (e) => errors.push(e) });
    await settle();
    expect(pending.map((p) => p.ms)).toEqual([10_000]);
    // Drive the loop with the fake clock until B is active.
    while (m.slots().x509.current?.id !== 'B') {
      const next = pending.shift() as { fn: () => void; ms: number };
      clock.advance(next.ms);
      next.fn();
      await settle();
    }
    expect(clock.t).toBe(T0 + 50 * MIN + 1); // the loop wakes exactly at the threshold
    fail = true;
    (pending.shift() as { fn: () => void }).fn();
    await settle();
    expect(String(errors[0])).toMatch(/km down/);
    expect(pending.map((p) => p.ms)).toEqual([10_000]);
    stop();
    fail = false;
    (pending.shift() as { fn: () => void }).fn();
    await settle();
    expect(pending).toEqual([]);
  });
});
