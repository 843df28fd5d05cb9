// The agent disk KeyManager in-process over its real gRPC socket.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { unary } from '@spire-ts/common';
import { Status } from '@spire-ts/plugin-sdk';
import { nodeFileOps, type FileOps } from '@spire-ts/server-keymanager-disk';
import { KEYS_FILE_NAME, agentDiskKeyManagerPlugin } from '../src/index.js';
import { inProcess, rejection, type InProcess } from './wire.js';

let dir: string;
let plugins: InProcess[];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agent-km-disk-'));
  plugins = [];
});
afterEach(async () => {
  await Promise.all(plugins.map((p) => p.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function start(fileOps?: Partial<FileOps>): Promise<InProcess> {
  const p = await inProcess(agentDiskKeyManagerPlugin({ fileOps }));
  plugins.push(p);
  return p;
}
const hcl = (directory: string) => `directory = "${directory}"`;
const gen = (p: InProcess, id: string) => unary(p.km, 'GenerateKey', { key_id: id, key_type: 'EC_P256' });

describe('agent KeyManager disk', () => {
  it('creates the directory (0700) and <directory>/keys.json (0600) with the first key; a new instance loads it', async () => {
    const data = join(dir, 'agent-data');
    const p = await start();
    await p.configure(hcl(data));
    expect(statSync(data).mode & 0o777).toBe(0o700);
    expect(readdirSync(data)).toEqual([]);
    const made = await gen(p, 'agent-svid-A');
    expect(KEYS_FILE_NAME).toBe('keys.json');
    expect(readdirSync(data)).toEqual(['keys.json']);
    expect(statSync(join(data, 'keys.json')).mode & 0o777).toBe(0o600);
    const p2 = await start();
    await p2.configure(hcl(data));
    const got = await unary(p2.km, 'GetPublicKey', { key_id: 'agent-svid-A' });
    expect(got.public_key?.fingerprint).toBe(made.public_key?.fingerprint);
  });

  it('a crash between writing and renaming leaves the old keys.json intact', async () => {
    let fail = false;
    const p = await start({ rename: (a, b) => (fail ? Promise.reject(new Error('EIO: simulated crash')) : nodeFileOps.rename(a, b)) });
    await p.configure(hcl(dir));
    await gen(p, 'a');
    const before = readFileSync(join(dir, 'keys.json'));
    fail = true;
    const err = await rejection(gen(p, 'b'));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toContain('EIO: simulated crash');
    expect(readFileSync(join(dir, 'keys.json'))).toEqual(before);
    expect(existsSync(join(dir, 'keys.json.tmp'))).toBe(false);
    expect((await unary(p.km, 'GetPublicKeys', {})).public_keys.map((k) => k.id)).toEqual(['a']);
  });

  it('a corrupt keys.json fails Configure with DATA_LOSS naming the file', async () => {
    writeFileSync(join(dir, 'keys.json'), '{"version": 7, "keys": []}');
    const p = await start();
    const err = await rejection(p.configure(hcl(dir)));
    expect(err.code).toBe(Status.DATA_LOSS);
    expect(err.details).toContain(`keys file ${join(dir, 'keys.json')} is corrupt: unsupported version 7`);
  });

  it('directory is required', async () => {
    const p = await start();
    const err = await rejection(p.configure('keys_path = "/tmp/x"'));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/directory/);
  });
});
