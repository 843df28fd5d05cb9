import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Creates `dir` and its missing parents with `mode` (before the umask);
 * returns the topmost directory it created, or undefined if `dir` existed.
 * Walks down from the nearest existing ancestor one mkdir at a time: Node's
 * recursive mkdir (sync and promise forms) never returns where mkdir answers
 * ENOENT under an existing parent, as under procfs (`/proc/x/y` hangs it);
 * here that is the ENOENT error, naming the directory.
 *
 * @example
 * ```ts
 * makeDirectories('/var/lib/spire-agent', 0o700); // '/var/lib/spire-agent' if it was made
 * ```
 */
export function makeDirectories(dir: string, mode: number): string | undefined {
  const missing: string[] = [];
  for (let d = resolve(dir); !exists(d); d = dirname(d)) {
    missing.push(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(d).isDirectory()) throw err;
    }
  }
  return missing[0];
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
