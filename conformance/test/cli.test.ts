import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

function run(...args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });
}

describe('spire-conformance CLI', () => {
  it('runs the suites against a built-in and ends with the summary line', () => {
    const r = run('--plugin', 'server:KeyManager:memory', '--only', 'GenerateKey EC_P256');
    expect(r.stdout).toMatch(/^1 passed, 0 failed$/m);
    expect(r.status).toBe(0);
  });

  it('exits non-zero and reports failures', () => {
    const r = run('--plugin', 'server:KeyManager:memory', '--plugin-data', 'nonsense = 1', '--only', 'health');
    expect(r.stdout).toMatch(/FAIL/);
    expect(r.stdout).toMatch(/^0 passed, 1 failed$/m);
    expect(r.status).toBe(1);
  });

  it('explains bad arguments', () => {
    const r = run('--plugin', 'server:KeyManager');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('side:Type:name');
    const r2 = run('--plugin', 'server:KeyManager:nope');
    expect(r2.status).toBe(2);
    expect(r2.stderr).toContain('no built-in server KeyManager plugin named "nope"');
    const r3 = run('--plugin-cmd', '/bin/true');
    expect(r3.stderr).toContain('--plugin-cmd needs --type');
  });
});
