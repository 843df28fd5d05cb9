// npm run bench -- plugin
// The cost of running a KeyManager out of process: SignData over the
// go-plugin gRPC transport (the host's lean HTTP/2 client; grpc-js's client
// for comparison) vs the same signature computed in-process, the plugin's
// memory after the run (RSS includes ~40 MB of Node's binary shared with
// every other Node process; PSS and private memory are its own cost), and
// how long a plugin takes from spawn to configured.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { ManagedPlugin, nullLogger, resolveBuiltIn, unary } from '@spire-ts/common';
import { generateKey, signDigest } from '@spire-ts/server-keymanager-memory';
import { benchCli, percentile, report, timeAsync, timeSync } from './stats.js';

benchCli(import.meta.url);

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

/** RSS, PSS and private (USS) memory of a process in MB, from smaps_rollup. */
function memoryMB(pid: number): { rss: number; pss: number; private: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: kb('Rss') / 1024, pss: kb('Pss') / 1024, private: (kb('Private_Clean') + kb('Private_Dirty')) / 1024 };
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
const oop = await timeAsync(N, 500, () => plugin.call('SignData', { key_id: 'bench', data: digest, hash_algorithm: 'SHA256' }));
const viaGrpcJs = await timeAsync(N, 500, () => unary(km, 'SignData', { key_id: 'bench', data: digest, hash_algorithm: 'SHA256' }));
// A call with no work in the plugin: what the transport alone costs.
const transport = await timeAsync(N, 500, () => plugin.call('GetPublicKey', { key_id: 'bench' }));
const mem = memoryMB(plugin.pid!);
await plugin.stop();

const key = await generateKey('EC_P256');
const inproc = timeSync(N, 500, () => signDigest(key, digest, { hash: 'SHA256' }));

report('signdata_out_of_process_p50', percentile(oop, 50), 'us');
report('signdata_out_of_process_p99', percentile(oop, 99), 'us');
report('signdata_out_of_process_grpcjs_client_p50', percentile(viaGrpcJs, 50), 'us');
report('signdata_in_process_p50', percentile(inproc, 50), 'us');
report('signdata_in_process_p99', percentile(inproc, 99), 'us');
report('plugin_overhead_p50', percentile(oop, 50) - percentile(inproc, 50), 'us');
report('plugin_transport_round_trip_p50', percentile(transport, 50), 'us');
report('plugin_rss', mem.rss, 'MB');
report('plugin_pss', mem.pss, 'MB');
report('plugin_private_memory', mem.private, 'MB');
report('spawn_to_configured_p50', percentile(spawnTimes, 50), 'ms');
report('spawn_to_configured_max', spawnTimes[spawnTimes.length - 1]!, 'ms');
