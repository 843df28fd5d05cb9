// The WorkloadAttestor contract suite against every built-in that has a
// fixture (unix, docker, k8s), proof that the suite fails when a plugin
// misbehaves, and the CLI's `--plugin agent:WorkloadAttestor:<name>` and
// `--fixture`.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { resolveBuiltIn } from '@spire-ts/common';
import {
  WORKLOAD_FIXTURES,
  builtInTarget,
  pidReference,
  runSuite,
  suitesFor,
  workloadAttestorSuite,
  type CaseResult,
  type WorkloadFixture,
  type WorkloadFixtureEnv,
} from '@spire-ts/conformance';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

function run(...args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });
}

function failures(results: CaseResult[]): string[] {
  return results.filter((r) => r.status === 'failed').map((r) => `${r.name}: ${r.message ?? ''}`);
}

const UNIX_SKIPPED = [
  'a process outside any container yields no selectors',
  'a container the backend does not know',
  'malformed cgroup lines',
  'cgroup lines naming two different containers',
  'the backend is down',
  'the backend is slow: a bounded, clear error',
  'the backend sends a huge response',
];

describe('WorkloadAttestor suite, every registered fixture', () => {
  for (const [name, fixture] of Object.entries(WORKLOAD_FIXTURES)) {
    const built = resolveBuiltIn('agent', 'WorkloadAttestor', name);
    it.skipIf(!built)(name, async () => {
      expect(fixture.name).toBe(name);
      const results = await runSuite(workloadAttestorSuite(builtInTarget(`agent:WorkloadAttestor:${name}`), fixture));
      expect(failures(results)).toEqual([]);
      const skipped = results.filter((r) => r.status === 'skipped').map((r) => r.name);
      // Only the unix fixture lacks situations (no backend, no cgroups); docker and k8s produce them all.
      expect(skipped).toEqual(name === 'unix' ? UNIX_SKIPPED : []);
      for (const r of results.filter((x) => x.status === 'skipped')) expect(r.message).toMatch(/unix attestor/);
    }, 120_000);
  }
});

/** The unix fixture with its env changed by `edit`. */
function edited(edit: (env: WorkloadFixtureEnv) => WorkloadFixtureEnv): WorkloadFixture {
  const base = WORKLOAD_FIXTURES.unix!;
  return { name: base.name, setup: async (ctx) => edit(await base.setup(ctx)) };
}

