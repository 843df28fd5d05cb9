// The unix WorkloadAttestor in-process over its real gRPC socket, attesting
// real processes started under other users and groups (the tests run as root).
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { unary } from '@spire-ts/common';
import { Status } from '@spire-ts/plugin-sdk';
import { unixWorkloadAttestorPlugin, type UnixWorkloadAttestorOptions } from '../src/index.js';
import { attest, inProcess, killAll, pidReference, rejection, sha256sum, stop, workload, type InProcess } from './helpers.js';

const SLEEP = '/usr/bin/sleep';
let dir: string;
let plugins: InProcess[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wa-unix-'));
  chmodSync(dir, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await killAll();
  await Promise.all(plugins.map((p) => p.close()));
  plugins = [];
});

async function start(hcl = '', opts: UnixWorkloadAttestorOptions = {}): Promise<InProcess> {
  const p = await inProcess(unixWorkloadAttestorPlugin(opts));
  plugins.push(p);
  await p.configure(hcl);
  return p;
}

describe('unix WorkloadAttestor: identity selectors', () => {
  it('a process started as nobody:nogroup', async () => {
    const p = await start();
    const w = await workload(SLEEP, ['30'], { uid: 65534, gid: 65534 });
    expect(await attest(p.wa, w.pid)).toEqual(['uid:65534', 'user:nobody', 'gid:65534', 'group:nogroup']);
  });

  it('supplementary groups, each with its name', async () => {
    const p = await start();
    const w = await workload('setpriv', ['--reuid=65534', '--regid=65534', '--groups=27,100', SLEEP, '30']);
    expect(await attest(p.wa, w.pid)).toEqual([
      'uid:65534',
      'user:nobody',
      'gid:65534',
      'group:nogroup',
      'supplementary_gid:27',
      'supplementary_group:sudo',
      'supplementary_gid:100',
      'supplementary_group:users',
    ]);
  });

  it('uses the effective uid and gid, not the real ones', async () => {
    const p = await start();
    const w = await workload('setpriv', ['--ruid=1', '--euid=65534', '--rgid=1', '--egid=65534', '--clear-groups', SLEEP, '30']);
    const status = readFileSync(`/proc/${w.pid}/status`, 'utf8');
    expect(status).toMatch(/^Uid:\t1\t65534\t/m);
    expect(status).toMatch(/^Gid:\t1\t65534\t/m);
    expect(await attest(p.wa, w.pid)).toEqual(['uid:65534', 'user:nobody', 'gid:65534', 'group:nogroup']);
  });

  it('ids without a name in /etc/passwd or /etc/group get no name selector', async () => {
    const p = await start();
    const w = await workload('setpriv', ['--reuid=4242', '--regid=4343', '--groups=4444,27', SLEEP, '30']);
    // The kernel keeps supplementary groups sorted; selectors follow its order.
    expect(await attest(p.wa, w.pid)).toEqual(['uid:4242', 'gid:4343', 'supplementary_gid:27', 'supplementary_group:sudo', 'supplementary_gid:4444']);
  });

  it('names come from the account files, first entry wins, re-read when they change', async () => {
    const passwd = join(dir, 'passwd');
    const group = join(dir, 'group');
    writeFileSync(passwd, '# comment\n+nis\nbroken line\nalice:x:4242:4343::/home/alice:/bin/sh\nalias:x:4242:1::/:/bin/sh\n');
    writeFileSync(group, 'staff-a:x:4343:\r\nother:x:4343:\n');
    const p = await start('', { passwdFile: passwd, groupFile: group, accountRecheckMs: 0 });
    const w = await workload(SLEEP, ['30'], { uid: 4242, gid: 4343 });
    expect(await attest(p.wa, w.pid)).toEqual(['uid:4242', 'user:alice', 'gid:4343', 'group:staff-a']);
    writeFileSync(passwd, 'bob:x:4242:4343::/home/bob:/bin/sh\n');
    rmSync(group);
    expect(await attest(p.wa, w.pid)).toEqual(['uid:4242', 'user:bob', 'gid:4343']);
  });

  it('root', async () => {
    const p = await start();
    const w = await workload(SLEEP, ['30']);
    expect(await attest(p.wa, w.pid)).toEqual(['uid:0', 'user:root', 'gid:0', 'group:root']);
  });
});

