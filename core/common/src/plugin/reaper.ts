/**
 * Process-wide bookkeeping of what the plugin host leaves on the machine:
 * the plugin children it runs and the socket directories they (and the host
 * services) use. It answers three needs:
 *
 *  - a plugin's socket directory is removed after the plugin exits, even when
 *    it was SIGKILLed and could not clean up after itself;
 *  - a forced exit of the host (a late second Ctrl-C, an uncaught error)
 *    still kills every plugin child and removes those directories,
 *    synchronously, before the process goes;
 *  - a plugin exit that races the host's own shutdown (a signal sent to the
 *    whole process group reaches the plugins too) is not taken for a crash.
 *
 * @module
 */

import { lstatSync, rmSync, rmdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, resolve } from 'node:path';

/** A live plugin child as the reaper sees it. */
export interface ReapableChild {
  /** Sends SIGKILL; must not throw. */
  killNow(): void;
  /** Removes what the plugin left on disk; must not throw. */
  cleanupNow(): void;
}

const children = new Set<ReapableChild>();
const hostDirs = new Set<string>();
let exitHookInstalled = false;
let shutdownReason: string | undefined;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' listeners run synchronously, also for process.exit() and uncaught errors.
  process.on('exit', () => reapPluginsSync());
}

/** Registers a running plugin child until {@link forgetPluginChild}. */
export function trackPluginChild(child: ReapableChild): void {
  installExitHook();
  children.add(child);
}

export function forgetPluginChild(child: ReapableChild): void {
  children.delete(child);
}

/** Registers a host-services socket directory, removed by {@link reapPluginsSync} unless forgotten first. */
export function trackHostDir(dir: string): void {
  installExitHook();
  hostDirs.add(dir);
}

export function forgetHostDir(dir: string): void {
  hostDirs.delete(dir);
}

/**
 * SIGKILLs every registered plugin child and removes its socket directory
 * and the host-services directories, all synchronously: for a forced exit.
 * A SIGKILLed process runs no more code, so removing its socket right after
 * the signal is safe.
 */
export function reapPluginsSync(): void {
  for (const c of children) {
    c.killNow();
    c.cleanupNow();
  }
  children.clear();
  for (const d of hostDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
  hostDirs.clear();
}

/**
 * Records, synchronously (call it from the signal handler itself), that the
 * host process is shutting down: from now on a plugin exit is expected and
 * is neither reported as a crash nor restarted.
 */
export function markHostShuttingDown(reason: string): void {
  shutdownReason ??= reason;
}

/** Why the host is shutting down, if it is. */
export function hostShutdownReason(): string | undefined {
  return shutdownReason;
}

/** mkdtemp's "plugin" prefix plus its random suffix (Go's os.MkdirTemp appends digits, Node's mkdtemp six characters). */
const PLUGIN_DIR_NAME = /^plugin[A-Za-z0-9]+$/;

/**
 * Removes a plugin's Unix socket after the plugin exited, and its directory
 * when that is the plugin's own temporary directory: named `plugin*`, directly
 * under one of `parents` (os.tmpdir() and the child's PLUGIN_UNIX_SOCKET_DIR),
 * owned by us, and empty once the socket is gone. Anything else is left
 * alone: the socket path came from the plugin's handshake line. Never throws.
 */
export function removePluginSocket(socketPath: string, parents: readonly string[]): void {
  const uid = process.getuid?.();
  const ours = (st: { uid: number }): boolean => uid === undefined || st.uid === uid;
  const sock = resolve(socketPath);
  const dir = dirname(sock);
  try {
    const st = lstatSync(sock);
    if (st.isSocket() && ours(st)) unlinkSync(sock);
  } catch {
    /* already gone, or not ours to remove */
  }
  const allowed = new Set(parents.filter((p) => p !== '').map((p) => resolve(p)));
  if (!allowed.has(dirname(dir)) || !PLUGIN_DIR_NAME.test(basename(dir))) return;
  try {
    const st = lstatSync(dir);
    // rmdir (not rm -r): a directory that still holds anything is kept.
    if (st.isDirectory() && ours(st)) rmdirSync(dir);
  } catch {
    /* not empty, or already gone */
  }
}

/** The directories a plugin started with `env` creates its socket directory in. */
export function pluginSocketParents(env: NodeJS.ProcessEnv): string[] {
  const parents = [tmpdir()];
  if (env.TMPDIR) parents.push(env.TMPDIR);
  if (env.PLUGIN_UNIX_SOCKET_DIR) parents.push(env.PLUGIN_UNIX_SOCKET_DIR);
  return parents;
}
