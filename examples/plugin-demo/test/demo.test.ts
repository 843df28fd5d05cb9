// `npm run start:plugin-demo` runs this demo; the README promises what it shows.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));

describe('npm run start:plugin-demo (plugin runtime demo)', () => {
  it('loads the memory KeyManager as a child process, signs, survives a crash and stops cleanly', () => {
    const r = spawnSync(process.execPath, [main], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/KeyManager "memory" is running as pid \d+/);
    expect(r.stdout).toMatch(/verified by node:crypto: true/);
    expect(r.stdout).not.toMatch(/verified by node:crypto: false/);
    expect(r.stdout).toMatch(/restarted as pid \d+, re-initialised and re-configured \(restarts: 1\)/);
    expect(r.stdout).toMatch(/plugins stopped/);
    expect(r.stderr).toMatch(/level=error msg="Plugin exited unexpectedly".*status="killed by SIGKILL"/);
  });
});
