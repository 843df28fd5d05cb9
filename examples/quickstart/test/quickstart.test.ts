// `npm start` (the quickstart) run for real from a clean temporary data
// directory: identities, the mTLS exchange, the intruder's refusal, a
// rotation, Ctrl-C stopping every child, and a second run that reuses the
// data directory without re-attesting. Needs the build (`npm test` builds).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'spire-ts-qs-'));
const started: Quickstart[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * The quickstart in its own process group (as in a terminal, where Ctrl-C
 * reaches the whole group), with a private TMPDIR: the plugins of its server
 * and agent make their socket directories there.
 */
class Quickstart {
  readonly proc: ChildProcess;
  out = '';
  readonly exited: Promise<number | null>;
  readonly tmp: string;

  constructor(
    readonly dataDir: string,
    port: number,
    extraEnv: Record<string, string> = {},
  ) {
    this.tmp = mkdtempSync(join(dir, 'tmp-'));
    this.proc = spawn(process.execPath, [MAIN], {
      cwd: tmpdir(),
      env: { ...process.env, TMPDIR: this.tmp, SPIRE_TS_QUICKSTART_DIR: dataDir, SPIRE_TS_QUICKSTART_PORT: String(port), SPIRE_TS_QUICKSTART_SVID_TTL: '20', ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.proc.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
    started.push(this);
  }

  async waitFor(re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.out);
      if (m) return m;
      if (this.proc.exitCode !== null || Date.now() > deadline) throw new Error(`quickstart output never matched ${String(re)}:\n${this.out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Pids of every child the quickstart said it started. */
  childPids(): number[] {
    return [...this.out.matchAll(/started [\w-]+ \(pid (\d+)\)/g)].map((m) => Number(m[1]));
  }
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * SIGINT to the process group (Ctrl-C in a terminal), or to the quickstart
 * alone: a clean exit, every child stopped by that one signal (status 0:
 * spire-server and spire-agent stopped their plugins in order), and no child,
 * plugin or plugin socket directory left.
 */
async function interrupt(qs: Quickstart, to: 'group' | 'quickstart'): Promise<void> {
  const pids = qs.childPids();
  expect(pids.length).toBe(5); // spire-server, spire-agent, demo-server, demo-client, intruder
  const logs = ['spire-server', 'spire-agent'].map((n) => join(qs.dataDir, 'logs', `${n}.log`));
  const stoppedBefore = logs.map((f) => (existsSync(f) ? readFileSync(f, 'utf8').split('msg="Plugins stopped"').length : 1));
  if (to === 'group') process.kill(-qs.proc.pid!, 'SIGINT');
  else qs.proc.kill('SIGINT');
  expect(await qs.exited).toBe(0);
  expect(qs.out).toContain('all processes stopped');
  expect(qs.out).toMatch(/stopped spire-agent \(pid \d+, status 0\)/);
  expect(qs.out).toMatch(/stopped spire-server \(pid \d+, status 0\)/);
  if (to === 'group') expect(qs.out).not.toContain('still running after');
  else expect(qs.out).toContain('still running after 5 s: stopping');
  // Each logged "Plugins stopped" once more.
  expect(logs.map((f) => readFileSync(f, 'utf8').split('msg="Plugins stopped"').length)).toEqual(stoppedBefore.map((n) => n + 1));
  expect(pids.filter(isAlive)).toEqual([]);
  expect(readdirSync(qs.tmp).filter((n) => n.startsWith('plugin'))).toEqual([]);
}

afterAll(async () => {
  for (const qs of started) {
    if (qs.proc.exitCode === null) {
      const pids = qs.childPids();
      try {
        process.kill(-qs.proc.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('npm start (the quickstart)', () => {
  it('builds the expected files first', () => {
    expect(existsSync(MAIN), `${MAIN} is not built: run npm run build`).toBe(true);
  });

  const data = join(dir, 'data');
  const ID = /identity: (spiffe:\/\/example\.org\/[\w-]+) serial ([0-9a-f]+) expires (\d{4}-\d\d-\d\dT[\d:.]+Z) \(in \d+ s\)/g;

  it('starts everything, shows identities, mTLS and the refusal, rotates, and stops every child on Ctrl-C', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const qs = new Quickstart(data, port);
    await qs.waitFor(/\[6\/6\] running/, 40_000);
    expect(qs.out).toContain('generated a join token');
    expect(qs.out).toMatch(/spire-agent is ready as spiffe:\/\/example\.org\/spire\/agent\/join_token\/\S+ \(attested with the join token\)/);
    expect(qs.out.match(/created entry/g)).toHaveLength(3);

    const ids = new Map([...qs.out.matchAll(ID)].map((m) => [m[1]!, { serial: m[2]!, expires: Date.parse(m[3]!) }]));
    expect([...ids.keys()].sort()).toEqual(['spiffe://example.org/demo-client', 'spiffe://example.org/demo-server', 'spiffe://example.org/intruder']);
    for (const { expires } of ids.values()) expect(expires).toBeGreaterThan(Date.now() - 30_000);

    expect(qs.out).toContain('demo-client | mTLS ok: spiffe://example.org/demo-server answered "hello spiffe://example.org/demo-client, this is spiffe://example.org/demo-server');
    expect(qs.out).toContain('intruder    | refused: spiffe://example.org/intruder is not allowed to call spiffe://example.org/demo-server');
    expect(qs.out).toContain('demo-server | refused: spiffe://example.org/intruder is not allowed to call spiffe://example.org/demo-server');

    // A 20 s SVID rotates within about 10 s; the rotated serial is the one shown at start.
    const rot = await qs.waitFor(/rotated: (spiffe:\/\/example\.org\/demo-(?:server|client)) serial ([0-9a-f]+) -> ([0-9a-f]+)/, 20_000);
    expect(rot[2]).toBe(ids.get(rot[1]!)!.serial);
    expect(rot[3]).not.toBe(rot[2]);

    await interrupt(qs, 'group');
    expect(existsSync(join(data, 'quickstart.pid'))).toBe(false);
  });

  it('reuses the data directory on a second run: same entries, no new join token, no re-attestation', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const qs = new Quickstart(data, port);
    await qs.waitFor(/\[6\/6\] running/, 40_000);
    expect(qs.out.match(/found existing entry/g)).toHaveLength(3);
    expect(qs.out).not.toContain('created entry');
    expect(qs.out).not.toContain('generated a join token');
    expect(qs.out).toContain('no join token, no re-attestation');
    expect(qs.out).toContain('(reused its persisted SVID, no re-attestation)');
    expect(readFileSync(join(data, 'agent.conf'), 'utf8')).not.toContain('join_token =');
    expect(readFileSync(join(data, 'logs', 'spire-agent.log'), 'utf8').match(/Node attestation was successful/g)).toHaveLength(1);
    expect(qs.out).toContain('mTLS ok');
    expect(qs.out).toContain('intruder    | refused:');
    await interrupt(qs, 'quickstart');
  });

  it('says what is wrong and how to fix it when the port is taken and a socket is stale', { timeout: 30_000 }, async () => {
    const blocker: Server = createServer();
    const port = await new Promise<number>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as { port: number }).port)));
    // A socket file nothing listens on, as a killed spire-server leaves behind.
    const stale = join(data, 'server', 'private', 'api.sock');
    const holder = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(stale)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => holder.stdout!.once('data', r));
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    expect(existsSync(stale)).toBe(true);
    try {
      const qs = new Quickstart(data, port);
      expect(await qs.exited).toBe(1);
      expect(qs.out).toContain(`removed a stale socket left by an earlier run: ${stale}`);
      expect(qs.out).toContain(`error: port ${port} is in use (spire-server needs it)`);
      expect(qs.out).toContain(`fix: stop the other spire-server`);
      expect(qs.out).toContain('SPIRE_TS_QUICKSTART_PORT=');
      expect(qs.childPids()).toEqual([]);
    } finally {
      blocker.close();
    }
  });

  it('attests again when the server lost its data but the agent kept its SVID', { timeout: 60_000 }, async () => {
    rmSync(join(data, 'server'), { recursive: true, force: true });
    const qs = new Quickstart(data, await freePort());
    await qs.waitFor(/\[6\/6\] running/, 40_000);
    expect(qs.out).toMatch(/the server does not know the agent spiffe:\/\/example\.org\/spire\/agent\/join_token\/\S+ \(its data was reset\?\): discarding/);
    expect(qs.out).toContain('(attested with the join token)');
    expect(qs.out).toContain('mTLS ok');
    await interrupt(qs, 'group');
  });
});
