// What a plugin host leaves behind when it or its plugins stop: socket
// directories after a SIGKILL, and the races of a signal sent to the host's
// whole process group (Ctrl-C, `timeout`, systemd's KillMode=control-group),
// with real host and plugin processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchPlugin, nullLogger, removePluginSocket } from '@spire-ts/common';
import { alive, chmodFixtures, fixture, sleep, until } from './helpers.js';

let tmp: string;
beforeAll(() => {
  chmodFixtures();
  tmp = mkdtempSync(join(tmpdir(), 'spire-shutdown-test'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Entries named plugin* in `dir`. */
const pluginDirs = (dir: string): string[] => readdirSync(dir).filter((n) => n.startsWith('plugin'));

describe.concurrent('the socket directory of a plugin that exited', () => {
  it('a SIGKILLed plugin (which cannot clean up) has its socket and private directory removed by the host', async () => {
    const proc = await launchPlugin({ type: 'KeyManager', name: 'sigkilled', command: fixture('configurable.mjs') }, nullLogger);
    const socket = proc.handshake.address;
    expect(existsSync(socket)).toBe(true);
    expect(dirname(dirname(socket))).toBe(tmpdir());
    proc.signal('SIGKILL');
    await proc.exited;
    proc.closeChannel();
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(dirname(socket))).toBe(false);
  });

  it('only an empty plugin* directory directly under an allowed parent is removed, and only a socket is unlinked', async () => {
    const base = mkdtempSync(join(tmp, 'parents'));
    const listen = (path: string): Promise<void> =>
      new Promise((resolve) => {
        const s = createServer().listen(path, () => {
          // Closing a listening socket unlinks it: drop the handle without closing, as a killed process does.
          s.unref();
          resolve();
        });
      });
    // 1. the plugin's own directory: removed.
    mkdirSync(join(base, 'pluginAb12cd'));
    await listen(join(base, 'pluginAb12cd', 'plugin.sock'));
    removePluginSocket(join(base, 'pluginAb12cd', 'plugin.sock'), [base]);
    expect(existsSync(join(base, 'pluginAb12cd'))).toBe(false);
    // 2. something else is in there too: the socket goes, the directory stays.
    mkdirSync(join(base, 'plugin123456'));
    await listen(join(base, 'plugin123456', 'plugin.sock'));
    writeFileSync(join(base, 'plugin123456', 'keep'), 'x');
    removePluginSocket(join(base, 'plugin123456', 'plugin.sock'), [base]);
    expect(readdirSync(join(base, 'plugin123456'))).toEqual(['keep']);
    // 3. not named plugin*, or not directly under an allowed parent: only the socket goes.
    for (const dir of [join(base, 'sockets'), join(base, 'deeper', 'pluginXy12zz')]) {
      mkdirSync(dir, { recursive: true });
      await listen(join(dir, 'plugin.sock'));
      removePluginSocket(join(dir, 'plugin.sock'), [base]);
      expect(existsSync(dir)).toBe(true);
      expect(readdirSync(dir)).toEqual([]);
    }
    // 4. a regular file where the socket was announced is not a socket: left alone, and so is its directory.
    mkdirSync(join(base, 'pluginFile00'));
    writeFileSync(join(base, 'pluginFile00', 'plugin.sock'), 'not a socket');
    removePluginSocket(join(base, 'pluginFile00', 'plugin.sock'), [base]);
    expect(readdirSync(join(base, 'pluginFile00'))).toEqual(['plugin.sock']);
  });
});

/** fixtures/cli-host.mjs in its own process group, with a private TMPDIR (where its plugin makes its socket directory). */
class Host {
  readonly proc: ChildProcess;
  readonly tmpdir: string;
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly pluginPid: Promise<number>;

  constructor(name: string, env: Record<string, string> = {}) {
    this.tmpdir = mkdtempSync(join(tmp, `${name}-`));
    this.proc = spawn(process.execPath, [fixture('cli-host.mjs')], {
      env: { ...process.env, TMPDIR: this.tmpdir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve({ code, signal })));
    let stdout = '';
    this.pluginPid = new Promise((resolve, reject) => {
      this.proc.stdout!.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('\n')) resolve(Number(stdout.trim()));
      });
      void this.exited.then(() => reject(new Error(`host exited before its plugin was ready:\n${this.stderr}`)));
    });
  }

  /** Signals the host's process group: the host and its plugin. */
  signalGroup(sig: NodeJS.Signals): void {
    process.kill(-this.proc.pid!, sig);
  }

  kill(): void {
    try {
      process.kill(-this.proc.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

async function withHost(name: string, env: Record<string, string>, body: (h: Host, plugin: number) => Promise<void>): Promise<void> {
  const h = new Host(name, env);
  try {
    const plugin = await h.pluginPid;
    expect(pluginDirs(h.tmpdir)).toHaveLength(1);
    await body(h, plugin);
  } finally {
    h.kill();
  }
}

describe.concurrent('a signal to the host process group (host and plugins)', () => {
  it('SIGTERM (as timeout and systemd send): the plugin exits by itself, and that is no crash; nothing is left', async () => {
    await withHost('term', {}, async (h, plugin) => {
      h.signalGroup('SIGTERM');
      expect(await h.exited).toEqual({ code: 0, signal: null });
      expect(h.stderr).toContain('msg="Plugins stopped"');
      expect(h.stderr).not.toContain('exited unexpectedly');
      expect(h.stderr).not.toContain('Restarting plugin');
      expect(h.stderr).toContain('msg="Plugin exited while the host is shutting down"');
      expect(alive(plugin)).toBe(false);
      expect(pluginDirs(h.tmpdir)).toEqual([]);
    });
  });

  it('SIGINT (Ctrl-C): the plugin ignores it and is stopped by the host (controller Shutdown, exit 0); nothing is left', async () => {
    await withHost('int', {}, async (h, plugin) => {
      h.signalGroup('SIGINT');
      await sleep(200);
      expect(alive(plugin)).toBe(true); // ignored it; the host is still in its stop delay
      expect(await h.exited).toEqual({ code: 0, signal: null });
      expect(h.stderr).toContain('msg="Plugins stopped" plugin_exit="{\\"code\\":0,\\"signal\\":null}"');
      expect(h.stderr).toContain('ignoring SIGINT');
      expect(h.stderr).not.toContain('exited unexpectedly');
      expect(alive(plugin)).toBe(false);
      expect(pluginDirs(h.tmpdir)).toEqual([]);
    });
  });

  it('SIGINT then SIGTERM right after (Ctrl-C, and a supervisor passing it on): one orderly stop, exit 0', async () => {
    await withHost('int-term', {}, async (h, plugin) => {
      h.signalGroup('SIGINT');
      await sleep(100);
      h.signalGroup('SIGTERM');
      expect(await h.exited).toEqual({ code: 0, signal: null });
      expect(h.stderr).toContain('msg="Plugins stopped"');
      expect(h.stderr).not.toContain('exited unexpectedly');
      expect(alive(plugin)).toBe(false);
      expect(pluginDirs(h.tmpdir)).toEqual([]);
    });
  });

  it('a second SIGINT well after the first forces the exit (130), still killing the plugin and removing its directory', async () => {
    await withHost('force', { HOST_STOP_DELAY_MS: '20000' }, async (h, plugin) => {
      h.signalGroup('SIGINT');
      await sleep(1300);
      expect(alive(plugin)).toBe(true);
      const t0 = Date.now();
      h.signalGroup('SIGINT');
      expect(await h.exited).toEqual({ code: 130, signal: null });
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(h.stderr).toContain('SIGINT received again while stopping: exiting now');
      expect(h.stderr).not.toContain('Plugins stopped');
      await until(() => !alive(plugin), 3000, 'the plugin to be gone');
      expect(pluginDirs(h.tmpdir)).toEqual([]);
    });
  });
});
