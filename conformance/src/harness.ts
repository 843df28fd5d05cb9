/** A tiny suite/case model shared by the CLI runner and the vitest wrappers. */
export class SkipCase extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'SkipCase';
  }
}

export interface Case<Ctx> {
  name: string;
  run(ctx: Ctx): Promise<void>;
}

export interface Suite<Ctx> {
  name: string;
  setup(): Promise<Ctx>;
  teardown(ctx: Ctx): Promise<void>;
  cases: Array<Case<Ctx>>;
}

export interface CaseResult {
  suite: string;
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  message?: string;
  ms: number;
}

/** Fails the case with `message` unless `cond` holds. */
export function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

/** Runs every case of a suite in order; a failed setup fails every case. */
export async function runSuite<Ctx>(suite: Suite<Ctx>, onResult?: (r: CaseResult) => void): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  const report = (r: CaseResult): void => {
    results.push(r);
    onResult?.(r);
  };
  let ctx: Ctx;
  try {
    ctx = await suite.setup();
  } catch (err) {
    for (const c of suite.cases) report({ suite: suite.name, name: c.name, status: 'failed', message: `setup failed: ${errMessage(err)}`, ms: 0 });
    return results;
  }
  try {
    for (const c of suite.cases) {
      const t0 = performance.now();
      try {
        await c.run(ctx);
        report({ suite: suite.name, name: c.name, status: 'passed', ms: performance.now() - t0 });
      } catch (err) {
        const skipped = err instanceof SkipCase;
        report({ suite: suite.name, name: c.name, status: skipped ? 'skipped' : 'failed', message: errMessage(err), ms: performance.now() - t0 });
      }
    }
  } finally {
    await suite.teardown(ctx);
  }
  return results;
}

export function errMessage(err: unknown): string {
  if (err instanceof Error) {
    const details = (err as { details?: unknown }).details;
    return typeof details === 'string' && details && !err.message.includes(details) ? `${err.message} (${details})` : err.message;
  }
  return String(err);
}

/** `N passed, N failed[, N skipped]`: the closing line CI reads. */
export function summaryLine(results: CaseResult[]): string {
  const n = (s: CaseResult['status']) => results.filter((r) => r.status === s).length;
  const skipped = n('skipped');
  return `${n('passed')} passed, ${n('failed')} failed${skipped ? `, ${skipped} skipped` : ''}`;
}