describe('unix WorkloadAttestor: bad pids', () => {
  it('a process that no longer exists is INTERNAL "does not exist", as in SPIRE', async () => {
    const p = await start();
    const w = await workload(SLEEP, ['30']);
    await stop(w);
    const err = await rejection(attest(p.wa, w.pid));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toBe(`failed to get process: process ${w.pid} does not exist`);
  });

  it.each([0, -1, -2147483648])('pid %i is INVALID_ARGUMENT', async (pid) => {
    const p = await start();
    const err = await rejection(attest(p.wa, pid));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toContain(`pid must be a positive 32-bit integer, got ${pid}`);
  });

  it('before Configure: FAILED_PRECONDITION', async () => {
    const p = await inProcess(unixWorkloadAttestorPlugin());
    plugins.push(p);
    const err = await rejection(attest(p.wa, process.pid));
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.details).toBe('not configured');
  });
});

describe('unix WorkloadAttestor: AttestReference', () => {
  it('a WorkloadPIDReference gives the same selectors as Attest', async () => {
    const p = await start('discover_workload_path = true');
    const w = await workload('setpriv', ['--reuid=65534', '--regid=65534', '--groups=27', SLEEP, '30']);
    const res = await unary(p.wa, 'AttestReference', { reference: pidReference(w.pid) });
    expect(res.selector_values).toEqual(await attest(p.wa, w.pid));
    expect(res.selector_values).toContain('supplementary_group:sudo');
  });

  it('an unknown reference type is INVALID_ARGUMENT naming it', async () => {
    const p = await start();
    const err = await rejection(unary(p.wa, 'AttestReference', { reference: { type_url: 'type.googleapis.com/spiffe.broker.KubernetesObjectReference', value: Buffer.alloc(0) } }));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toBe('unsupported reference type "type.googleapis.com/spiffe.broker.KubernetesObjectReference"');
  });

  it('a missing reference, a pid-less reference and malformed bytes are INVALID_ARGUMENT', async () => {
    const p = await start();
    const missing = await rejection(unary(p.wa, 'AttestReference', {}));
    expect(missing.code).toBe(Status.INVALID_ARGUMENT);
    expect(missing.details).toBe('reference is required');
    const empty = await rejection(unary(p.wa, 'AttestReference', { reference: { ...pidReference(0) } }));
    expect(empty.code).toBe(Status.INVALID_ARGUMENT);
    expect(empty.details).toContain('got 0');
    const negative = await rejection(unary(p.wa, 'AttestReference', { reference: pidReference(-5) }));
    expect(negative.code).toBe(Status.INVALID_ARGUMENT);
    const bad = await rejection(unary(p.wa, 'AttestReference', { reference: { type_url: pidReference(1).type_url, value: Buffer.from([0x08, 0xff]) } }));
    expect(bad.code).toBe(Status.INVALID_ARGUMENT);
    expect(bad.details).toBe('malformed spiffe.broker.WorkloadPIDReference: truncated varint');
    // 2^32 + 1 must not wrap around to pid 1.
    const wrap = await rejection(unary(p.wa, 'AttestReference', { reference: { type_url: pidReference(1).type_url, value: Buffer.from([0x08, 0x81, 0x80, 0x80, 0x80, 0x10]) } }));
    expect(wrap.code).toBe(Status.INVALID_ARGUMENT);
    expect(wrap.details).toContain('out of the int32 range');
  });
});

