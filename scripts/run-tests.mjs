// Runs every vitest suite of every workspace and ends with the plain
// "N passed, N failed" line that CI reads. Exits with vitest's status.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'spire-ts-vitest-'));
const out = join(dir, 'results.json');
const res = spawnSync(
  process.execPath,
  ['node_modules/vitest/vitest.mjs', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...process.argv.slice(2)],
  { stdio: 'inherit' },
);
let summary = 'no results';
try {
  const r = JSON.parse(readFileSync(out, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  summary = `${r.numPassedTests} passed, ${r.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`;
  if (r.numTotalTests === 0) summary = '0 passed, 0 failed';
} catch {
  summary = '0 passed, 1 failed';
}
rmSync(dir, { recursive: true, force: true });
process.stdout.write(`\nspire-ts: ${summary}\n`);
process.exit(res.status ?? 1);
