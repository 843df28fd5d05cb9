// node bench/dist/server-profile.js FILE.cpuprofile [TOP] [--last SECONDS]
// Summarizes a V8 CPU profile (node --cpu-prof): self time by function and
// by file/package, and inclusive time of the functions with the most;
// --last S keeps only the samples of the last S seconds before the process
// began shutting down (the end of the profile minus 2 s).
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const args = process.argv.slice(2);
const lastIdx = args.indexOf('--last');
const lastS = lastIdx >= 0 ? Number(args.splice(lastIdx, 2)[1]) : undefined;
const [file, topArg] = args;
if (!file) {
  process.stderr.write('usage: server-profile FILE.cpuprofile [TOP]\n');
  process.exit(2);
}
const top = Number(topArg ?? 30);
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const selfUs = new Map<number, number>();
const to = p.endTime - 2e6;
const from = lastS === undefined ? -Infinity : to - lastS * 1e6;
let t = p.startTime;
for (let i = 0; i < p.samples.length; i++) {
  t += p.timeDeltas[i] ?? 0;
  if (lastS !== undefined && (t < from || t > to)) continue;
  selfUs.set(p.samples[i]!, (selfUs.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

const shortUrl = (url: string): string => {
  const m = /node_modules\/(@[^/]+\/[^/]+|[^/]+)\/(.*)$/.exec(url);
  if (m) return `${m[1]}/${m[2]!.split('/').slice(-2).join('/')}`;
  const w = /\/work\/main\/(.*)$/.exec(url);
  return w ? w[1]! : url.replace(/^file:\/\//, '') || '(native)';
};
const key = (n: ProfileNode): string => `${n.callFrame.functionName || '(anonymous)'} ${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;

const selfByFn = new Map<string, number>();
const selfByFile = new Map<string, number>();
const inclByFn = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id)!;
  selfByFn.set(key(n), (selfByFn.get(key(n)) ?? 0) + us);
  const f = shortUrl(n.callFrame.url).split(':')[0]!;
  selfByFile.set(f, (selfByFile.get(f) ?? 0) + us);
  // Inclusive: each distinct function on the stack once.
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const k = key(byId.get(cur)!);
    if (seen.has(k)) continue;
    seen.add(k);
    inclByFn.set(k, (inclByFn.get(k) ?? 0) + us);
  }
}

const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
const print = (title: string, m: Map<string, number>): void => {
  console.log(`\n${title}`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)} ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
};
console.log(`profile: ${(total / 1e6).toFixed(2)} s sampled${lastS === undefined ? '' : ` in the last ${lastS} s`} of ${((p.endTime - p.startTime) / 1e6).toFixed(2)} s`);
print('self time by function', selfByFn);
print('self time by file', selfByFile);
print('inclusive time by function', inclByFn);
