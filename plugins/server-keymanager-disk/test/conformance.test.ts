// The built-in binary over the real wire: the lifecycle and KeyManager
// contract suites, and keys surviving a restart of the plugin process.
import { createHash, createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManagedPlugin, nullLogger, unary } from '@spire-ts/common';
import { builtInTarget, runSuite, suitesFor } from '@spire-ts/conformance';

const dir = mkdtempSync(join(tmpdir(), 'km-disk-conformance-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('server:KeyManager:disk conformance', () => {
  const target = builtInTarget('server:KeyManager:disk', `keys_path = "${join(dir, 'suite', 'keys.json')}"`);
  for (const suite of suitesFor(target)) {
    it(suite.name, async () => {
      const results = await runSuite(suite);
      const failed = results.filter((r) => r.status !== 'passed');
      for (const f of failed) console.error(`${f.status}: ${f.suite} / ${f.name}: ${f.message}`);
      expect(failed).toEqual([]);
      expect(results.length).toBe(suite.cases.length);
    }, 60_000);
  }
});

describe('server:KeyManager:disk across a restart of the plugin process', () => {
  it('keeps the same keys and fingerprints, and they still sign', async () => {
    const target = builtInTarget('server:KeyManager:disk', `keys_path = "${join(dir, 'restart', 'keys.json')}"`);
    const start = async () => {
      const p = new ManagedPlugin({
        launch: target.launch,
        service: 'spire.plugin.server.keymanager.v1.KeyManager',
        pluginData: target.pluginData,
        trustDomain: target.trustDomain,
        log: nullLogger,
        restart: false,
      });
      await p.start();
      return p;
    };
    const first = await start();
    const generated = [];
    try {
      for (const [id, type] of [['x509-CA-A', 'EC_P256'], ['JWT-Signer-A', 'EC_P384'], ['rsa', 'RSA_2048']] as const) {
        generated.push((await unary(first.client, 'GenerateKey', { key_id: id, key_type: type })).public_key);
      }
    } finally {
      await first.stop();
    }
    const second = await start();
    try {
      const listed = (await unary(second.client, 'GetPublicKeys', {})).public_keys;
      const summary = (keys: typeof listed) => keys.map((k) => [k.id, k.type, k.fingerprint, Buffer.from(k.pkix_data).toString('base64')]).sort();
      expect(summary(listed)).toEqual(summary(generated.map((k) => k!)));
      for (const key of listed) {
        const message = Buffer.from(`after restart ${key.id}`);
        const digest = createHash('sha256').update(message).digest();
        const res = await unary(second.client, 'SignData', { key_id: key.id, data: digest, hash_algorithm: 'SHA256' });
        expect(res.key_fingerprint).toBe(key.fingerprint);
        const pub = createPublicKey({ key: Buffer.from(key.pkix_data), format: 'der', type: 'spki' });
        expect(verify('sha256', message, { key: pub, dsaEncoding: 'der' }, res.signature)).toBe(true);
      }
    } finally {
      await second.stop();
    }
  }, 30_000);
});
