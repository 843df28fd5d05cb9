// The built-in binary over the real wire: lifecycle and KeyManager contract.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtInTarget, runSuite, suitesFor } from '@spire-ts/conformance';

const dir = mkdtempSync(join(tmpdir(), 'agent-km-disk-conformance-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('agent:KeyManager:disk conformance', () => {
  const target = builtInTarget('agent:KeyManager:disk', `directory = "${dir}"`);
  for (const suite of suitesFor(target)) {
    it(suite.name, async () => {
      const results = await runSuite(suite);
      const failed = results.filter((r) => r.status !== 'passed');
      for (const f of failed) console.error(`${f.status}: ${f.suite} / ${f.name}: ${f.message}`);
      expect(failed).toEqual([]);
      expect(results.length).toBe(suite.cases.length);
    }, 60_000);
  }
});
