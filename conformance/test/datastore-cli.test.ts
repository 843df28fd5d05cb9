// spire-conformance against the built-in DataStore: the lifecycle suite and the
// whole DataStore contract over the wire (SQLite, a database per case).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

/** Runs the CLI outside this vitest run's environment (it starts a vitest of its own). */
function run(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_ENV'));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const sqlite = 'database_type = "sqlite3"\nconnection_string = "{{db}}"\n';

describe('spire-conformance --plugin server:DataStore:sql', () => {
  it('passes the lifecycle suite and the DataStore contract over the wire', async () => {
    const r = await run('--plugin', 'server:DataStore:sql', '--plugin-data', sqlite);
    const summary = /^(\d+) passed, (\d+) failed$/m.exec(r.stdout);
    expect(summary, r.stdout + r.stderr).not.toBeNull();
    expect(summary?.[2], r.stdout.split('\n').filter((l) => l.startsWith('FAIL')).join('\n')).toBe('0');
    expect(Number(summary?.[1])).toBeGreaterThan(50);
    expect(r.stdout).toContain('# DataStore contract server:DataStore:sql');
    expect(r.stdout).toMatch(/^ok {3}concurrent writers > two writers racing to create the same entry: exactly one wins/m);
    expect(r.status).toBe(0);
  }, 120_000);

  it('explains that the contract needs {{db}} in --plugin-data', async () => {
    const r = await run('--plugin', 'server:DataStore:sql', '--plugin-data', 'database_type = "sqlite3"\nconnection_string = "/nonexistent/x.db"', '--only', 'needs an empty database');
    expect(r.stdout).toMatch(/^skip .*put \{\{db\}\} in --plugin-data/m);
    expect(r.stdout).toMatch(/^0 passed, 0 failed, 1 skipped$/m);
    expect(r.status).toBe(0);
  }, 60_000);
});
