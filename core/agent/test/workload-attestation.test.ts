// Workload attestation: attestors in parallel under a time limit, partial
// failure, and the re-check that the caller is still the process that
// connected (pid reuse guard) — directly and through the socket with a
// client process that exits while it is being attested.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '@spire-ts/common';
import { processStartTime } from '@spire-ts/peercred';
import {
  StaticWorkloadCache,
  WorkloadApiServer,
  WorkloadAttestation,
  WorkloadAttestationError,
  verifyCaller,
  type CallerProcess,
  type WorkloadAttestor,
} from '../src/workload/index.js';
import { bundleOf, makeCa, makeSvid, procAttestor, tempDir } from './workload-fixtures.js';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

const me = (): CallerProcess => ({ pid: process.pid, uid: process.geteuid!(), gid: process.getegid!(), startTime: processStartTime(process.pid) });

const failing = (name: string, message = 'boom'): WorkloadAttestor => ({ name, attest: () => Promise.reject(new Error(message)) });
const hanging = (name: string): WorkloadAttestor => ({ name, attest: () => new Promise(() => {}) });

async function expectAttestError(p: Promise<unknown>, reason: string, message?: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkloadAttestationError);
  expect((err as WorkloadAttestationError).reason).toBe(reason);
  if (message) expect((err as Error).message).toMatch(message);
}

describe('WorkloadAttestation', () => {
  it('runs every attestor in parallel and keeps attestor order', async () => {
    const started: string[] = [];
    const slow: WorkloadAttestor = {
      name: 'slow',
      attest: async () => {
        started.push('slow');
        await new Promise((r) => setTimeout(r, 150));
        return [{ type: 'slow', value: 'a' }];
      },
    };
    const fast: WorkloadAttestor = { name: 'fast', attest: () => (started.push('fast'), Promise.resolve([{ type: 'fast', value: 'b' }])) };
    const t0 = Date.now();
    const selectors = await new WorkloadAttestation({ attestors: [slow, fast, procAttestor()], log: memoryLogger() }).attest(me());
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(started).toEqual(['slow', 'fast']);
    expect(selectors.slice(0, 2)).toEqual([
      { type: 'slow', value: 'a' },
      { type: 'fast', value: 'b' },
    ]);
    expect(selectors).toContainEqual({ type: 'proc', value: `uid:${process.geteuid!()}` });
  });

  it('keeps the selectors of the attestors that succeed, and fails only when all fail', async () => {
    const log = memoryLogger();
    const ok = await new WorkloadAttestation({ attestors: [failing('bad'), procAttestor()], log }).attest(me());
    expect(ok.map((s) => s.type)).toEqual(['proc', 'proc']);
    expect(log.lines.some((l) => l.level === 'error' && l.msg === 'Failed to collect all selectors')).toBe(true);
    await expectAttestError(
      new WorkloadAttestation({ attestors: [failing('a', 'x'), failing('b', 'y')], log }).attest(me()),
      'attestors-failed',
      /workload attestor "a" failed: x; workload attestor "b" failed: y/,
    );
  });

  it('no attestors: no selectors (SPIRE), still with the caller re-check', async () => {
    expect(await new WorkloadAttestation({ attestors: [], log: memoryLogger() }).attest(me())).toEqual([]);
  });

  it('gives up after the time limit, and when the caller goes away', async () => {
    const a = new WorkloadAttestation({ attestors: [hanging('stuck'), procAttestor()], log: memoryLogger(), timeoutMs: 100 });
    await expectAttestError(a.attest(me()), 'timeout', /within 100 ms/);
    const abort = new AbortController();
    const b = new WorkloadAttestation({ attestors: [hanging('stuck')], log: memoryLogger() });
    setTimeout(() => abort.abort(), 50);
    await expectAttestError(b.attest(me(), abort.signal), 'cancelled');
  });

  it('refuses duplicate attestor names and a non-positive timeout', () => {
    expect(() => new WorkloadAttestation({ attestors: [procAttestor('x'), procAttestor('x')], log: memoryLogger() })).toThrow(/two workload attestors/);
    expect(() => new WorkloadAttestation({ attestors: [], log: memoryLogger(), timeoutMs: 0 })).toThrow(/timeoutMs/);
  });
});

