import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Status } from '@spire-ts/plugin-sdk';
import { exportPrivateKey, generateKey, type KeyEntry } from '@spire-ts/server-keymanager-memory';
import { atomicWriteFile, decodeKeysFile, encodeKeysFile, nodeFileOps, readKeysFile, writeKeysFile } from '../src/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'km-disk-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const mode = (p: string) => statSync(p).mode & 0o777;
const publicKeys = (entries: KeyEntry[] | undefined) => entries?.map(({ id, key }) => [id, key.type, key.fingerprint]);

describe('keys file format', () => {
  it('round-trips id, type and the private key of every key type', async () => {
    const entries = [
      { id: 'a', key: await generateKey('EC_P256') },
      { id: 'b', key: await generateKey('EC_P384') },
      { id: 'c', key: await generateKey('RSA_2048') },
    ];
    const text = Buffer.from(encodeKeysFile(entries)).toString();
    const doc = JSON.parse(text) as { version: number; keys: Array<{ id: string; type: string; pkcs8: string }> };
    expect(doc.version).toBe(1);
    expect(doc.keys.map((k) => [k.id, k.type])).toEqual([['a', 'EC_P256'], ['b', 'EC_P384'], ['c', 'RSA_2048']]);
    expect(Buffer.from(doc.keys[0]!.pkcs8, 'base64')).toEqual(Buffer.from(exportPrivateKey(entries[0]!.key)));
    const back = decodeKeysFile(Buffer.from(text), 'k.json');
    expect(publicKeys(back)).toEqual(publicKeys(entries));
  });

  it("reads SPIRE's keys.json ({ keys: { id: base64 PKCS#8 } }), inferring each key's type", async () => {
    const ec = await generateKey('EC_P384');
    const rsa = await generateKey('RSA_2048');
    const spire = { keys: { 'x509-CA-A': Buffer.from(exportPrivateKey(ec)).toString('base64'), 'JWT-Signer-A': Buffer.from(exportPrivateKey(rsa)).toString('base64') } };
    const got = decodeKeysFile(Buffer.from(JSON.stringify(spire)), 'keys.json');
    expect(publicKeys(got)).toEqual([['JWT-Signer-A', 'RSA_2048', rsa.fingerprint], ['x509-CA-A', 'EC_P384', ec.fingerprint]]);
  });

  it.each([
    { name: 'not JSON', text: '{"version": 1, "keys": [', error: /keys file \/k\.json is corrupt: not valid JSON/ },
    { name: 'empty file', text: '', error: /corrupt: not valid JSON/ },
    { name: 'an array', text: '[]', error: /corrupt: the top level is not a JSON object/ },
    { name: 'unknown version', text: '{"version": 2, "keys": []}', error: /corrupt: unsupported version 2 \(this plugin reads version 1\)/ },
    { name: 'keys not an array', text: '{"version": 1, "keys": 3}', error: /corrupt: "keys" is not an array/ },
    { name: 'entry without id', text: '{"version": 1, "keys": [{"type": "EC_P256", "pkcs8": "AAAA"}]}', error: /keys\[0\]\.id is not a non-empty string/ },
    { name: 'unknown type', text: '{"version": 1, "keys": [{"id": "k", "type": "EC_P521", "pkcs8": "AAAA"}]}', error: /keys\[0\] \("k"\) has type "EC_P521", want one of EC_P256/ },
    { name: 'bad base64', text: '{"version": 1, "keys": [{"id": "k", "type": "EC_P256", "pkcs8": "not base64!"}]}', error: /keys\[0\] \("k"\)\.pkcs8 is not base64/ },
    { name: 'not PKCS#8', text: '{"version": 1, "keys": [{"id": "k", "type": "EC_P256", "pkcs8": "AAAA"}]}', error: /keys\[0\] \("k"\): cannot parse PKCS#8 private key/ },
  ])('refuses a corrupt file ($name) with DATA_LOSS and what is wrong', ({ text, error }) => {
    let err: unknown;
    try {
      decodeKeysFile(Buffer.from(text), '/k.json');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: Status.DATA_LOSS });
    expect((err as Error).message).toMatch(error);
    expect((err as Error).message).toMatch(/refusing to continue without its keys/);
  });

  it('refuses a key whose DER does not match its type, and duplicate ids', async () => {
    const der = Buffer.from(exportPrivateKey(await generateKey('EC_P256'))).toString('base64');
    const wrongType = JSON.stringify({ version: 1, keys: [{ id: 'k', type: 'EC_P384', pkcs8: der }] });
    expect(() => decodeKeysFile(Buffer.from(wrongType), 'f')).toThrow(/keys\[0\] \("k"\): private key is EC prime256v1, expected EC_P384/);
    const dup = JSON.stringify({ version: 1, keys: [{ id: 'k', type: 'EC_P256', pkcs8: der }, { id: 'k', type: 'EC_P256', pkcs8: der }] });
    expect(() => decodeKeysFile(Buffer.from(dup), 'f')).toThrow(/key id "k" appears twice/);
  });
});

