import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDirectories } from '@spire-ts/plugin-sdk';

const root = mkdtempSync(join(tmpdir(), 'spire-dirs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('makeDirectories', () => {
  it('makes the missing directories with the mode and returns the topmost one made', () => {
    const umask = process.umask(0);
    try {
      expect(makeDirectories(join(root, 'a/b/c'), 0o700)).toBe(join(root, 'a'));
      for (const d of ['a', 'a/b', 'a/b/c']) expect(statSync(join(root, d)).mode & 0o777).toBe(0o700);
      expect(makeDirectories(join(root, 'a/b/c'), 0o700)).toBeUndefined();
      expect(makeDirectories(join(root, 'a/b/d'), 0o755)).toBe(join(root, 'a/b/d'));
    } finally {
      process.umask(umask);
    }
  });

  it('fails on a file in the way, naming the path', () => {
    writeFileSync(join(root, 'file'), '');
    expect(() => makeDirectories(join(root, 'file/x'), 0o700)).toThrow(/ENOTDIR.*file/);
  });

  it('answers at once under procfs, where Node’s recursive mkdir never returns', () => {
    // mkdir answers ENOENT there although the parent exists (as root; EACCES otherwise).
    expect(() => makeDirectories('/proc/spire-ts-test/x', 0o700)).toThrow(/ENOENT|EACCES|EPERM/);
  });
});
