// The CA manager over the real memory KeyManager plugin process (KeyManagerV1):
// first start, rotation under a fake clock, restart from the journal.
import { execFileSync } from 'node:child_process';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagedPlugin, nullLogger, pemEncode, resolveBuiltIn, validateJwtSvid, validateX509Svid, type Bundle, type LaunchSpec } from '@spire-ts/common';
import { CAManager, KeyManagerV1, type IssuedX509Svid } from '../src/index.js';

const SERVICE = 'spire.plugin.server.keymanager.v1.KeyManager';
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 1);
const TD = 'example.org';

function memoryPlugin(): ManagedPlugin<typeof SERVICE> {
  const bin = resolveBuiltIn('server', 'KeyManager', 'memory');
  if (!bin) throw new Error('memory KeyManager not built');
  const launch: LaunchSpec = { type: 'KeyManager', name: 'memory', command: bin.command, args: bin.args };
  return new ManagedPlugin({ launch, service: SERVICE, trustDomain: TD, log: nullLogger, restart: false });
}

const dir = mkdtempSync(join(tmpdir(), 'ca-plugin-'));

function check(svid: IssuedX509Svid, bundle: Bundle, now: Date, id: string): void {
  expect(validateX509Svid(svid.certificate, [], bundle.x509Authorities, now).spiffeId).toBe(id);
  const leaf = new X509Certificate(svid.certificate);
  expect(leaf.ca).toBe(false);
  expect(leaf.subjectAltName).toBe(`URI:${id}`);
  expect(svid.chain).toEqual([]);
  expect(bundle.x509Authorities.some((r) => leaf.verify(new X509Certificate(r).publicKey))).toBe(true);
  const roots = join(dir, 'roots.pem');
  const leafFile = join(dir, 'leaf.pem');
  writeFileSync(roots, bundle.x509Authorities.map((d) => pemEncode('CERTIFICATE', d)).join(''));
  writeFileSync(leafFile, pemEncode('CERTIFICATE', svid.certificate));
  const out = execFileSync('openssl', ['verify', '-x509_strict', '-attime', String(Math.floor(now.getTime() / 1000)), '-CAfile', roots, leafFile], {
    encoding: 'utf8',
  });
  expect(out.trim()).toMatch(/: OK$/);
}

const leafKey = (): Uint8Array =>
  new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }));

describe('CA manager over the memory KeyManager plugin', () => {
  const plugin = memoryPlugin();
  const km = new KeyManagerV1(plugin);
  beforeAll(() => plugin.start());
  afterAll(async () => {
    await plugin.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('signs, rotates and restarts with the same CA', async () => {
    let t = T0;
    const clock = { now: () => new Date(t) };
    let journal: Uint8Array | undefined;
    const m = await CAManager.create({ trustDomain: TD, clock, keyManager: km, caTtlMs: HOUR, saveJournal: (j) => void (journal = j) });
    expect((await km.getKeys()).map((k) => k.id).sort()).toEqual(['JWT-Signer-A', 'x509-CA-A']);
    const id = `spiffe://${TD}/w`;
    const before = await m.ca.signWorkloadX509Svid({ spiffeId: id, publicKeyDer: leafKey() });
    check(before, m.bundle(), clock.now(), id);

    t = T0 + 30 * 60_000 + 1;
    await m.rotate();
    t = T0 + 50 * 60_000;
    const jwt = await m.ca.signJwtSvid({ spiffeId: id, audience: ['api'] });
    t += 1;
    expect((await m.rotate()).actions.map((a) => a.type)).toEqual(['activate', 'activate']);
    check(before, m.bundle(), clock.now(), id);
    check(await m.ca.signWorkloadX509Svid({ spiffeId: id, publicKeyDer: leafKey() }), m.bundle(), clock.now(), id);
    expect(validateJwtSvid(jwt.token, { audience: 'api', bundles: new Map([[TD, m.bundle()]]), now: clock.now() }).keyId).toBe(jwt.kid);

    const again = await CAManager.create({ trustDomain: TD, clock, keyManager: km, caTtlMs: HOUR }, journal);
    expect(again.slots()).toEqual(m.slots());
    expect(again.bundle()).toEqual(m.bundle());
    check(await again.ca.signWorkloadX509Svid({ spiffeId: id, publicKeyDer: leafKey() }), m.bundle(), clock.now(), id);
  });
});
