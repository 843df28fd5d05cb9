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
