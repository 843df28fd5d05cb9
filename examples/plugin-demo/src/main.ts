// `npm run start:plugin-demo`: the plugin runtime end to
// end. It loads the built-in KeyManager "memory" as a child process from
// SPIRE-shaped plugin declarations, uses it, crashes it on purpose to show
// supervision, and stops it in order.
import { constants, createHash, createPublicKey, verify } from 'node:crypto';
import { Catalog, createCoreLogger, describe, unary, type ManagedPlugin } from '@spire-ts/common';

const log = createCoreLogger({ level: (process.env.SPIRE_TS_LOG_LEVEL as 'debug' | undefined) ?? 'info' });
const say = (msg: string): void => void process.stdout.write(`» ${msg}\n`);

function waitReady(p: ManagedPlugin, ms: number): Promise<void> {
  return Promise.race([
    p.whenReady(),
    new Promise<void>((_, rej) => setTimeout(() => rej(new Error(`plugin not back within ${ms} ms`)), ms)),
  ]);
}

say('loading plugins { KeyManager "memory" {} } as a child process (go-plugin handshake, Init, Configure)');
let catalog: Catalog;
try {
  catalog = await Catalog.load([{ type: 'KeyManager', name: 'memory' }], {
    side: 'server',
    trustDomain: 'example.org',
    log,
    backoff: { initialMs: 100, maxMs: 2000 },
  });
} catch (err) {
  process.stderr.write(`could not load the KeyManager plugin: ${describe(err)}\nDid \`npm run build\` run? (npm run start:plugin-demo runs it for you.)\n`);
  process.exit(1);
}
const km = catalog.one('KeyManager') as ManagedPlugin<'spire.plugin.server.keymanager.v1.KeyManager'>;
say(`KeyManager "memory" is running as pid ${km.pid}`);

const stop = async (code: number): Promise<never> => {
  await catalog.close();
  say('plugins stopped (Deinit, controller Shutdown); bye');
  process.exit(code);
};
process.on('SIGINT', () => void stop(130));

try {
  for (const [id, type] of [['x509-CA-A', 'EC_P256'], ['JWT-Signer-A', 'RSA_2048']] as const) {
    const res = await unary(km.client, 'GenerateKey', { key_id: id, key_type: type });
    say(`generated ${type} key "${id}" inside the plugin, fingerprint ${res.public_key?.fingerprint.slice(0, 16)}…`);
    const message = Buffer.from('hello from spire-ts');
    const digest = createHash('sha256').update(message).digest();
    const sig = await unary(km.client, 'SignData', { key_id: id, data: digest, hash_algorithm: 'SHA256' });
    const pub = createPublicKey({ key: Buffer.from(res.public_key!.pkix_data), format: 'der', type: 'spki' });
    const ok = verify('sha256', message, type === 'EC_P256' ? { key: pub, dsaEncoding: 'der' } : { key: pub, padding: constants.RSA_PKCS1_PADDING }, sig.signature);
    say(`signed a SHA-256 digest with "${id}": ${sig.signature.length}-byte signature, verified by node:crypto: ${ok}`);
  }

  const before = km.pid!;
  say(`killing the plugin (pid ${before}) with SIGKILL to show supervision…`);
  process.kill(before, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 50));
  await waitReady(km, 10_000);
  say(`restarted as pid ${km.pid}, re-initialised and re-configured (restarts: ${km.restarts})`);
  const keys = await unary(km.client, 'GetPublicKeys', {});
  say(`the memory KeyManager keeps keys only in memory, so after the restart it holds ${keys.public_keys.length} keys, as SPIRE's does`);
} catch (err) {
  process.stderr.write(`demo failed: ${describe(err)}\n`);
  await stop(1);
}
await stop(0);
