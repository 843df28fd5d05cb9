import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagedPlugin, memoryLogger, nullLogger, restartDelayMs, unary, type Logger, type ManagedPluginOptions, type PluginState } from '@spire-ts/common';
import { Status, isServiceError } from '@spire-ts/plugin-sdk';
import { KM_SERVICE, alive, chmodFixtures, expectHostError, fixture, sleep, until } from './helpers.js';

let tmp: string;
beforeAll(() => {
  chmodFixtures();
  tmp = mkdtempSync(join(tmpdir(), 'spire-managed-test'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function managed(
  name: string,
  file: string,
  extra: Partial<Omit<ManagedPluginOptions, 'launch' | 'service'>> & { env?: Record<string, string>; log?: Logger } = {},
): ManagedPlugin<typeof KM_SERVICE> {
  const { env, ...rest } = extra;
  return new ManagedPlugin({
    launch: { type: 'KeyManager', name, command: fixture(file), ...(env ? { env } : {}), handshakeTimeoutMs: 10_000 },
    service: KM_SERVICE,
    trustDomain: 'example.org',
    log: nullLogger,
    backoff: { initialMs: 50, maxMs: 500, jitter: 0 },
    ...rest,
  });
}

async function keyIds(p: ManagedPlugin<typeof KM_SERVICE>): Promise<string[]> {
  const res = await unary(p.client, 'GetPublicKeys', {}, { deadlineMs: 5000 });
  return res.public_keys.map((k) => k.id);
}

describe.concurrent('ManagedPlugin: Init and Configure', () => {
  it('a Configure failure is ERR_PLUGIN_CONFIGURE with the plugin message, and the child is gone', async () => {
    const marker = join(tmp, 'cfgfail.pid');
    const p = managed('cfgfail', 'configurable.mjs', { pluginData: 'fail = true\n', env: { FIXTURE_MARKER: marker } });
    const err = await expectHostError(
      p.start(),
      'ERR_PLUGIN_CONFIGURE',
      'keymanager(cfgfail): failed to configure: INVALID_ARGUMENT: configure refused: fail = true in plugin_data',
    );
    expect(err.grpcCode).toBe(Status.INVALID_ARGUMENT);
    const pid = Number(readFileSync(marker, 'utf8'));
    expect(err.message).toContain(`(pid ${pid})`);
    expect(alive(pid)).toBe(false);
    expect(p.currentState).toBe('stopped');
  });

  it('a plugin that does not implement the type service is ERR_PLUGIN_INIT', async () => {
    const p = managed('agentkm', 'wrong-service.mjs');
    await expectHostError(
      p.start(),
      'ERR_PLUGIN_INIT',
      'keymanager(agentkm): plugin does not implement spire.plugin.server.keymanager.v1.KeyManager',
      '(it offers spire.plugin.agent.keymanager.v1.KeyManager, spire.service.common.config.v1.Config)',
    );
    expect(p.currentState).toBe('stopped');
  });

  it('plugin_data for a plugin without the Config service is ERR_PLUGIN_CONFIGURE', async () => {
    const p = managed('nocfg', 'no-config.mjs', { pluginData: 'x = 1' });
    await expectHostError(
      p.start(),
      'ERR_PLUGIN_CONFIGURE',
      'keymanager(nocfg): plugin_data was given but the plugin does not implement spire.service.common.config.v1.Config',
    );
  });

  it('a plugin without the Config service and no plugin_data loads', async () => {
    const p = managed('nocfg-ok', 'no-config.mjs');
    await p.start();
    try {
      expect(p.currentState).toBe('ready');
      expect(await keyIds(p)).toEqual([]);
    } finally {
      await p.stop();
    }
  });
});

describe.concurrent('ManagedPlugin: supervision', () => {
  it("re-emits the plugin's stderr through the host logger with plugin fields and levels", async () => {
    const log = memoryLogger();
    const p = managed('logs', 'configurable.mjs', { log, pluginData: 'x = 1' });
    await p.start();
    try {
      const ours = (): typeof log.lines => log.lines.filter((l) => l.fields['plugin_name'] === 'logs');
      await until(() => ours().some((l) => l.msg === 'careful: this is a warning'), 5000, 'the [WARN] line');
      const common = { plugin_type: 'KeyManager', plugin_name: 'logs' };
      expect(ours()).toEqual(
        expect.arrayContaining([
          { level: 'info', msg: 'fixture configured', fields: expect.objectContaining({ ...common, '@module': 'fixture-configurable', count: 1, answer: 42 }) },
          { level: 'debug', msg: 'a plain stderr line', fields: expect.objectContaining(common) },
          { level: 'warn', msg: 'careful: this is a warning', fields: expect.objectContaining(common) },
        ]),
      );
      const json = ours().find((l) => l.msg === 'fixture configured')!;
      expect(json.fields).not.toHaveProperty('@timestamp');
      expect(json.fields).not.toHaveProperty('@level');
    } finally {
      await p.stop();
    }
  });

  it('over the lean HTTP/2 path (call()), a crash mid-call and calls while down fail with UNAVAILABLE; calls work again after restart', async () => {
    const p = managed('leancrash', 'configurable.mjs', { backoff: { initialMs: 300, maxMs: 300 } });
    await p.start();
    try {
      const first = p.pid!;
      const ok = await p.call('SignData', { key_id: 'k', data: Buffer.from([1]), hash_algorithm: 'SHA256' }, { deadlineMs: 5000 });
      expect(Buffer.from(ok.signature).toString()).toBe('sig');
      const midCall = await p.call('SignData', { key_id: 'k', data: Buffer.from([0xff]), hash_algorithm: 'SHA256' }, { deadlineMs: 5000 }).catch((e: unknown) => e);
      expect(isServiceError(midCall) && midCall.code).toBe(Status.UNAVAILABLE);
      await until(() => p.currentState !== 'ready', 5000, 'the crash to be noticed');
      const whileDown = await p.call('GetPublicKeys', {}).catch((e: unknown) => e);
      expect(isServiceError(whileDown) && whileDown.code).toBe(Status.UNAVAILABLE);
      await p.whenReady();
      expect(p.pid).not.toBe(first);
      const res = await p.call('GetPublicKeys', {}, { deadlineMs: 5000 });
      expect(res.public_keys.map((k) => k.id)).toEqual([`configured-1-${p.pid}`]);
      // Status codes from the plugin come through on this path too (the fixture has no GenerateKey).
      const err = await p.call('GenerateKey', { key_id: '', key_type: 'EC_P256' }).catch((e: unknown) => e);
      expect(isServiceError(err) && err.code).toBe(Status.UNIMPLEMENTED);
    } finally {
      await p.stop();
    }
  });

  it('a crash mid-call fails the call with UNAVAILABLE, then the plugin is restarted, re-initialised and re-configured', async () => {
    const log = memoryLogger();
    const states: PluginState[] = [];
    const p = managed('crashy', 'configurable.mjs', { log, pluginData: 'x = 1', onState: (s) => states.push(s) });
    await p.start();
    try {
      const first = p.pid!;
      expect(await keyIds(p)).toEqual([`configured-1-${first}`]);

      let err: unknown;
      try {
        await unary(p.client, 'SignData', { key_id: 'k', data: Buffer.from([0xff, 1, 2]), hash_algorithm: 'SHA256' }, { deadlineMs: 5000 });
      } catch (e) {
        err = e;
      }
      expect(isServiceError(err) && err.code).toBe(Status.UNAVAILABLE);

      await until(() => states.includes('crashed') && states.at(-1) === 'ready', 10_000, 'the plugin to be restarted');
      const second = p.pid!;
      expect(second).not.toBe(first);
      expect(alive(first)).toBe(false);
      expect(p.restarts).toBe(1);
      expect(states).toEqual(['starting', 'ready', 'crashed', 'restarting', 'ready']);
      // Configure ran once in the new process.
      expect(await keyIds(p)).toEqual([`configured-1-${second}`]);
      const signed = await unary(p.client, 'SignData', { key_id: 'k', data: Buffer.from([1]), hash_algorithm: 'SHA256' }, { deadlineMs: 5000 });
      expect(Buffer.from(signed.signature).toString()).toBe('sig');

      const plugin = { plugin_type: 'KeyManager', plugin_name: 'crashy' };
      expect(log.lines).toEqual(
        expect.arrayContaining([
          { level: 'error', msg: 'Plugin exited unexpectedly', fields: expect.objectContaining({ ...plugin, pid: first, status: 'killed by SIGKILL' }) },
          { level: 'info', msg: 'Restarting plugin', fields: expect.objectContaining({ ...plugin, attempt: 1, delay_ms: 50 }) },
          { level: 'info', msg: 'Plugin restarted and reconfigured', fields: expect.objectContaining({ ...plugin, pid: second }) },
        ]),
      );
    } finally {
      await p.stop();
    }
  });

  it('stop() of a plugin that ignores Shutdown and SIGTERM kills it with SIGKILL after the grace period', async () => {
    const log = memoryLogger();
    const p = managed('stubborn', 'stubborn.mjs', { log, stopGraceMs: 150 });
    await p.start();
    const pid = p.pid!;
    const t0 = Date.now();
    await p.stop();
    const took = Date.now() - t0;
    expect(p.lastExit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(took).toBeGreaterThanOrEqual(290); // two grace periods: after Shutdown, after SIGTERM
    expect(alive(pid)).toBe(false);
    expect(p.currentState).toBe('stopped');
    await until(() => log.lines.some((l) => l.msg === 'ignoring SIGTERM'), 2000, 'the fixture to report SIGTERM');
    expect(log.lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 'info', msg: 'ignoring Shutdown' }),
        expect.objectContaining({ level: 'info', msg: 'ignoring SIGTERM' }),
        { level: 'warn', msg: 'Plugin did not exit; killing it', fields: expect.objectContaining({ plugin_name: 'stubborn', pid }) },
      ]),
    );
  });

  it('stop() of a well-behaved plugin ends it through the controller Shutdown (exit code 0, before any signal)', async () => {
    const log = memoryLogger();
    const grace = 5000;
    const p = managed('polite', 'configurable.mjs', { log, stopGraceMs: grace });
    await p.start();
    const pid = p.pid!;
    const t0 = Date.now();
    await p.stop();
    // SIGTERM would only be sent after `grace` ms, and the SDK exits 0 on SIGTERM too: timing tells them apart.
    expect(Date.now() - t0).toBeLessThan(grace);
    expect(p.lastExit).toEqual({ code: 0, signal: null });
    expect(alive(pid)).toBe(false);
    expect(p.currentState).toBe('stopped');
    expect(log.lines.some((l) => l.msg.includes('killing it'))).toBe(false);
    await until(() => log.lines.some((l) => l.msg === 'plugin exiting'), 2000, "the plugin's exit log line");
    expect(log.lines.find((l) => l.msg === 'plugin exiting')!.fields).toMatchObject({ reason: 'shutdown requested by host', plugin_name: 'polite' });
  });

  it('stop() while a restart is being launched leaves no plugin process behind', async () => {
    const states: PluginState[] = [];
    const p = managed('restart-stop', 'configurable.mjs', { backoff: { initialMs: 1, maxMs: 1 }, stopGraceMs: 500, onState: (s) => states.push(s) });
    await p.start();
    const first = p.pid!;
    process.kill(first, 'SIGKILL');
    await until(() => states.at(-1) === 'restarting', 5000, 'the restart to begin');
    await p.stop();
    expect(p.currentState).toBe('stopped');
    // The relaunched process (stop() waits for the launch in flight) must be gone too.
    await until(() => p.pid !== first, 3000, 'the relaunched process');
    expect(alive(p.pid!)).toBe(false);
    expect(p.currentState).toBe('stopped');
    expect(p.restarts).toBe(0);
  });

  it('stop() during the restart backoff cancels the restart', async () => {
    const states: PluginState[] = [];
    const p = managed('backoff-stop', 'configurable.mjs', { backoff: { initialMs: 60_000 }, onState: (s) => states.push(s) });
    await p.start();
    const first = p.pid!;
    process.kill(first, 'SIGKILL');
    await until(() => states.at(-1) === 'crashed', 5000, 'the crash to be noticed');
    await p.stop();
    expect(states).toEqual(['starting', 'ready', 'crashed', 'stopping', 'stopped']);
    expect(p.pid).toBe(first);
  });
});

describe('ManagedPlugin: restart backoff', () => {
  it('restartDelayMs doubles from initialMs up to maxMs, less up to `jitter` of it at random', () => {
    const b = { initialMs: 200, maxMs: 30_000, jitter: 0 };
    expect([1, 2, 3, 4, 5, 8, 9, 50, 5000].map((n) => restartDelayMs(n, b))).toEqual([200, 400, 800, 1600, 3200, 25_600, 30_000, 30_000, 30_000]);
    const j = { initialMs: 1000, maxMs: 4000, jitter: 0.25 };
    expect(restartDelayMs(1, j, () => 0)).toBe(1000);
    expect(restartDelayMs(1, j, () => 0.999999)).toBe(750);
    expect(restartDelayMs(3, j, () => 0.5)).toBe(3500);
    expect(restartDelayMs(10, j, () => 0.999999)).toBe(3000);
    // The defaults: 200 ms, 30 s, 20 % jitter.
    for (let i = 0; i < 50; i++) {
      const d = restartDelayMs(20);
      expect(d).toBeGreaterThanOrEqual(24_000);
      expect(d).toBeLessThanOrEqual(30_000);
    }
  });

  it('a plugin that crashes right after every restart backs off exponentially up to the cap; after staying up it starts over', async () => {
    const log = memoryLogger();
    const p = managed('flappy', 'configurable.mjs', { log, backoff: { initialMs: 50, maxMs: 200, jitter: 0, resetAfterMs: 3000 } });
    const restarts = (): unknown[] => log.lines.filter((l) => l.msg === 'Restarting plugin').map((l) => [l.fields?.attempt, l.fields?.delay_ms]);
    await p.start();
    try {
      for (let i = 1; i <= 4; i++) {
        process.kill(p.pid!, 'SIGKILL');
        await until(() => p.restarts === i && p.currentState === 'ready', 10_000, `restart ${i}`);
      }
      expect(restarts()).toEqual([[1, 50], [2, 100], [3, 200], [4, 200]]);
      // Up longer than resetAfterMs: the next crash is a first one again.
      await sleep(3200);
      process.kill(p.pid!, 'SIGKILL');
      await until(() => p.restarts === 5 && p.currentState === 'ready', 10_000, 'restart 5');
      expect(restarts().at(-1)).toEqual([1, 50]);
      const crash = log.lines.filter((l) => l.msg === 'Plugin exited unexpectedly').at(-1)!;
      expect(crash.fields?.uptime_ms).toBeGreaterThanOrEqual(3000);
    } finally {
      await p.stop();
    }
  });
});

describe('ManagedPlugin: stop races', () => {
  it('concurrent stop() calls share one kill sequence and both resolve', async () => {
    const p = managed('twostops', 'configurable.mjs');
    await p.start();
    const pid = p.pid!;
    await Promise.all([p.stop(), p.stop(), p.stop()]);
    expect(p.currentState).toBe('stopped');
    expect(alive(pid)).toBe(false);
    expect(p.lastExit?.code).toBe(0);
  });

  it('whenReady() rejects when the plugin is stopped instead of hanging', async () => {
    const p = managed('readystop', 'configurable.mjs', { backoff: { initialMs: 10_000, maxMs: 10_000 } });
    await p.start();
    process.kill(p.pid!, 'SIGKILL');
    await until(() => p.currentState === 'crashed', 5000, 'the crash to be noticed');
    const waiting = p.whenReady();
    await p.stop();
    await expect(waiting).rejects.toThrow('keymanager(readystop): plugin is stopping');
    await expect(p.whenReady()).rejects.toThrow('plugin is stopped');
  });
});

describe('ManagedPlugin.validateOnly', () => {
  it('asks the plugin to Validate (never Configure) and returns its notes', async () => {
    const marker = join(tmp, 'validate.pid');
    const bad = managed('validating', 'configurable.mjs', { pluginData: 'fail = true\n', env: { FIXTURE_MARKER: marker } });
    const notes = await bad.validateOnly();
    expect(notes.join('\n')).toContain('fail = true');
    const pid = Number(readFileSync(marker, 'utf8'));
    expect(alive(pid)).toBe(false);
    const good = managed('validating2', 'configurable.mjs', { pluginData: 'x = 1\n' });
    expect(await good.validateOnly()).toEqual([]);
  });
});
