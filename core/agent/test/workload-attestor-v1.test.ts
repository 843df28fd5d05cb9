// WorkloadAttestorV1 over real plugin processes: selectors typed with the
// plugin name, the AttestReference fallback for plugins without Attest,
// untrusted plugin output refused, errors prefixed once with their code kept.
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ManagedPlugin, nullLogger, resolveBuiltIn } from '@spire-ts/common';
import { Status } from '@spire-ts/plugin-sdk';
import { WorkloadAttestorV1 } from '../src/workload/index.js';

const SERVICE = 'spire.plugin.agent.workloadattestor.v1.WorkloadAttestor';
const FIXTURE = fileURLToPath(new URL('./fixtures/workload-attestor-plugin.mjs', import.meta.url));
const plugins: ManagedPlugin<typeof SERVICE>[] = [];

async function start(name: string, command: string, args: string[]): Promise<WorkloadAttestorV1> {
  const plugin = new ManagedPlugin({ launch: { type: 'WorkloadAttestor', name, command, args }, service: SERVICE, trustDomain: 'example.org', log: nullLogger, restart: false });
  plugins.push(plugin);
  await plugin.start();
  return new WorkloadAttestorV1(plugin);
}

afterAll(() => Promise.all(plugins.map((p) => p.stop())));

describe('WorkloadAttestorV1', () => {
  it('the unix plugin: selectors of type "unix" for this process', async () => {
    const bin = resolveBuiltIn('agent', 'WorkloadAttestor', 'unix');
    if (!bin) throw new Error('the unix WorkloadAttestor is not built');
    const unix = await start('unix', bin.command, bin.args);
    expect(unix.name).toBe('unix');
    const selectors = await unix.attest(process.pid);
    expect(selectors).toContainEqual({ type: 'unix', value: `uid:${process.geteuid!()}` });
    expect(selectors.every((s) => s.type === 'unix')).toBe(true);
    // A plugin error keeps its code, prefixed once.
    const err = (await unix.attest(0x7fff_fff0).catch((e: unknown) => e)) as { grpcCode: Status; message: string };
    expect(err.message).toMatch(/^workloadattestor\(unix\): failed to attest: [A-Z_]+: /);
    expect(err.grpcCode).not.toBe(Status.OK);
  });

  it('falls back to AttestReference with a WorkloadPIDReference when Attest is unimplemented', async () => {
    const ref = await start('refonly', process.execPath, [FIXTURE, 'reference-only']);
    expect(await ref.attest(300_000)).toEqual([
      { type: 'refonly', value: 'pid:300000' },
      { type: 'refonly', value: 'type_url:type.googleapis.com/spiffe.broker.WorkloadPIDReference' },
    ]);
  });

  it('refuses an invalid pid and an empty selector value from the plugin', async () => {
    const bad = await start('bad', process.execPath, [FIXTURE, 'bad-selector']);
    await expect(bad.attest(0)).rejects.toMatchObject({ grpcCode: Status.INVALID_ARGUMENT, message: 'workloadattestor(bad): invalid value for PID: 0' });
    await expect(bad.attest(1)).rejects.toMatchObject({ grpcCode: Status.INTERNAL, message: 'workloadattestor(bad): plugin returned an invalid selector value ""' });
  });
});
