import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { beforeAll, describe, expect, it } from 'vitest';
import { alive, chmodFixtures, fixture, sleep, until } from './helpers.js';

beforeAll(chmodFixtures);

/** Runs fixtures/host.mjs, returns its pid and its plugin's pid. */
async function startHost(pluginFile: string, env: Record<string, string> = {}): Promise<{ host: number; plugin: number }> {
  const child = spawn(process.execPath, [fixture('host.mjs'), pluginFile], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`host printed no pid within 10 s; stderr: ${stderr}`)), 10_000);
    createInterface({ input: child.stdout }).once('line', (l) => {
      clearTimeout(t);
      resolve(l);
    });
    child.once('exit', (code, sig) => reject(new Error(`host exited (${code ?? sig}) before printing a pid; stderr: ${stderr}`)));
  });
  const plugin = Number(line);
  expect(Number.isInteger(plugin) && plugin > 0, `bad pid line ${JSON.stringify(line)}`).toBe(true);
  return { host: child.pid!, plugin };
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

describe.concurrent('no orphans when the host is SIGKILLed', () => {
  it('default launch (setpriv --pdeathsig KILL): even a plugin that ignores SIGTERM and never polls its parent dies', async () => {
    const { host, plugin } = await startHost('stubborn.mjs');
    try {
      expect(alive(plugin)).toBe(true);
      process.kill(host, 'SIGKILL');
      await until(() => !alive(plugin), 3000, `plugin ${plugin} to die with its host`);
    } finally {
      kill(host);
      kill(plugin);
    }
  });

  it('SPIRE_TS_PLUGIN_PDEATHSIG=0: the SDK notices the host is gone and exits', async () => {
    const { host, plugin } = await startHost('configurable.mjs', { SPIRE_TS_PLUGIN_PDEATHSIG: '0' });
    try {
      expect(alive(plugin)).toBe(true);
      process.kill(host, 'SIGKILL');
      await until(() => !alive(plugin), 3000, `plugin ${plugin} to notice its host is gone`);
    } finally {
      kill(host);
      kill(plugin);
    }
  });

  it('control: SPIRE_TS_PLUGIN_PDEATHSIG=0 really drops the wrapper (a plugin without ppid polling survives)', async () => {
    const { host, plugin } = await startHost('stubborn.mjs', { SPIRE_TS_PLUGIN_PDEATHSIG: '0' });
    try {
      process.kill(host, 'SIGKILL');
      await until(() => !alive(host), 3000, 'the host to die');
      await sleep(1000);
      expect(alive(plugin)).toBe(true);
    } finally {
      kill(host);
      kill(plugin);
    }
  });
});
