import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default is one worker less than the cores: a single worker on a 2-core machine,
    // where most suites spend their time waiting for the servers, agents and plugin processes
    // they start. Two files at a time keep CI well inside its time budget.
    maxWorkers: Math.max(2, availableParallelism()),
  },
});