describe('readKeysFile / writeKeysFile', () => {
  it('a missing file reads as undefined (start empty); an unreadable one fails with FAILED_PRECONDITION', async () => {
    expect(await readKeysFile(join(dir, 'none.json'))).toBeUndefined();
    mkdirSync(join(dir, 'adir'));
    await expect(readKeysFile(join(dir, 'adir'))).rejects.toMatchObject({ code: Status.FAILED_PRECONDITION, message: expect.stringMatching(/unable to read keys file .*adir: EISDIR/) });
  });

  it('writes mode 0600 whatever the old file had, and leaves no temp file', async () => {
    const path = join(dir, 'keys.json');
    writeFileSync(path, '{}', { mode: 0o644 });
    const entries = [{ id: 'k', key: await generateKey('EC_P256') }];
    await writeKeysFile(path, entries);
    expect(mode(path)).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['keys.json']);
    expect(publicKeys(await readKeysFile(path))).toEqual(publicKeys(entries));
  });

  it('a crash between writing and renaming leaves the old file intact', async () => {
    const path = join(dir, 'keys.json');
    const old = [{ id: 'old', key: await generateKey('EC_P256') }];
    await writeKeysFile(path, old);
    const before = readFileSync(path);
    const steps: string[] = [];
    const ops = {
      ...nodeFileOps,
      writeNewFile: async (p: string, d: Uint8Array, m: number) => {
        steps.push(`write ${p.slice(dir.length + 1)} ${m.toString(8)}`);
        await nodeFileOps.writeNewFile(p, d, m);
        // the temp file is complete and private before the swap
        steps.push(`temp mode ${mode(p).toString(8)}`);
      },
      rename: async () => {
        throw Object.assign(new Error('EIO: simulated crash'), { code: 'EIO' });
      },
    };
    await expect(writeKeysFile(path, [...old, { id: 'new', key: await generateKey('EC_P256') }], ops)).rejects.toThrow(/simulated crash/);
    expect(steps).toEqual(['write keys.json.tmp 600', 'temp mode 600']);
    expect(readFileSync(path)).toEqual(before);
    expect(readdirSync(dir)).toEqual(['keys.json']);
    expect(publicKeys(await readKeysFile(path))).toEqual(publicKeys(old));
  });

  it('overwrites a temp file left by an earlier crash, and fsyncs the directory after the rename', async () => {
    const path = join(dir, 'keys.json');
    writeFileSync(`${path}.tmp`, 'half-written', { mode: 0o644 });
    const calls: string[] = [];
    const ops = {
      ...nodeFileOps,
      rename: async (a: string, b: string) => {
        calls.push('rename');
        await nodeFileOps.rename(a, b);
      },
      syncDir: async (d: string) => {
        calls.push(`syncDir ${d === dir}`);
        await nodeFileOps.syncDir(d);
      },
    };
    await atomicWriteFile(path, Buffer.from('new'), { ops });
    expect(calls).toEqual(['rename', 'syncDir true']);
    expect(readFileSync(path, 'utf8')).toBe('new');
    expect(mode(path)).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['keys.json']);
  });
});
