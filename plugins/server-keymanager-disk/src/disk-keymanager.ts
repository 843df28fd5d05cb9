import { dirname } from 'node:path';
import { PluginError, type ServiceImpl } from '@spire-ts/plugin-sdk';
import { KeyManager, type KeyEntry, type KeyManagerServiceName, type KeyType, type SigningKey } from '@spire-ts/server-keymanager-memory';
import { nodeFileOps, tempPathFor, type FileOps } from './atomic-write.js';
import { KEYS_FILE_MODE, readKeysFile, writeKeysFile } from './keys-file.js';

/** Options of {@link DiskKeyManager}. */
export interface DiskKeyManagerOptions<S extends KeyManagerServiceName> {
  /** Which side's KeyManager service to serve. */
  service: S;
  /** Key generator for tests. */
  generateKey?: (type: KeyType) => Promise<SigningKey>;
  /** File system calls to replace (tests inject failures). */
  fileOps?: Partial<FileOps>;
}

/**
 * A KeyManager whose keys are kept in one file, rewritten atomically on
 * every change; the server's `disk` KeyManager and the agent's share it.
 */
export class DiskKeyManager<S extends KeyManagerServiceName> {
  readonly keyManager: KeyManager<S>;
  private readonly ops: FileOps;
  private path: string | undefined;

  constructor(opts: DiskKeyManagerOptions<S>) {
    this.ops = { ...nodeFileOps, ...opts.fileOps };
    this.keyManager = new KeyManager({ service: opts.service, generateKey: opts.generateKey, persist: (entries) => this.write(entries) });
  }

  get service(): S {
    return this.keyManager.service;
  }

  get impl(): ServiceImpl<S> {
    return this.keyManager.impl;
  }

  /** The file keys are written to; undefined until {@link DiskKeyManager.open}. */
  get keysPath(): string | undefined {
    return this.path;
  }

  /**
   * Loads the keys in `path` (none if it does not exist yet; it is created
   * with the first key) and writes every later change there. Waits for writes
   * in progress; on failure the previous file and keys stay in use.
   * @throws PluginError FAILED_PRECONDITION (directory not writable, file
   * unreadable) or DATA_LOSS (file corrupt).
   */
  async open(path: string): Promise<void> {
    await this.keyManager.exclusive(async () => {
      await this.checkDirectory(path);
      const entries = await readKeysFile(path, this.ops);
      this.keyManager.setKeys(entries ?? []);
      this.path = path;
    });
  }

  // Creating the directory and probing it now turns a bad path into a
  // Configure error rather than a failure at the first GenerateKey.
  private async checkDirectory(path: string): Promise<void> {
    const dir = dirname(path);
    const probe = tempPathFor(path);
    try {
      await this.ops.mkdirp(dir, 0o700);
      await this.ops.remove(probe);
      await this.ops.writeNewFile(probe, new Uint8Array(0), KEYS_FILE_MODE);
      await this.ops.remove(probe);
    } catch (err) {
      throw PluginError.failedPrecondition(`keys directory ${dir} is not usable: ${(err as Error).message}`);
    }
  }

  private async write(entries: readonly KeyEntry[]): Promise<void> {
    if (this.path === undefined) throw PluginError.failedPrecondition('the plugin is not configured yet');
    try {
      await writeKeysFile(this.path, entries, this.ops);
    } catch (err) {
      throw PluginError.internal(`unable to write keys file ${this.path}: ${(err as Error).message}`, err);
    }
  }
}
