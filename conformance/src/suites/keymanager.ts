import { constants, createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { ManagedPlugin, nullLogger, unary, type Logger } from '@spire-ts/common';
import { Status, isServiceError, statusName } from '@spire-ts/plugin-sdk';
import type { ServiceClientOf } from '@spire-ts/proto';
import { check, type Suite } from '../harness.js';
import type { PluginTarget } from '../target.js';

type KMClient = ServiceClientOf<'spire.plugin.server.keymanager.v1.KeyManager'>;

export interface KeyManagerContext {
  plugin: ManagedPlugin;
  km: KMClient;
}

type KeyType = 'EC_P256' | 'EC_P384' | 'RSA_2048' | 'RSA_4096';
const KEY_TYPES: KeyType[] = ['EC_P256', 'EC_P384', 'RSA_2048', 'RSA_4096'];
const HASHES = [
  { proto: 'SHA256', node: 'sha256', size: 32 },
  { proto: 'SHA384', node: 'sha384', size: 48 },
  { proto: 'SHA512', node: 'sha512', size: 64 },
] as const;

async function expectCode(p: Promise<unknown>, codes: Status[], what: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    check(isServiceError(err), `${what}: expected a gRPC error, got ${String(err)}`);
    check((codes as number[]).includes(err.code), `${what}: expected ${codes.map(statusName).join(' or ')}, got ${statusName(err.code)} (${err.details})`);
    return;
  }
  throw new Error(`${what}: expected ${codes.map(statusName).join(' or ')}, but the call succeeded`);
}

function checkPublicKey(key: KeyObject, type: KeyType): void {
  const d = key.asymmetricKeyDetails ?? {};
  switch (type) {
    case 'EC_P256':
      check(key.asymmetricKeyType === 'ec' && d.namedCurve === 'prime256v1', `EC_P256 key is ${key.asymmetricKeyType}/${d.namedCurve}`);
      break;
    case 'EC_P384':
      check(key.asymmetricKeyType === 'ec' && d.namedCurve === 'secp384r1', `EC_P384 key is ${key.asymmetricKeyType}/${d.namedCurve}`);
      break;
    case 'RSA_2048':
    case 'RSA_4096':
      check(key.asymmetricKeyType === 'rsa', `${type} key is ${key.asymmetricKeyType}`);
      check(d.modulusLength === (type === 'RSA_2048' ? 2048 : 4096), `${type} modulus is ${d.modulusLength} bits`);
      break;
  }
}

/**
 * The KeyManager contract (server or agent side): every key type generated,
 * fetched and used to sign pre-hashed digests, each signature verified
 * independently with node:crypto over the original message.
 */
