// The pure parts: procfs and account-file parsing, the reference decoder, the capped digest.
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DecodeError,
  IdNameFile,
  ProcFormatError,
  SizeLimitError,
  decodePidReference,
  effective,
  parseIdNames,
  parseStartTime,
  parseStatus,
  sha256File,
} from '../src/index.js';
import { ProcReader } from '../src/proc.js';
import { pidReference, sha256sum } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'wa-unix-parsers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('parseStatus', () => {
  it('reads Uid, Gid and Groups; the effective id is the second', () => {
    const st = parseStatus('Name:\tx\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nGroups:\t27 100 \nVmRSS:\t1 kB\n');
    expect(st).toEqual({ uids: [1, 2, 3, 4], gids: [5, 6, 7, 8], groups: [27, 100] });
    expect(effective(st.uids)).toBe(2);
    expect(effective([9])).toBe(9);
  });

  it('no Groups line or an empty one: no supplementary groups', () => {
    expect(parseStatus('Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n').groups).toEqual([]);
    expect(parseStatus('Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t \n').groups).toEqual([]);
  });

  it.each([
    ['no Uid line', 'Gid:\t0\n'],
    ['no Gid line', 'Uid:\t0\n'],
    ['bad Uid value "-1"', 'Uid:\t-1\nGid:\t0\n'],
    ['bad Gid value "4294967296"', 'Uid:\t0\nGid:\t4294967296\n'],
    ['bad Groups value "x"', 'Uid:\t0\nGid:\t0\nGroups:\t1 x\n'],
  ])('%s', (message, text) => {
    expect(() => parseStatus(text)).toThrow(new ProcFormatError(message));
  });
});

describe('parseStartTime', () => {
  it('field 22, after a command name holding spaces and parentheses', () => {
    const rest = Array.from({ length: 30 }, (_, i) => String(i + 3)).join(' ');
    expect(parseStartTime(`12 (a) b (c)) ${rest}\n`)).toBe('22');
  });
  it('refuses truncated stat', () => {
    expect(() => parseStartTime('12 (a) S 1 2')).toThrow(ProcFormatError);
  });
});

