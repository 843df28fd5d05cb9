// The CA's view of a KeyManager plugin, over a real plugin process: keys that
// sign digests, errors prefixed once, and a changed key refused at signing.
import { createHash, createPublicKey, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagedPlugin, nullLogger, resolveBuiltIn, type LaunchSpec } from '@spire-ts/common';
import { Status } from '@spire-ts/plugin-sdk';
import { KeyManagerV1 } from '../src/index.js';

const SERVICE = 'spire.plugin.server.keymanager.v1.KeyManager';

function memoryPlugin(): ManagedPlugin<typeof SERVICE> {
  const bin = resolveBuiltIn('server', 'KeyManager', 'memory');
  if (!bin) throw new Error('memory KeyManager not built');
  const launch: LaunchSpec = { type: 'KeyManager', name: 'memory', command: bin.command, args: bin.args };
  return new ManagedPlugin({ launch, service: SERVICE, trustDomain: 'example.org', log: nullLogger, restart: false });
}

describe('KeyManagerV1 over the memory plugin', () => {
  const plugin = memoryPlugin();
  const km = new KeyManagerV1(plugin);
  beforeAll(() => plugin.start());
  afterAll(() => plugin.stop());

  it('generates, fetches and signs with keys that verify independently', async () => {
    const key = await km.generateKey('x509-CA-A', 'EC_P256');
    expect(key.type).toBe('EC_P256');
    const again = await km.getKey('x509-CA-A');
    expect(again?.fingerprint).toBe(key.fingerprint);
    const msg = Buffer.from('tbs');
    const sig = await key.sign(createHash('sha256').update(msg).digest(), { hash: 'SHA256' });
    const pub = createPublicKey({ key: Buffer.from(key.publicKeyDer), format: 'der', type: 'spki' });
    expect(verify('sha256', msg, { key: pub, dsaEncoding: 'der' }, sig)).toBe(true);
    expect((await km.getKeys()).map((k) => k.id)).toContain('x509-CA-A');
  });

  it('an unknown key is undefined, not an error', async () => {
    expect(await km.getKey('nope')).toBeUndefined();
  });

  it('errors are prefixed with the plugin and keep their code', async () => {
    const err = await km.generateKey('', 'EC_P256').catch((e: unknown) => e);
    expect(err).toMatchObject({ grpcCode: Status.INVALID_ARGUMENT });
    expect(String((err as Error).message)).toMatch(/^keymanager\(memory\): failed to generate key "": INVALID_ARGUMENT: /);
  });

  it('a key replaced behind our back is refused at signing (fingerprint check)', async () => {
    const key = await km.generateKey('JWT-Signer-A', 'EC_P256');
    await km.generateKey('JWT-Signer-A', 'EC_P256');
    const err = await key.sign(Buffer.alloc(32), { hash: 'SHA256' }).catch((e: unknown) => e);
    expect(String((err as Error).message)).toContain('does not match');
  });
});