describe('the suite fails when the attestor misbehaves', () => {
  it('a missing selector, an extra one, a wrong code, a wrong message, a too-slow answer and a wrong reference contract each fail their case', async () => {
    const suite = workloadAttestorSuite(
      builtInTarget('agent:WorkloadAttestor:unix'),
      edited((env) => ({
        ...env,
        known: { ...env.known, selectors: [...env.known.selectors, 'uid:4242'] },
        alsoKnown: env.alsoKnown?.map((w) => ({ ...w, selectors: w.selectors.filter((s) => !s.startsWith('gid:')) })),
        reference: { pid: false, refused: { codes: ['UNIMPLEMENTED'], message: /AttestReference/ } },
        scenarios: {
          ...env.scenarios,
          nonexistentPid: { arrange: () => 4_000_000_000 % 2 ** 31, expect: { codes: ['NOT_FOUND'], message: /./ } },
          badPid: { arrange: () => 0, expect: { codes: ['INVALID_ARGUMENT'], message: /operator-friendly/ } },
          uncontained: { arrange: () => env.known.pid, expect: { selectors: [] } },
          backendSlow: { arrange: () => env.known.pid, expect: { selectors: env.known.selectors }, withinMs: 0 },
          backendDown: undefined,
        },
      })),
    );
    const results = await runSuite(suite);
    const byName = new Map(results.map((r) => [r.name, r]));
    const msg = (name: string) => byName.get(name)?.message ?? `(no case ${name})`;
    expect(msg('the known workload gets its selectors')).toMatch(/^Attest\(pid \d+\): missing selectors \[uid:4242\]; got \[uid:\d+/);
    expect(msg('other known workloads get their selectors')).toMatch(/unexpected selectors \[gid:\d+\]; want exactly/);
    expect(msg('AttestReference with a WorkloadPIDReference')).toMatch(/expected UNIMPLEMENTED, but the call succeeded with \[uid:/);
    expect(msg('a pid that does not exist')).toMatch(/expected NOT_FOUND, got (INTERNAL|INVALID_ARGUMENT): /);
    expect(msg('a pid that is not positive')).toMatch(/message "pid must be a positive 32-bit integer, got 0" does not match \/operator-friendly\//);
    expect(msg('a process outside any container yields no selectors')).toMatch(/unexpected selectors \[uid:\d+, .*\]; want exactly \[\]/);
    expect(msg('the backend is slow: a bounded, clear error')).toMatch(/answered after \d+ ms \(bound 0 ms\)/);
    expect(byName.get('the backend is down')?.status).toBe('skipped');
    expect(byName.get('the backend is down')?.message).toBe('the unix fixture cannot produce this situation');
    for (const name of ['the known workload gets its selectors', 'other known workloads get their selectors', 'a pid that does not exist', 'a pid that is not positive', 'the backend is slow: a bounded, clear error']) {
      expect(byName.get(name)?.status, name).toBe('failed');
    }
    // After each bad request the known workload is attested again (here, against the edited expectation).
    expect(msg('a workload that exits mid-attestation')).toMatch(
      /^after a workload that exits mid-attestation \(pid \d+\), the known workload \(pid \d+\): missing selectors \[uid:4242\]/,
    );
  }, 60_000);

  it('a failed fixture setup fails every case, naming the cause', async () => {
    const broken: WorkloadFixture = { name: 'unix', setup: () => Promise.reject(new Error('fake engine would not start')) };
    const results = await runSuite(workloadAttestorSuite(builtInTarget('agent:WorkloadAttestor:unix'), broken));
    expect(results.length).toBeGreaterThan(10);
    expect(results.every((r) => r.status === 'failed' && r.message === 'setup failed: fake engine would not start')).toBe(true);
  });
});

describe('suitesFor a WorkloadAttestor', () => {
  it('adds the contract suite with the fixture named like the plugin, or a skipped case saying how to pick one', async () => {
    const named = suitesFor(builtInTarget('agent:WorkloadAttestor:unix')).map((s) => s.name);
    expect(named).toEqual(['lifecycle agent:WorkloadAttestor:unix (plugin_data of fixture unix)', 'WorkloadAttestor contract agent:WorkloadAttestor:unix (fixture unix)']);
    const bin = resolveBuiltIn('agent', 'WorkloadAttestor', 'unix')!;
    const external = { ...builtInTarget('agent:WorkloadAttestor:unix'), name: 'external', launch: { type: 'WorkloadAttestor' as const, name: 'external', command: bin.command, args: bin.args } };
    const [, contract] = suitesFor(external);
    const results = await runSuite(contract!);
    expect(results).toMatchObject([{ status: 'skipped', message: expect.stringMatching(/no WorkloadAttestor fixture named "external" \(known: docker, k8s, unix\); pass --fixture NAME/) }]);
    expect(suitesFor(external, undefined, { fixture: 'unix' })[1]!.name).toBe('WorkloadAttestor contract agent:WorkloadAttestor:external (fixture unix)');
  });

  it('encodes a WorkloadPIDReference as protobuf does (int32 varint, negative sign-extended)', () => {
    expect(pidReference(300)).toEqual({ type_url: 'type.googleapis.com/spiffe.broker.WorkloadPIDReference', value: Buffer.from([0x08, 0xac, 0x02]) });
    expect(pidReference(1).value).toEqual(Buffer.from([0x08, 0x01]));
    expect(pidReference(-1).value).toEqual(Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
  });
});

describe('spire-conformance CLI, WorkloadAttestor', () => {
  it('--plugin agent:WorkloadAttestor:unix runs lifecycle and the contract, exits 0', () => {
    const r = run('--plugin', 'agent:WorkloadAttestor:unix');
    expect(r.stdout).toMatch(/^# WorkloadAttestor contract agent:WorkloadAttestor:unix \(fixture unix\)$/m);
    expect(r.stdout).toMatch(/^ok {3}the known workload gets its selectors \(\d+ ms\)$/m);
    expect(r.stdout).toMatch(/^skip the backend is down — the unix attestor has no backend/m);
    expect(r.stdout).toMatch(/^\d+ passed, 0 failed, 7 skipped$/m);
    expect(r.status).toBe(0);
  }, 120_000);

  it('--plugin-cmd with --fixture runs the contract against any binary; an unknown fixture is a usage error', () => {
    const bin = resolveBuiltIn('agent', 'WorkloadAttestor', 'unix')!;
    const pluginArgs = bin.args.flatMap((a) => ['--plugin-arg', a]);
    const r = run('--type', 'WorkloadAttestor', '--side', 'agent', '--plugin-cmd', bin.command, ...pluginArgs, '--fixture', 'unix', '--only', 'the known workload gets');
    expect(r.stdout).toMatch(/^ok {3}the known workload gets its selectors/m);
    expect(r.stdout).toMatch(/^1 passed, 0 failed$/m);
    expect(r.status).toBe(0);
    const bad = run('--plugin', 'agent:WorkloadAttestor:unix', '--fixture', 'nope');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('unknown WorkloadAttestor fixture "nope" (known: docker, k8s, unix)');
    const wrongType = run('--plugin', 'server:KeyManager:memory', '--fixture', 'unix');
    expect(wrongType.status).toBe(2);
    expect(wrongType.stderr).toContain('--fixture applies to WorkloadAttestor plugins, not KeyManager');
  }, 120_000);
});