describe('ProcReader', () => {
  it('reads files longer than its buffer whole, and reads back-to-back files independently', async () => {
    const root = join(dir, 'proc');
    mkdirSync(join(root, '42'), { recursive: true });
    const groups = Array.from({ length: 2000 }, (_, i) => String(i + 1));
    writeFileSync(join(root, '42', 'status'), `Name:\tx\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nGroups:\t${groups.join(' ')}\n`);
    const rest = Array.from({ length: 30 }, (_, i) => String(i + 3)).join(' ');
    writeFileSync(join(root, '42', 'stat'), `42 (x) ${rest}\n`);
    symlinkSync('/usr/bin/some (deleted)', join(root, '42', 'exe'));
    const r = new ProcReader(root);
    const st = await r.status(42);
    expect(st.groups).toHaveLength(2000);
    expect(st.groups.at(-1)).toBe(2000);
    expect(await r.startTime(42)).toBe('22');
    expect((await r.status(42)).uids).toEqual([1, 2, 3, 4]);
    expect(await r.exe(42)).toBe('/usr/bin/some (deleted)');
    await expect(r.status(43)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(r.startTime(43)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it.runIf(process.platform === 'linux')('reads the real procfs like readFile does', async () => {
    const r = new ProcReader('/proc');
    const want = parseStatus(readFileSync(`/proc/${process.pid}/status`, 'utf8'));
    expect(await r.status(process.pid)).toEqual(want);
    expect(await r.startTime(process.pid)).toBe(parseStartTime(readFileSync(`/proc/${process.pid}/stat`, 'latin1')));
  });

  it.runIf(process.platform === 'linux')('an open stat file re-reads its process and fails once that process is gone', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
    const stat = new ProcReader('/proc').openStat(child.pid!);
    try {
      const first = stat.startTime();
      expect(stat.startTime()).toBe(first);
      expect(first).toBe(parseStartTime(readFileSync(`/proc/${child.pid}/stat`, 'latin1')));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      // Reaped: the file no longer names a process, whatever now has the pid.
      expect(() => stat.startTime()).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    } finally {
      stat.close();
      child.kill('SIGKILL');
    }
  });
});

describe('IdNameFile', () => {
  it('stands by a check for recheckMs, then sees an edit', async () => {
    const file = join(dir, 'passwd-recheck');
    writeFileSync(file, 'alice:x:4242:4343::/:/bin/sh\n');
    const names = new IdNameFile(file, undefined, 300);
    expect(await names.lookup(4242)).toBe('alice');
    writeFileSync(file, 'bob:x:4242:4343::/:/bin/sh\n');
    expect(await names.lookup(4242)).toBe('alice');
    await new Promise((r) => setTimeout(r, 350));
    expect(await names.lookup(4242)).toBe('bob');
    rmSync(file);
    await new Promise((r) => setTimeout(r, 350));
    expect(await names.lookup(4242)).toBeUndefined();
  });
});

describe('parseIdNames', () => {
  it('first line per id; skips comments, NIS compat, malformed lines', () => {
    const names = parseIdNames('#c\n+\n-x\n:x:1:\nbad\nnum:x:1x:\na:x:1:\nb:x:1:\nc:x:2:1:gecos\r\n');
    expect([...names]).toEqual([
      [1, 'a'],
      [2, 'c'],
    ]);
  });
});

describe('decodePidReference', () => {
  it('agrees with protobufjs', () => {
    for (const pid of [0, 1, 127, 128, 2 ** 31 - 1, -1]) expect(decodePidReference(pidReference(pid).value)).toBe(pid);
  });

  it('skips unknown fields of every wire type; the last pid wins', () => {
    const bytes = Buffer.from([
      0x10, 0x05, // field 2 varint
      0x19, 1, 2, 3, 4, 5, 6, 7, 8, // field 3 fixed64
      0x22, 0x02, 0xaa, 0xbb, // field 4 bytes
      0x2d, 1, 2, 3, 4, // field 5 fixed32
      0x08, 0x07, // pid 7
      0x08, 0x09, // pid 9
    ]);
    expect(decodePidReference(bytes)).toBe(9);
  });

  it.each([
    ['truncated varint', [0x08]],
    ['varint longer than 10 bytes', [0x08, ...Array<number>(10).fill(0xff), 0x01]],
    ['truncated length-delimited field', [0x22, 0x05, 0x00]],
    ['truncated field', [0x19, 1, 2]],
    ['unsupported wire type 3', [0x0b]],
    ['pid has wire type 5, want varint', [0x0d, 1, 0, 0, 0]],
    ['field number 0', [0x00, 0x01]],
    ['pid 2147483648 is out of the int32 range', [0x08, 0x80, 0x80, 0x80, 0x80, 0x08]],
  ])('%s', (message, bytes) => {
    expect(() => decodePidReference(Buffer.from(bytes))).toThrow(new DecodeError(message));
  });
});

describe('sha256File', () => {
  it('matches sha256sum; limit 0 means no limit', async () => {
    const f = join(dir, 'f');
    writeFileSync(f, Buffer.alloc(200_000, 7));
    expect(await sha256File(f, 0)).toBe(sha256sum(f));
    expect(await sha256File(f, 200_000)).toBe(sha256sum(f));
    await expect(sha256File(f, 199_999)).rejects.toThrow(new SizeLimitError(200_000, 199_999));
  });

  it('stops reading once more than the limit arrived, even when the size said otherwise', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const writer = createWriteStream(fifo);
    writer.on('error', () => undefined); // the reader closes early
    writer.write(Buffer.alloc(300_000, 1));
    const err = await sha256File(fifo, 100_000).catch((e: unknown) => e);
    writer.destroy();
    expect(err).toBeInstanceOf(SizeLimitError);
    expect((err as SizeLimitError).grew).toBe(true);
    expect((err as SizeLimitError).message).toMatch(/^at least \d+ bytes, over the limit of 100000 bytes$/);
  });
});
