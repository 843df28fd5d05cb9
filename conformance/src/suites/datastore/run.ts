/**
 * Runs the vitest-based DataStore contract from the `spire-conformance`
 * CLI: vitest's Node API on the compiled runner file, the target passed in
 * the environment, each case reported as a {@link CaseResult}.
 */
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startVitest } from 'vitest/node';
import type { Reporter, TestCase, TestModule } from 'vitest/node';
import type { CaseResult } from '../../harness.js';
import type { PluginTarget } from '../../target.js';
import { RUNNER_ENV } from './run-env.js';

export interface ContractRunOptions {
  target: PluginTarget;
  /** Only cases whose full name contains this. */
  only?: string;
  /** Show the plugin's logs. */
  verbose?: boolean;
  onResult?: (r: CaseResult) => void;
}

const SUITE = 'DataStore contract';

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function caseResult(tc: TestCase): CaseResult | undefined {
  const r = tc.result();
  const ms = tc.diagnostic()?.duration ?? 0;
  const name = tc.fullName.replace(/^DataStore contract: [^>]*> /, '');
  switch (r.state) {
    case 'passed': return { suite: SUITE, name, status: 'passed', ms };
    case 'failed': return { suite: SUITE, name, status: 'failed', message: r.errors.map((e) => e.message).join('; ').split('\n')[0], ms };
    case 'skipped': return { suite: SUITE, name, status: 'skipped', ...(r.note ? { message: r.note } : {}), ms };
    default: return undefined;
  }
}

/**
 * @example
 * ```ts
 * const results = await runDatastoreContract({ target, onResult: (r) => print(r) });
 * ```
 */
export async function runDatastoreContract(opts: ContractRunOptions): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  const report = (r: CaseResult): void => {
    results.push(r);
    opts.onResult?.(r);
  };
  const runner = fileURLToPath(new URL('./runner.js', import.meta.url));
  const reporter: Reporter = {
    onTestCaseResult(tc) {
      const r = caseResult(tc);
      // With --only, the cases it filtered out are not results.
      if (r && !(opts.only && r.status === 'skipped' && !tc.fullName.includes(opts.only))) report(r);
    },
    onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandled) {
      for (const m of modules) {
        for (const e of m.errors()) report({ suite: SUITE, name: 'load the contract', status: 'failed', message: e.message, ms: 0 });
      }
      for (const e of unhandled) report({ suite: SUITE, name: 'unhandled error', status: 'failed', message: e.message, ms: 0 });
    },
  };
  process.env[RUNNER_ENV] = JSON.stringify({ target: opts.target, verbose: opts.verbose === true });
  const vitest = await startVitest('test', [], {
    config: false,
    cache: false,
    root: dirname(runner),
    include: [basename(runner)],
    exclude: [],
    watch: false,
    reporters: [reporter],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    ...(opts.only ? { testNamePattern: new RegExp(escapeRegExp(opts.only)) } : {}),
  });
  await vitest.close();
  return results;
}
