import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { makeDirectories } from '@spire-ts/plugin-sdk';

/**
 * The file system calls the disk KeyManagers make; tests replace some of
 * them to inject failures (a rename that fails stands in for a crash between
 * writing the new file and swapping it in).
 */
export interface FileOps {
  readFile(path: string): Promise<Uint8Array>;
  /** Creates `path` (it must not exist) with exactly `mode`, writes `data`, fsyncs and closes it. */
  writeNewFile(path: string, data: Uint8Array, mode: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** fsyncs a directory, making a rename in it durable. */
  syncDir(dir: string): Promise<void>;
  /** Removes a file; a missing file is not an error. */
  remove(path: string): Promise<void>;
  /** Creates a directory and its parents; new ones get `mode`. */
  mkdirp(dir: string, mode: number): Promise<void>;
}

/** {@link FileOps} on the real file system. */
export const nodeFileOps: FileOps = {
  readFile: (path) => fsp.readFile(path),
  async writeNewFile(path, data, mode) {
    // 'wx' = O_CREAT|O_EXCL: never follows a symlink planted at the temp path.
    const fh = await fsp.open(path, 'wx', mode);
    try {
      await fh.chmod(mode); // the umask may have narrowed it; make it exact
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
  rename: (from, to) => fsp.rename(from, to),
  async syncDir(dir) {
    const fh = await fsp.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
  remove: (path) => fsp.rm(path, { force: true }),
  async mkdirp(dir, mode) {
    makeDirectories(dir, mode);
  },
};

/** The temporary file {@link atomicWriteFile} writes before renaming it over `path`. */
export function tempPathFor(path: string): string {
  return `${path}.tmp`;
}

/**
 * Replaces `path` with `data` so that a crash at any point leaves either the
 * old file or the new one, never a mix (SPIRE's `diskutil.AtomicWritePrivateFile`):
 * write `<path>.tmp` in the same directory with `mode`, fsync it, rename it
 * over `path`, fsync the directory. Callers serialise writes to one path.
 */
export async function atomicWriteFile(path: string, data: Uint8Array, opts: { mode?: number; ops?: FileOps } = {}): Promise<void> {
  const ops = opts.ops ?? nodeFileOps;
  const tmp = tempPathFor(path);
  // A crash may have left a temp file (holding private keys): start afresh.
  await ops.remove(tmp);
  try {
    await ops.writeNewFile(tmp, data, opts.mode ?? 0o600);
    await ops.rename(tmp, path);
  } catch (err) {
    await ops.remove(tmp).catch(() => undefined);
    throw err;
  }
  await ops.syncDir(dirname(path));
}
