import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Percentile of an ascending-sorted array (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

/** Prints one `name: value unit` line. */
export function report(name: string, value: number, unit: string, digits = 1): void {
  console.log(`${name}: ${value.toFixed(digits)} ${unit}`);
}

/** Times `fn` `n` times (after `warmup` runs) and returns sorted durations in µs. */
export async function timeAsync(n: number, warmup: number, fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    out[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  return out.sort((a, b) => a - b);
}

export function timeSync(n: number, warmup: number, fn: () => unknown): number[] {
  for (let i = 0; i < warmup; i++) fn();
  const out: number[] = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    out[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  return out.sort((a, b) => a - b);
}

/**
 * Makes a bench script usable from a shell: `--help` (or `-h`) prints the
 * leading comment of the script (its usage) and exits, and a closed stdout
 * (`npm run bench -- agent | head`) stops every child process the bench
 * started (SIGTERM: spire-server and spire-agent then stop their plugins)
 * and exits, instead of dying with them left running.
 */
export function benchCli(scriptUrl: string): void {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    const lines = readFileSync(fileURLToPath(scriptUrl), 'utf8').split('\n');
    const usage: string[] = [];
    for (const line of lines) {
      if (!line.startsWith('//')) break;
      usage.push(line.replace(/^\/\/ ?/, ''));
    }
    process.stdout.write(`${usage.join('\n')}\n`);
    process.exit(0);
  }
  process.stdout.on('error', () => {
    for (const pid of ownChildren()) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    process.exit(1);
  });
}

/** The pids of this process's children (Linux: /proc/self/task/<tid>/children). */
function ownChildren(): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const text = readFileSync(`/proc/self/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number).filter((n) => n > 0));
    }
  } catch {
    // not Linux, or no CONFIG_PROC_CHILDREN: nothing to stop
  }
  return out;
}
