// The server's own X.509-SVID: issued by the CA manager's active X.509 CA
// (real keys, fake clock), checked against the bundle, rotated at half-life
// and when another X.509 CA becomes active.
import { X509Certificate, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryLogger, pemDecode, validateX509Svid, type Bundle } from '@spire-ts/common';
import { CAManager, ServerSvidRotator, type ServerCA, type ServerSvid } from '../src/index.js';
import { InProcessKeyManager } from './key-manager.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
const TD = 'example.org';
const SERVER_ID = `spiffe://${TD}/spire/server`;

class FakeClock {
  constructor(public t: number = T0) {}
  now(): Date {
    return new Date(this.t);
  }
  set(t: number): void {
    this.t = t;
  }
}

async function manager(clock: FakeClock): Promise<CAManager> {
  return CAManager.create({ trustDomain: TD, clock, keyManager: new InProcessKeyManager(), caTtlMs: HOUR, bundlePruneGraceMs: 0 });
}

const rotators: ServerSvidRotator[] = [];
function rotator(ca: ServerCA, clock: FakeClock, extra: { onRotate?: (s: ServerSvid) => void; checkIntervalMs?: number; log?: ReturnType<typeof memoryLogger> } = {}): ServerSvidRotator {
  const r = new ServerSvidRotator({ ca, clock, checkIntervalMs: 3_600_000, ...extra });
  rotators.push(r);
  return r;
}
afterEach(() => {
  for (const r of rotators.splice(0)) r.stop();
});

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The SVID verifies against the bundle at `now`, names the server, and its key is the leaf's. */
function checkSvid(svid: ServerSvid, bundle: Bundle, now: Date): X509Certificate {
  const [leaf, ...chain] = pemDecode(svid.certChainPem, 'CERTIFICATE');
  expect(leaf).toBeDefined();
  const v = validateX509Svid(leaf!, chain, bundle.x509Authorities, now);
  expect(v.spiffeId).toBe(SERVER_ID);
  expect(svid.spiffeId).toBe(SERVER_ID);

  const cert = new X509Certificate(leaf!);
  expect(cert.subjectAltName).toBe(`URI:${SERVER_ID}`);
  expect(cert.ca).toBe(false);
  expect(new Date(cert.validTo).getTime()).toBe(svid.expiresAt.getTime());
  // The signer is the bundle authority that issued the leaf.
  const signer = new X509Certificate(svid.signer);
  expect(cert.checkIssued(signer) && cert.verify(signer.publicKey)).toBe(true);
  expect(bundle.x509Authorities.map(hex)).toContain(hex(svid.signer));

  // The private key is the one in the certificate.
  const key = createPrivateKey(svid.keyPem);
  const spki = (k: ReturnType<typeof createPublicKey>): string => k.export({ type: 'spki', format: 'der' }).toString('hex');
  expect(spki(createPublicKey(key))).toBe(spki(cert.publicKey));
  const data = Buffer.from('tls handshake transcript');
  expect(verify('sha256', data, cert.publicKey, sign('sha256', data, key))).toBe(true);
  return cert;
}

