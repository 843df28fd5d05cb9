// The disk KeyManager over its real gRPC socket, in-process.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { unary } from '@spire-ts/common';
import { Status } from '@spire-ts/plugin-sdk';
import { diskKeyManagerPlugin, nodeFileOps, type FileOps } from '../src/index.js';
import { inProcess, rejection, type InProcess } from './wire.js';

let dir: string;
let plugins: InProcess[];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'km-disk-'));
  plugins = [];
});
afterEach(async () => {
  await Promise.all(plugins.map((p) => p.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function start(fileOps?: Partial<FileOps>): Promise<InProcess> {
  const p = await inProcess(diskKeyManagerPlugin({ fileOps }));
  plugins.push(p);
  return p;
}
const hcl = (path: string) => `keys_path = "${path}"`;
const ids = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { keys: Array<{ id: string }> }).keys.map((k) => k.id);
const gen = (p: InProcess, id: string) => unary(p.km, 'GenerateKey', { key_id: id, key_type: 'EC_P256' });

describe('server KeyManager disk', () => {
  it('starts empty on a missing file and creates it (mode 0600) with the first key', async () => {
    const path = join(dir, 'sub', 'keys.json');
    const p = await start();
    await p.configure(hcl(path));
    expect(existsSync(path)).toBe(false);
    expect((await unary(p.km, 'GetPublicKeys', {})).public_keys).toEqual([]);
    const res = await gen(p, 'k1');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'sub')).mode & 0o777).toBe(0o700);
    expect(ids(path)).toEqual(['k1']);
    const p2 = await start();
    await p2.configure(hcl(path));
    expect((await unary(p2.km, 'GetPublicKey', { key_id: 'k1' })).public_key?.fingerprint).toBe(res.public_key?.fingerprint);
  });

  it('a failed write (rename fails) fails GenerateKey, keeps the old key and the old file', async () => {
    const path = join(dir, 'keys.json');
    let failRename = false;
    const p = await start({
      rename: (a, b) => (failRename ? Promise.reject(new Error('EIO: simulated crash')) : nodeFileOps.rename(a, b)),
    });
    await p.configure(hcl(path));
    const first = await gen(p, 'k');
    const before = readFileSync(path);
    failRename = true;
    const err = await rejection(gen(p, 'k'));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toBe(`unable to write keys file ${path}: EIO: simulated crash`);
    expect(readFileSync(path)).toEqual(before);
    expect(existsSync(`${path}.tmp`)).toBe(false);
    expect((await unary(p.km, 'GetPublicKey', { key_id: 'k' })).public_key?.fingerprint).toBe(first.public_key?.fingerprint);
    failRename = false;
    const second = await gen(p, 'k');
    expect(second.public_key?.fingerprint).not.toBe(first.public_key?.fingerprint);
  });

  it('a corrupt file fails Configure with DATA_LOSS and is left alone; nothing is generated meanwhile', async () => {
    const path = join(dir, 'keys.json');
    writeFileSync(path, '{"version": 1, "keys": [{"id": "x"', { mode: 0o600 });
    const p = await start();
    const err = await rejection(p.configure(hcl(path)));
    expect(err.code).toBe(Status.DATA_LOSS);
    expect(err.details).toContain(`keys file ${path} is corrupt: not valid JSON`);
    const gerr = await rejection(gen(p, 'k'));
    expect(gerr.code).toBe(Status.FAILED_PRECONDITION);
    expect(gerr.details).toBe('the plugin is not configured yet');
    expect(readFileSync(path, 'utf8')).toBe('{"version": 1, "keys": [{"id": "x"');
  });

  it('an unusable directory fails Configure with FAILED_PRECONDITION', async () => {
    writeFileSync(join(dir, 'file'), '');
    const p = await start();
    const err = await rejection(p.configure(hcl(join(dir, 'file', 'keys.json'))));
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.details).toMatch(new RegExp(`^keys directory ${join(dir, 'file')} is not usable: `));
  });

  it('keys_path is required', async () => {
    const p = await start();
    const err = await rejection(p.configure(''));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toContain('keys_path');
  });

  it('re-Configure with another keys_path switches files; a failed one keeps the current file', async () => {
    const a = join(dir, 'a.json');
    const b = join(dir, 'b.json');
    const p = await start();
    await p.configure(hcl(a));
    await gen(p, 'in-a');
    await p.configure(hcl(b));
    expect((await unary(p.km, 'GetPublicKeys', {})).public_keys).toEqual([]);
    await gen(p, 'in-b');
    expect(ids(a)).toEqual(['in-a']);
    expect(ids(b)).toEqual(['in-b']);
    writeFileSync(join(dir, 'bad.json'), 'garbage');
    await rejection(p.configure(hcl(join(dir, 'bad.json'))));
    await gen(p, 'in-b-2');
    expect(ids(b)).toEqual(['in-b', 'in-b-2']);
    await p.configure(hcl(a));
    expect((await unary(p.km, 'GetPublicKeys', {})).public_keys.map((k) => k.id)).toEqual(['in-a']);
  });

  it('concurrent GenerateKey calls lose no key', async () => {
    const path = join(dir, 'keys.json');
    const p = await start();
    await p.configure(hcl(path));
    const want = Array.from({ length: 25 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    const res = await Promise.all(want.map((id) => gen(p, id)));
    expect(ids(path)).toEqual(want);
    const p2 = await start();
    await p2.configure(hcl(path));
    const listed = (await unary(p2.km, 'GetPublicKeys', {})).public_keys;
    expect(listed.map((k) => k.fingerprint)).toEqual(res.map((r) => r.public_key?.fingerprint));
  });
});
