import { chmodSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { PluginHostError, type PluginErrorCode } from '@spire-ts/common';

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

export const fixture = (name: string): string => `${FIXTURES}${name}`;

/** git keeps the executable bit, but make sure anyway. */
export function chmodFixtures(): void {
  for (const f of readdirSync(FIXTURES)) if (f.endsWith('.mjs')) chmodSync(fixture(f), 0o755);
}

export const KM_SERVICE = 'spire.plugin.server.keymanager.v1.KeyManager' as const;

/**
 * True while `pid` is a live process. A zombie counts as gone: PID 1 in some
 * containers does not reap the orphans it inherits.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 20 ms until it holds, or fails after `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Awaits a rejection that must be a PluginHostError with `code` whose message contains every `parts`. */
export async function expectHostError(p: Promise<unknown>, code: PluginErrorCode, ...parts: Array<string | RegExp>): Promise<PluginHostError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a rejection').toBeDefined();
  expect(caught).toBeInstanceOf(PluginHostError);
  const err = caught as PluginHostError;
  expect({ code: err.code, message: err.message }).toMatchObject({ code });
  for (const part of parts) {
    if (typeof part === 'string') expect(err.message).toContain(part);
    else expect(err.message).toMatch(part);
  }
  return err;
}