describe('unix WorkloadAttestor: discover_workload_path', () => {
  it('adds path and the sha256 of the binary, matching sha256sum', async () => {
    const p = await start('discover_workload_path = true');
    const w = await workload(SLEEP, ['30'], { uid: 65534, gid: 65534 });
    expect(await attest(p.wa, w.pid)).toEqual([
      'uid:65534',
      'user:nobody',
      'gid:65534',
      'group:nogroup',
      `path:${SLEEP}`,
      `sha256:${sha256sum(SLEEP)}`,
    ]);
  });

  it('workload_size_limit: a binary of exactly the limit is hashed; one byte over is INTERNAL naming the limit', async () => {
    const size = statSync(SLEEP).size;
    const at = await start(`discover_workload_path = true\nworkload_size_limit = ${size}`);
    const w = await workload(SLEEP, ['30']);
    expect(await attest(at.wa, w.pid)).toContain(`sha256:${sha256sum(SLEEP)}`);
    const over = await start(`discover_workload_path = true\nworkload_size_limit = ${size - 1}`);
    const err = await rejection(attest(over.wa, w.pid));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toBe(
      `SHA256 digest: workload binary "${SLEEP}" of pid ${w.pid} is ${size} bytes, over the limit of ${size - 1} bytes (workload_size_limit = ${size - 1})`,
    );
  });

  it('a negative workload_size_limit never hashes: path only', async () => {
    const p = await start('discover_workload_path = true\nworkload_size_limit = -1');
    const w = await workload(SLEEP, ['30']);
    expect(await attest(p.wa, w.pid)).toEqual(['uid:0', 'user:root', 'gid:0', 'group:root', `path:${SLEEP}`]);
  });

  it('without discover_workload_path, workload_size_limit changes nothing', async () => {
    const p = await start('workload_size_limit = 1');
    const w = await workload(SLEEP, ['30']);
    expect(await attest(p.wa, w.pid)).toEqual(['uid:0', 'user:root', 'gid:0', 'group:root']);
  });

  it('a deleted executable: path keeps the " (deleted)" suffix, the hash is of the binary still running', async () => {
    const p = await start('discover_workload_path = true');
    const bin = join(dir, 'my workload');
    copyFileSync(SLEEP, bin);
    chmodSync(bin, 0o755);
    appendMarker(bin);
    const digest = sha256sum(bin);
    expect(digest).not.toBe(sha256sum(SLEEP));
    const w = await workload(bin, ['30'], { uid: 65534, gid: 65534 }, bin);
    unlinkSync(bin);
    expect(await attest(p.wa, w.pid)).toEqual([
      'uid:65534',
      'user:nobody',
      'gid:65534',
      'group:nogroup',
      `path:${bin} (deleted)`,
      `sha256:${digest}`,
    ]);
  });
});

describe('unix WorkloadAttestor: configuration', () => {
  it('an unknown key is INVALID_ARGUMENT naming it', async () => {
    const p = await inProcess(unixWorkloadAttestorPlugin());
    plugins.push(p);
    const err = await rejection(p.configure('discover_workload_path = true\nworkload_size_limt = 10'));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toContain('workload_size_limt');
  });

  it('wrong types are INVALID_ARGUMENT naming the key', async () => {
    const p = await inProcess(unixWorkloadAttestorPlugin());
    plugins.push(p);
    for (const hcl of ['discover_workload_path = "maybe"', 'workload_size_limit = 1.5', 'workload_size_limit = "big"']) {
      const err = await rejection(p.configure(hcl));
      expect(err.code, hcl).toBe(Status.INVALID_ARGUMENT);
      expect(err.details, hcl).toContain(hcl.split(' ')[0]!);
    }
  });

  it('procRoot (HOST_PROC) is where processes are read from', async () => {
    // A procfs lookalike: the command name contains ") " to check stat parsing.
    const proc = join(dir, 'proc');
    mkdirSync(join(proc, '77'), { recursive: true });
    writeFileSync(join(proc, '77', 'stat'), `77 (evil) 0 0 0 0) S ${'1 '.repeat(18)}424242 0 0\n`);
    writeFileSync(join(proc, '77', 'status'), 'Name:\tevil\nUid:\t5\t6\t6\t6\nGid:\t7\t8\t8\t8\nGroups:\t\n');
    const p = await start('', { procRoot: proc, passwdFile: join(dir, 'none'), groupFile: join(dir, 'none') });
    expect(await attest(p.wa, 77)).toEqual(['uid:6', 'gid:8']);
    const gone = await rejection(attest(p.wa, 78));
    expect(gone.details).toBe('failed to get process: process 78 does not exist');
  });
});

/** Makes a copied binary's digest differ from the original's (ELF ignores trailing bytes). */
function appendMarker(path: string): void {
  writeFileSync(path, Buffer.from('\nspire-ts test marker\n'), { flag: 'a' });
}
