import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import type * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { PeerCredentialsError, type PeerCredentialsErrorCode } from '@spire-ts/peercred';

export const NOBODY = 65534;
export const isRoot = process.getuid?.() === 0;

export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/** A temp dir that another uid may enter (mkdtemp makes it 0700). */
export function openTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

/** Listens on a Unix socket any uid may connect to (connect needs write permission on the file). */
export async function listenUnix(server: net.Server, path: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o777);
}

/** Resolves with the next `connection` of `server`. */
export function nextConnection(server: net.Server): Promise<net.Socket> {
  return new Promise((resolve) => server.once('connection', resolve));
}

export interface ChildRun {
  child: ChildProcess;
  /** The first JSON line the child prints. */
  firstLine: Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/** Runs a fixture with node as `uid`/`gid`, collecting stderr for failures. */
export function runFixture(name: string, args: string[], ids?: { uid: number; gid: number }): ChildRun {
  const child = spawn(process.execPath, [fixture(name), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: tmpdir(),
    ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout! });
  const firstLine = new Promise<Record<string, unknown>>((resolve, reject) => {
    lines.once('line', (line) => resolve(JSON.parse(line) as Record<string, unknown>));
    child.once('exit', (code) => reject(new Error(`${name} exited (${String(code)}) before printing: ${stderr}`)));
  });
  firstLine.catch(() => {}); // a test that expects the child to fail need not await it
  return { child, firstLine, exited };
}

/** Asserts `fn` throws a PeerCredentialsError with `code`, and returns it. */
export function expectPeerError(fn: () => unknown, code: PeerCredentialsErrorCode): PeerCredentialsError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PeerCredentialsError);
    expect((err as PeerCredentialsError).code).toBe(code);
    return err as PeerCredentialsError;
  }
  throw new Error(`expected a PeerCredentialsError ${code}`);
}