describe('verifyCaller (pid reuse guard)', () => {
  it('accepts the same process', () => {
    expect(() => verifyCaller(me())).not.toThrow();
  });

  it('detects a different process under the same pid (start time changed)', () => {
    const caller = { ...me(), startTime: me().startTime - 1 };
    expect(() => verifyCaller(caller)).toThrow(/new process detected: process starttime \d+ does not match original caller \d+/);
  });

  it('reads the start time of a process whose name holds spaces and parentheses', async () => {
    const dir = tempDir('comm-');
    // The kernel's comm is the executable's name: "a) b (c" puts ") " inside the parenthesised field.
    const exe = join(dir, 'a) b (c');
    symlinkSync('/bin/sleep', exe);
    const child = spawn(exe, ['30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => child.once('spawn', r));
      const pid = child.pid!;
      expect(readFileSync(`/proc/${pid}/stat`, 'latin1')).toContain('(a) b (c)');
      const caller = { pid, uid: process.geteuid!(), gid: process.getegid!(), startTime: processStartTime(pid) };
      expect(() => verifyCaller(caller)).not.toThrow();
      expect(() => verifyCaller({ ...caller, startTime: caller.startTime + 1 })).toThrow(/starttime \d+ does not match/);
    } finally {
      child.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('detects a process with other owners than the kernel reported at connect', () => {
    expect(() => verifyCaller({ ...me(), uid: me().uid + 1 })).toThrow(/process uid \d+ does not match original caller/);
    expect(() => verifyCaller({ ...me(), gid: me().gid + 1 })).toThrow(/process gid \d+ does not match original caller/);
  });

  it('detects a caller that exited (no such process, or a zombie)', async () => {
    const child = spawn('/bin/sh', ['-c', 'exit 0'], { stdio: 'ignore' });
    const pid = child.pid!;
    const caller = { pid, uid: process.geteuid!(), gid: process.getegid!(), startTime: processStartTime(pid) };
    await new Promise((r) => child.once('exit', r));
    await new Promise((r) => setTimeout(r, 20));
    expect(() => verifyCaller(caller)).toThrow(/could not verify existence of the original caller/);
  });

  it('an attestation whose caller changed under it fails even though the attestors succeeded', async () => {
    const caller = { ...me(), startTime: me().startTime + 7 };
    await expectAttestError(new WorkloadAttestation({ attestors: [procAttestor()], log: memoryLogger() }).attest(caller), 'caller-gone', /starttime/);
  });
});

describe('pid reuse guard through the socket', () => {
  const dir = tempDir('wlreuse-');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the connecting process exits during attestation while another keeps its connection: no identity', async () => {
    const ca = await makeCa('example.org');
    const cache = new StaticWorkloadCache({ trustDomain: 'example.org' });
    cache.setBundle(bundleOf(ca));
    // Every process of this uid is entitled to an SVID: only the guard can refuse.
    cache.setEntry(
      { entryId: 'any', spiffeId: 'spiffe://example.org/any', selectors: [{ type: 'proc', value: `uid:${process.geteuid!()}` }], hint: '', federatesWith: [], createdAt: 0 },
      await makeSvid(ca, 'spiffe://example.org/any'),
    );
    const log = memoryLogger();
    const attested: number[] = [];
    // Reads the connector's selectors, then kills it and waits until it is gone before answering.
    const attestor: WorkloadAttestor = {
      name: 'proc',
      async attest(pid) {
        attested.push(pid);
        const selectors = await procAttestor().attest(pid);
        process.kill(pid, 'SIGKILL');
        const deadline = Date.now() + 5000;
        while (Date.now() < deadline) {
          try {
            processStartTime(pid);
          } catch {
            return selectors;
          }
          await new Promise((r) => setTimeout(r, 10));
        }
        throw new Error(`process ${pid} did not exit`);
      },
    };
    const server = new WorkloadApiServer({ cache, attestation: new WorkloadAttestation({ attestors: [attestor], log }), trustDomain: 'example.org', log });
    const socketPath = join(dir, 'api.sock');
    await server.start(socketPath);
    const parent = spawn(process.execPath, [fixture('workload-fd-passing-client.mjs'), 'parent', socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: parent.stdout }).once('line', resolve);
        setTimeout(() => reject(new Error('no answer from the holder')), 10_000);
      });
      const answer = JSON.parse(line) as { holder: number; connector: number; status: number; message: string };
      expect(answer.connector).toBe(parent.pid);
      expect(attested).toEqual([parent.pid]);
      expect(answer).toMatchObject({ status: 14, message: 'workload attestation failed' });
      const failed = log.lines.find((l) => l.msg === 'Workload attestation failed');
      expect(failed?.fields).toMatchObject({ method: 'FetchX509SVID', pid: parent.pid });
      expect(String(failed?.fields.error)).toMatch(/could not verify existence of the original caller/);
      expect(cache.subscriberCount).toBe(0);
    } finally {
      parent.kill('SIGKILL');
      await server.close();
    }
  });
});