describe('ServerSvidRotator', () => {
  it('throws for the SVID before start()', async () => {
    const clock = new FakeClock();
    const r = rotator((await manager(clock)).ca, clock);
    expect(() => r.svid).toThrow('the server SVID has not been issued yet');
    expect(r.shouldRotate()).toBe(true);
  });

  it('issues spiffe://<td>/spire/server signed by the active CA, verifying against the bundle', async () => {
    const clock = new FakeClock();
    const m = await manager(clock);
    const r = rotator(m.ca, clock);
    const svid = await r.start();
    expect(r.svid).toBe(svid);
    const cert = checkSvid(svid, m.bundle(), clock.now());
    expect(hex(svid.signer)).toBe(hex(m.ca.x509CA!.certificate.der));
    expect(svid.expiresAt.getTime()).toBe(T0 + HOUR);
    expect(svid.notBefore.getTime()).toBe(new Date(cert.validFrom).getTime());
    expect(svid.notBefore.getTime()).toBe(T0 - 10_000);
    expect(r.shouldRotate()).toBe(false);
  });

  it('does not rotate before half of the SVID life; rotates after it with a new key', async () => {
    const clock = new FakeClock();
    const m = await manager(clock);
    const rotated: ServerSvid[] = [];
    const r = rotator(m.ca, clock, { onRotate: (s) => rotated.push(s) });
    const first = await r.start();
    const half = first.notBefore.getTime() + (first.expiresAt.getTime() - first.notBefore.getTime()) / 2;

    clock.set(half - 1);
    expect(r.shouldRotate()).toBe(false);
    await r.check();
    expect(rotated).toEqual([]);
    expect(r.svid).toBe(first);

    clock.set(half);
    expect(r.shouldRotate()).toBe(true);
    await r.check();
    expect(rotated).toHaveLength(1);
    const second = r.svid;
    expect(rotated[0]).toBe(second);
    expect(second).not.toBe(first);
    expect(second.keyPem).not.toBe(first.keyPem);
    const a = new X509Certificate(pemDecode(first.certChainPem)[0]!);
    const b = checkSvid(second, m.bundle(), clock.now());
    expect(b.serialNumber).not.toBe(a.serialNumber);
    expect(b.publicKey.export({ type: 'spki', format: 'der' }).equals(a.publicKey.export({ type: 'spki', format: 'der' }))).toBe(false);
    // Same CA (nothing was activated), later expiry bound by the CA's notAfter.
    expect(hex(second.signer)).toBe(hex(first.signer));
    expect(r.shouldRotate()).toBe(false);
  });

  it('concurrent checks share one rotation', async () => {
    const clock = new FakeClock();
    const m = await manager(clock);
    let n = 0;
    const r = rotator(m.ca, clock, { onRotate: () => n++ });
    await r.start();
    clock.set(T0 + 40 * MIN);
    await Promise.all([r.check(), r.check(), r.check()]);
    expect(n).toBe(1);
  });

  it('rotates as soon as another X.509 CA is active, before half-life', async () => {
    const clock = new FakeClock();
    const m = await manager(clock);
    // CA A half-life: B prepared (published, not signing).
    clock.set(T0 + 30 * MIN + 1);
    await m.rotate();
    expect(m.slots().x509.next).toMatchObject({ status: 'prepared' });
    const caA = hex(m.ca.x509CA!.certificate.der);

    // The SVID issued now by A lives until A expires (T0 + 1h): half-life around T0 + 55 min.
    clock.set(T0 + 50 * MIN);
    const rotated: ServerSvid[] = [];
    const r = rotator(m.ca, clock, { onRotate: (s) => rotated.push(s) });
    const first = await r.start();
    expect(hex(first.signer)).toBe(caA);
    await r.check();
    expect(rotated).toEqual([]);

    // Activation of B, well before the SVID's half-life.
    clock.set(T0 + 50 * MIN + 1);
    await m.rotate();
    const caB = hex(m.ca.x509CA!.certificate.der);
    expect(caB).not.toBe(caA);
    const half = first.notBefore.getTime() + (first.expiresAt.getTime() - first.notBefore.getTime()) / 2;
    expect(clock.now().getTime()).toBeLessThan(half);
    expect(r.shouldRotate()).toBe(true);
    await r.check();
    expect(rotated).toHaveLength(1);
    expect(hex(r.svid.signer)).toBe(caB);
    expect(r.svid.keyPem).not.toBe(first.keyPem);
    checkSvid(r.svid, m.bundle(), clock.now());
    // B's SVID: the default 1 h TTL capped at B's notAfter (B was made at T0 + 30 min for 1 h).
    expect(r.svid.expiresAt.getTime()).toBe(new Date(new X509Certificate(m.ca.x509CA!.certificate.der).validTo).getTime());
    expect(r.svid.expiresAt.getTime()).toBe(T0 + 90 * MIN);
    expect(r.shouldRotate()).toBe(false);
  });

  it('checks on its timer', async () => {
    const clock = new FakeClock();
    const m = await manager(clock);
    let resolve: (s: ServerSvid) => void = () => undefined;
    const rotatedOnTimer = new Promise<ServerSvid>((r) => (resolve = r));
    const r = rotator(m.ca, clock, { onRotate: (s) => resolve(s), checkIntervalMs: 20 });
    const first = await r.start();
    clock.set(T0 + 45 * MIN);
    const second = await rotatedOnTimer;
    expect(second).not.toBe(first);
    expect(r.svid).toBe(second);
  });

  it('keeps the current SVID and logs when a rotation fails', async () => {
    const clock = new FakeClock();
    const m = await manager(clock);
    let fail = false;
    // The CA as the rotator uses it, with signing that can be made to fail.
    const ca = {
      get trustDomain() {
        return m.ca.trustDomain;
      },
      get x509CA() {
        return m.ca.x509CA;
      },
      signServerX509Svid: (req: { publicKeyDer: Uint8Array }) => (fail ? Promise.reject(new Error('key manager unavailable')) : m.ca.signServerX509Svid(req)),
    } as unknown as ServerCA;
    const log = memoryLogger();
    let n = 0;
    const r = rotator(ca, clock, { onRotate: () => n++, log });
    const first = await r.start();
    clock.set(T0 + 40 * MIN);
    fail = true;
    await r.check();
    expect(n).toBe(0);
    expect(r.svid).toBe(first);
    expect(log.lines).toContainEqual(expect.objectContaining({ level: 'error', msg: 'Could not rotate the server SVID', fields: { error: 'key manager unavailable' } }));
    fail = false;
    await r.check();
    expect(n).toBe(1);
    checkSvid(r.svid, m.bundle(), clock.now());
  });
});
