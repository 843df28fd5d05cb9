import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchPlugin, nullLogger, sha256File, unary, type LaunchSpec, type PluginProcess } from '@spire-ts/common';
import { alive, chmodFixtures, expectHostError, fixture, sleep, until } from './helpers.js';

let tmp: string;
beforeAll(() => {
  chmodFixtures();
  tmp = mkdtempSync(join(tmpdir(), 'spire-launch-test'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const spec = (name: string, command: string, extra: Partial<LaunchSpec> = {}): LaunchSpec => ({ type: 'KeyManager', name, command, ...extra });
const raw = (name: string, mode: string, extra: Partial<LaunchSpec> = {}): LaunchSpec => spec(name, fixture('raw.mjs'), { args: [mode], ...extra });

async function killProc(proc: PluginProcess): Promise<void> {
  proc.signal('SIGKILL');
  await proc.waitExit(5000);
  proc.closeChannel();
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

describe.concurrent('launchPlugin: the executable and plugin_checksum', () => {
  it('a missing binary is ERR_PLUGIN_NOT_FOUND', async () => {
    const path = join(tmp, 'no-such-plugin');
    await expectHostError(launchPlugin(spec('missing', path), nullLogger), 'ERR_PLUGIN_NOT_FOUND', 'keymanager(missing): ', `plugin executable not found: ${path}`);
  });

  it('a relative command is resolved against cwd', async () => {
    await expectHostError(launchPlugin(spec('rel', 'bin/plugin', { cwd: tmp }), nullLogger), 'ERR_PLUGIN_NOT_FOUND', `${join(tmp, 'bin/plugin')}`);
  });

  it('a file without execute permission is ERR_PLUGIN_NOT_EXECUTABLE', async () => {
    const path = join(tmp, 'noexec.mjs');
    copyFileSync(fixture('configurable.mjs'), path);
    chmodSync(path, 0o644);
    await expectHostError(launchPlugin(spec('noexec', path), nullLogger), 'ERR_PLUGIN_NOT_EXECUTABLE', 'keymanager(noexec): ', `plugin is not executable: ${path}`);
  });

  it('a directory is ERR_PLUGIN_NOT_EXECUTABLE', async () => {
    const dir = join(tmp, 'a-directory');
    mkdirSync(dir, { recursive: true });
    await expectHostError(launchPlugin(spec('dir', dir), nullLogger), 'ERR_PLUGIN_NOT_EXECUTABLE', 'keymanager(dir): ', 'not a regular file');
  });

  it('a checksum mismatch is ERR_PLUGIN_CHECKSUM and the plugin is never run', async () => {
    const marker = join(tmp, 'mismatch.marker');
    const wrong = createHash('sha256').update('something else').digest('hex');
    await expectHostError(
      launchPlugin(spec('sum', fixture('configurable.mjs'), { checksum: wrong, env: { FIXTURE_MARKER: marker } }), nullLogger),
      'ERR_PLUGIN_CHECKSUM',
      'keymanager(sum): checksum mismatch',
      `expected ${wrong}, got ${sha256(fixture('configurable.mjs'))}`,
      'refusing to start it',
    );
    await sleep(300); // a started fixture writes its marker within ~100 ms (see the next case)
    expect(existsSync(marker)).toBe(false);
  });

  it('the right checksum (any case, surrounding spaces) starts the plugin', async () => {
    const marker = join(tmp, 'match.marker');
    const sum = sha256(fixture('configurable.mjs'));
    expect(await sha256File(fixture('configurable.mjs'))).toBe(sum);
    const proc = await launchPlugin(spec('sumok', fixture('configurable.mjs'), { checksum: ` ${sum.toUpperCase()}\n`, env: { FIXTURE_MARKER: marker } }), nullLogger);
    try {
      expect(readFileSync(marker, 'utf8')).toBe(String(proc.pid));
      const res = await unary(proc.client('grpc.health.v1.Health'), 'Check', { service: 'plugin' }, { deadlineMs: 5000 });
      expect(res.status).toBe('SERVING');
    } finally {
      await killProc(proc);
    }
  });

  it.each([
    ['too short', 'abc123'],
    ['not hex', 'z'.repeat(64)],
    ['sha256: prefix', `sha256:${'a'.repeat(64)}`],
  ])('a malformed checksum (%s) is ERR_PLUGIN_CHECKSUM', async (_what, checksum) => {
    await expectHostError(
      launchPlugin(spec('badsum', fixture('configurable.mjs'), { checksum }), nullLogger),
      'ERR_PLUGIN_CHECKSUM',
      'keymanager(badsum): plugin_checksum must be 64 hex digits (SHA-256)',
      JSON.stringify(checksum),
    );
  });
});

describe.concurrent('launchPlugin: the handshake', () => {
  it('prints one handshake line and serves on a private socket', async () => {
    const proc = await launchPlugin(spec('good', fixture('configurable.mjs')), nullLogger);
    try {
      expect(proc.handshake).toMatchObject({ coreVersion: 1, appVersion: 1, network: 'unix', protocol: 'grpc' });
      expect(statSync(proc.handshake.address).isSocket()).toBe(true);
      expect(statSync(join(proc.handshake.address, '..')).mode & 0o777).toBe(0o700);
      expect(proc.label).toBe('keymanager(good)');
    } finally {
      await killProc(proc);
    }
    expect(proc.exitStatus).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('the child gets the magic cookie and PLUGIN_PROTOCOL_VERSIONS', async () => {
    await expectHostError(launchPlugin(raw('env', 'env'), nullLogger), 'ERR_PLUGIN_EXITED', 'env: KeyManager=KeyManager PLUGIN_PROTOCOL_VERSIONS=1');
  });

  it('exit before the handshake is ERR_PLUGIN_EXITED with the exit code and stderr', async () => {
    await expectHostError(
      launchPlugin(raw('early', 'exit3'), nullLogger),
      'ERR_PLUGIN_EXITED',
      'keymanager(early): plugin exited before completing the handshake (exit code 3)',
      'fixture: loading keys',
      'fixture: fatal: cannot open /nonexistent/keys.json',
    );
  });

  it('a garbage line is ERR_PLUGIN_HANDSHAKE and the child is killed', async () => {
    const pidfile = join(tmp, 'garbage.pid');
    await expectHostError(
      launchPlugin(raw('garbage', 'garbage', { env: { FIXTURE_PIDFILE: pidfile } }), nullLogger),
      'ERR_PLUGIN_HANDSHAKE',
      'keymanager(garbage): malformed handshake line "hello, I am not a plugin"',
    );
    expect(alive(Number(readFileSync(pidfile, 'utf8')))).toBe(false);
  });

  it('a partial handshake line then silence is ERR_PLUGIN_TIMEOUT showing the partial text', async () => {
    const pidfile = join(tmp, 'partial.pid');
    await expectHostError(
      // A shell, not the Node fixture: under CI load, Node's own start-up could take the whole 2 s
      // and the timeout would then come before the partial line.
      launchPlugin(
        spec('partial', '/bin/sh', { args: ['-c', `echo $$ > "$FIXTURE_PIDFILE"; printf '1|1|unix'; exec sleep 60`], handshakeTimeoutMs: 2000, env: { FIXTURE_PIDFILE: pidfile } }),
        nullLogger,
      ),
      'ERR_PLUGIN_TIMEOUT',
      "keymanager(partial): timed out after 2000 ms waiting for the plugin's handshake line",
      'partial handshake so far: "1|1|unix"',
    );
    expect(alive(Number(readFileSync(pidfile, 'utf8')))).toBe(false);
  });

  it('a wrong app protocol version is ERR_PLUGIN_HANDSHAKE', async () => {
    await expectHostError(
      launchPlugin(raw('v9', 'wrong-version'), nullLogger),
      'ERR_PLUGIN_HANDSHAKE',
      'keymanager(v9): handshake "1|9|unix|/tmp/x|grpc|": plugin speaks protocol version "9", host accepts 1',
    );
  });

  it('a netrpc plugin is ERR_PLUGIN_HANDSHAKE', async () => {
    await expectHostError(
      launchPlugin(raw('netrpc', 'netrpc'), nullLogger),
      'ERR_PLUGIN_HANDSHAKE',
      'keymanager(netrpc): ',
      'unsupported plugin protocol "netrpc" (only grpc is supported)',
    );
  });

  it('no handshake within handshakeTimeoutMs is ERR_PLUGIN_TIMEOUT and the child is killed', async () => {
    const pidfile = join(tmp, 'never.pid');
    const t0 = Date.now();
    await expectHostError(
      // Long enough for a loaded CI machine to start node and write the pid file.
      launchPlugin(raw('sleepy', 'never', { handshakeTimeoutMs: 2000, env: { FIXTURE_PIDFILE: pidfile } }), nullLogger),
      'ERR_PLUGIN_TIMEOUT',
      "keymanager(sleepy): timed out after 2000 ms waiting for the plugin's handshake line",
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1990);
    const pid = Number(readFileSync(pidfile, 'utf8'));
    await until(() => !alive(pid), 1000, 'the timed-out plugin to be gone');
  });

  it('a log line on stdout before the handshake is ERR_PLUGIN_HANDSHAKE', async () => {
    await expectHostError(
      launchPlugin(raw('noisy', 'stdout-noise'), nullLogger),
      'ERR_PLUGIN_HANDSHAKE',
      'keymanager(noisy): malformed handshake line "starting plugin v1.2.3..."',
      'did the plugin print something else to stdout first?',
    );
  });
});