export function keyManagerSuite(target: PluginTarget, log: Logger = nullLogger): Suite<KeyManagerContext> {
  const keyId = (t: KeyType) => `conformance-${t}`;
  return {
    name: `KeyManager contract ${target.side}:${target.type}:${target.name}`,
    async setup() {
      const plugin = new ManagedPlugin({ launch: target.launch, service: target.service, pluginData: target.pluginData, trustDomain: target.trustDomain, log, restart: false });
      await plugin.start();
      // Agent and server KeyManager messages are identical; only the package differs.
      return { plugin, km: plugin.client as unknown as KMClient };
    },
    async teardown(ctx) {
      await ctx.plugin.stop();
    },
    cases: [
      ...KEY_TYPES.map((type) => ({
        name: `GenerateKey ${type} returns a matching PKIX public key`,
        async run({ km }: KeyManagerContext) {
          const res = await unary(km, 'GenerateKey', { key_id: keyId(type), key_type: type }, { deadlineMs: 60_000 });
          const pk = res.public_key;
          check(pk, 'no public_key in the response');
          check(pk.id === keyId(type), `public key id ${JSON.stringify(pk.id)}, want ${keyId(type)}`);
          check(pk.type === type, `public key type ${pk.type}, want ${type}`);
          check(pk.fingerprint !== '', 'empty fingerprint');
          checkPublicKey(createPublicKey({ key: pk.pkix_data, format: 'der', type: 'spki' }), type);
        },
      })),
      {
        name: 'GetPublicKey and GetPublicKeys return the generated keys',
        async run({ km }) {
          const all = await unary(km, 'GetPublicKeys', {});
          for (const type of KEY_TYPES) {
            const one = await unary(km, 'GetPublicKey', { key_id: keyId(type) });
            check(one.public_key?.id === keyId(type), `GetPublicKey(${keyId(type)}) returned ${one.public_key?.id}`);
            const listed = all.public_keys.find((k) => k.id === keyId(type));
            check(listed, `GetPublicKeys is missing ${keyId(type)}`);
            check(Buffer.from(listed.pkix_data).equals(one.public_key.pkix_data), `GetPublicKeys and GetPublicKey disagree on ${keyId(type)}`);
          }
        },
      },
      ...KEY_TYPES.flatMap((type) =>
        HASHES.map((h) => ({
          name: `SignData ${type} with ${h.proto} verifies with node:crypto`,
          async run({ km }: KeyManagerContext) {
            const pub = await unary(km, 'GetPublicKey', { key_id: keyId(type) });
            check(pub.public_key, `key ${keyId(type)} missing`);
            const key = createPublicKey({ key: pub.public_key.pkix_data, format: 'der', type: 'spki' });
            const message = Buffer.from(`spire-ts conformance ${type} ${h.proto} ${Date.now()}`);
            const digest = createHash(h.node).update(message).digest();
            const res = await unary(km, 'SignData', { key_id: keyId(type), data: digest, hash_algorithm: h.proto });
            check(res.key_fingerprint === pub.public_key.fingerprint, `key_fingerprint ${res.key_fingerprint} != ${pub.public_key.fingerprint}`);
            const ok = type.startsWith('EC')
              ? verify(h.node, message, { key, dsaEncoding: 'der' }, res.signature)
              : verify(h.node, message, { key, padding: constants.RSA_PKCS1_PADDING }, res.signature);
            check(ok, 'signature does not verify');
            check(!verify(h.node, Buffer.concat([message, Buffer.from('x')]), key, res.signature), 'signature verifies for another message');
          },
        })),
      ),
      ...(['RSA_2048', 'RSA_4096'] as const).flatMap((type) =>
        [
          { salt: -1, name: 'salt = hash length (-1)' },
          { salt: 0, name: 'salt = maximum (0)' },
        ].map((s) => ({
          name: `SignData ${type} RSA-PSS SHA256 ${s.name} verifies with node:crypto`,
          async run({ km }: KeyManagerContext) {
            const pub = await unary(km, 'GetPublicKey', { key_id: keyId(type) });
            check(pub.public_key, `key ${keyId(type)} missing`);
            const key = createPublicKey({ key: pub.public_key.pkix_data, format: 'der', type: 'spki' });
            const message = Buffer.from(`pss ${type} ${s.salt}`);
            const digest = createHash('sha256').update(message).digest();
            const res = await unary(km, 'SignData', { key_id: keyId(type), data: digest, pss_options: { salt_length: s.salt, hash_algorithm: 'SHA256' } });
            const emLen = Math.ceil(((type === 'RSA_2048' ? 2048 : 4096) - 1) / 8);
            const saltLength = s.salt === -1 ? 32 : emLen - 32 - 2;
            check(verify('sha256', message, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, res.signature), `PSS signature does not verify with salt length ${saltLength}`);
          },
        })),
      ),
      {
        name: 'GenerateKey with an existing id replaces the key',
        async run({ km }) {
          const a = await unary(km, 'GenerateKey', { key_id: 'conformance-replace', key_type: 'EC_P256' });
          const b = await unary(km, 'GenerateKey', { key_id: 'conformance-replace', key_type: 'EC_P256' });
          check(a.public_key && b.public_key, 'missing public key');
          check(!Buffer.from(a.public_key.pkix_data).equals(b.public_key.pkix_data), 'key was not replaced');
          const got = await unary(km, 'GetPublicKey', { key_id: 'conformance-replace' });
          check(got.public_key && Buffer.from(got.public_key.pkix_data).equals(b.public_key.pkix_data), 'GetPublicKey returns the old key');
        },
      },
      {
        name: 'GetPublicKey of an unknown id returns no key (or NOT_FOUND)',
        async run({ km }) {
          try {
            const res = await unary(km, 'GetPublicKey', { key_id: 'conformance-does-not-exist' });
            check(!res.public_key, 'a public key was returned for an unknown id');
          } catch (err) {
            check(isServiceError(err) && err.code === Status.NOT_FOUND, `unexpected error ${String(err)}`);
          }
        },
      },
      {
        name: 'SignData with an unknown key id fails with NOT_FOUND',
        async run({ km }) {
          await expectCode(unary(km, 'SignData', { key_id: 'conformance-does-not-exist', data: Buffer.alloc(32), hash_algorithm: 'SHA256' }), [Status.NOT_FOUND], 'SignData(unknown key)');
        },
      },
      {
        name: 'GenerateKey without a key id fails with INVALID_ARGUMENT',
        async run({ km }) {
          await expectCode(unary(km, 'GenerateKey', { key_id: '', key_type: 'EC_P256' }), [Status.INVALID_ARGUMENT], 'GenerateKey(no id)');
        },
      },
      {
        name: 'GenerateKey with an unspecified key type fails with INVALID_ARGUMENT',
        async run({ km }) {
          await expectCode(unary(km, 'GenerateKey', { key_id: 'conformance-x', key_type: 'UNSPECIFIED_KEY_TYPE' }), [Status.INVALID_ARGUMENT], 'GenerateKey(unspecified type)');
        },
      },
      {
        name: 'SignData with an unspecified hash algorithm fails with INVALID_ARGUMENT',
        async run({ km }) {
          await expectCode(unary(km, 'SignData', { key_id: keyId('EC_P256'), data: Buffer.alloc(32), hash_algorithm: 'UNSPECIFIED_HASH_ALGORITHM' }), [Status.INVALID_ARGUMENT], 'SignData(unspecified hash)');
        },
      },
      {
        name: 'SignData with a digest of the wrong length is refused',
        async run({ km }) {
          await expectCode(unary(km, 'SignData', { key_id: keyId('RSA_2048'), data: Buffer.alloc(20), hash_algorithm: 'SHA256' }), [Status.INVALID_ARGUMENT, Status.INTERNAL], 'SignData(short digest)');
        },
      },
    ],
  };
}

