// node bench/dist/server-signdata-cpu.js [N] [CONCURRENCY]
// CPU per KeyManager SignData call through the host's lean HTTP/2 client,
// for the host process and for the plugin (the memory KeyManager), with
// `CONCURRENCY` calls in flight as BatchNewX509SVID has. CPU time is steadier
// than latency on a shared machine.
import { createHash } from 'node:crypto';
import { ManagedPlugin, nullLogger, resolveBuiltIn, unary } from '@spire-ts/common';
import { cpuSeconds } from './server-lib.js';
import { report } from './stats.js';

const N = Number(process.argv[2] ?? 20000);
const CONCURRENCY = Number(process.argv[3] ?? 50);
const SERVICE = 'spire.plugin.server.keymanager.v1.KeyManager';
const bin = resolveBuiltIn('server', 'KeyManager', 'memory');
if (!bin) throw new Error('built-in KeyManager "memory" not found: run npm run build');
const plugin = new ManagedPlugin({
  launch: { type: 'KeyManager', name: 'memory', command: bin.command, args: bin.args },
  service: SERVICE,
  trustDomain: 'example.org',
  log: nullLogger,
  restart: false,
});
await plugin.start();
await unary(plugin.client, 'GenerateKey', { key_id: 'bench', key_type: 'EC_P256' });
const digest = createHash('sha256').update('spire-ts bench').digest();

async function run(method: 'SignData' | 'GetPublicKey', n: number): Promise<void> {
  let next = 0;
  const loop = async (): Promise<void> => {
    while (next++ < n) {
      if (method === 'SignData') await plugin.call('SignData', { key_id: 'bench', data: digest, hash_algorithm: 'SHA256' });
      else await plugin.call('GetPublicKey', { key_id: 'bench' });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
}

for (const method of ['SignData', 'GetPublicKey'] as const) {
  await run(method, 2000);
  const host0 = process.cpuUsage();
  const plugin0 = cpuSeconds(plugin.pid!);
  const t0 = performance.now();
  await run(method, N);
  const seconds = (performance.now() - t0) / 1000;
  const host = process.cpuUsage(host0);
  const pluginCpu = cpuSeconds(plugin.pid!) - plugin0;
  report(`${method}_per_second`, N / seconds, '/s', 0);
  report(`${method}_host_cpu_us_per_call`, (host.user + host.system) / N, 'us');
  report(`${method}_plugin_cpu_us_per_call`, (pluginCpu * 1e6) / N, 'us');
}
await plugin.stop();
