// Test helpers: the plugin in-process over its real gRPC socket, and real
// workload processes to attest.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { unary } from '@spire-ts/common';
import type { createClient } from '@spire-ts/proto';
import { PROTO_ROOT } from '@spire-ts/proto';

export const WA = 'spire.plugin.agent.workloadattestor.v1.WorkloadAttestor';
export type WAClient = ReturnType<typeof createClient<typeof WA>>;

/** The plugin in-process over its real gRPC socket (the conformance kit's server), its WorkloadAttestor client as `wa`. */
export { serveWorkloadAttestorInProcess as inProcess, type InProcessWorkloadAttestor as InProcess } from '@spire-ts/conformance';

export { rejection } from '@spire-ts/conformance';

export const attest = (wa: WAClient, pid: number) =>
  unary(wa, 'Attest', { pid }, { deadlineMs: 10_000 }).then((r) => r.selector_values);

/** Packs a `spiffe.broker.WorkloadPIDReference` with protobufjs (an encoder independent of the plugin's decoder). */
export function pidReference(pid: number): { type_url: string; value: Buffer } {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : join(PROTO_ROOT, target));
  root.loadSync('spiffe/broker/api.proto', { keepCase: true });
  const type = root.lookupType('spiffe.broker.WorkloadPIDReference');
  return {
    type_url: 'type.googleapis.com/spiffe.broker.WorkloadPIDReference',
    value: Buffer.from(type.encode(type.create({ pid })).finish()),
  };
}

const children = new Set<ChildProcess>();

/**
 * Starts a long-running workload and waits until it runs `exe` (so that a
 * wrapper such as setpriv has exec'd it).
 */
export async function workload(command: string, args: string[], opts: SpawnOptions = {}, exe = '/usr/bin/sleep'): Promise<ChildProcess & { pid: number }> {
  const child = spawn(command, args, { stdio: 'ignore', ...opts });
  children.add(child);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const pid = child.pid!;
  const end = Date.now() + 5000;
  for (;;) {
    let now: string | undefined;
    try {
      now = readlinkSync(`/proc/${pid}/exe`);
    } catch {
      now = undefined;
    }
    if (now === exe) break;
    if (child.exitCode !== null || Date.now() > end) throw new Error(`workload ${command} did not exec ${exe} (exe: ${now}, exit: ${child.exitCode})`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return child as ChildProcess & { pid: number };
}

export async function killAll(): Promise<void> {
  await Promise.all([...children].map((c) => stop(c)));
}

export async function stop(child: ChildProcess): Promise<void> {
  children.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** `sha256sum FILE`, the reference digest. */
export function sha256sum(path: string): string {
  return execFileSync('sha256sum', [path], { encoding: 'utf8' }).split(/\s+/)[0]!;
}
