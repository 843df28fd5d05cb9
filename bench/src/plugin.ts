// npm run bench -- plugin
// The cost of running a KeyManager out of process: SignData over the
// go-plugin gRPC transport vs the same signature computed in-process, the
// plugin's memory, and how long a plugin takes from spawn to configured.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { ManagedPlugin, nullLogger, resolveBuiltIn, unary } from '@spire-ts/common';
import { generateKey, signDigest } from '@spire-ts/server-keymanager-memory';
import { percentile, report, timeAsync, timeSync } from './stats.js';

const N = Number(process.env.BENCH_N ?? 5000);
const SERVICE = 'spire.plugin.server.keymanager.v1.KeyManager';

function memoryPlugin(): ManagedPlugin<typeof SERVICE> {
  const bin = resolveBuiltIn('server', 'KeyManager', 'memory');
  if (!bin) throw new Error('built-in KeyManager "memory" not found: run npm run build');
  return new ManagedPlugin({
    launch: { type: 'KeyManager', name: 'memory', command: bin.command, args: bin.args },
    service: SERVICE,
    trustDomain: 'example.org',
    log: nullLogger,
    restart: false,
  });
}

function rssMB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

const digest = createHash('sha256').update('spire-ts bench').digest();

// Spawn to configured.
const spawnTimes: number[] = [];
for (let i = 0; i < 10; i++) {
  const p = memoryPlugin();
  const t0 = performance.now();
  await p.start();
  spawnTimes.push(performance.now() - t0);
  await p.stop();
}
spawnTimes.sort((a, b) => a - b);

const plugin = memoryPlugin();
await plugin.start();
const km = plugin.client;
await unary(km, 'GenerateKey', { key_id: 'bench', key_type: 'EC_P256' });
const oop = await timeAsync(N, 500, () => unary(km, 'SignData', { key_id: 'bench', data: digest, hash_algorithm: 'SHA256' }));
const rss = rssMB(plugin.pid!);
await plugin.stop();

const key = await generateKey('EC_P256');
const inproc = timeSync(N, 500, () => signDigest(key, digest, { hash: 'SHA256' }));

report('signdata_out_of_process_p50', percentile(oop, 50), 'us');
report('signdata_out_of_process_p99', percentile(oop, 99), 'us');
report('signdata_in_process_p50', percentile(inproc, 50), 'us');
report('signdata_in_process_p99', percentile(inproc, 99), 'us');
report('plugin_overhead_p50', percentile(oop, 50) - percentile(inproc, 50), 'us');
report('plugin_rss', rss, 'MB');
report('spawn_to_configured_p50', percentile(spawnTimes, 50), 'ms');
report('spawn_to_configured_max', spawnTimes[spawnTimes.length - 1]!, 'ms');
