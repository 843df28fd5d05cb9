// `npm test` runs the NodeAttestor suite for every registered fixture
// (FIXTURES: one per attestor), plus checks that the suite itself fails when
// a fixture's expectations are not met, and the CLI's `--attestor`.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { FIXTURES, nodeAttestorSuite, runSuite, type AttestorFixture, type BuiltInFixtureEnv, type CaseResult, type FixtureEnv } from '@spire-ts/conformance';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

function failures(results: CaseResult[]): string[] {
  return results.filter((r) => r.status === 'failed').map((r) => `${r.name}: ${r.message ?? ''}`);
}

describe('NodeAttestor suite, every registered fixture', () => {
  for (const [name, fixture] of Object.entries(FIXTURES)) {
    it(name, async () => {
      expect(fixture.name).toBe(name);
      const results = await runSuite(nodeAttestorSuite(fixture));
      expect(failures(results)).toEqual([]);
      // The happy path, at least one negative, and the closing happy path ran.
      expect(results.length).toBeGreaterThanOrEqual(3);
      expect(results.every((r) => r.status === 'passed')).toBe(true);
    }, 300_000);
  }
});

/** The join_token fixture with its env changed by `edit`. */
function edited(edit: (env: FixtureEnv) => FixtureEnv): AttestorFixture {
  const base = FIXTURES.join_token;
  if (!base) throw new Error('join_token fixture not registered');
  return { name: base.name, setup: async (ctx) => edit(await base.setup(ctx)) };
}

describe('the suite fails when the attestor misbehaves', () => {
  it('wrong agent ID, missing selector, wrong can_reattest and an accepted negative each fail their case', async () => {
    const results = await runSuite(
      nodeAttestorSuite(
        edited((env) => ({
            ...env,
            expectAgentId: 'spiffe://example.org/spire/agent/join_token/other',
            negatives: [
              { name: 'a token that works', agentPluginData: '', expectCode: 'INVALID_ARGUMENT' as const, expectMessage: /x/ },
              { name: 'the wrong code', agentPluginData: 'join_token = "nope"', expectCode: 'PERMISSION_DENIED' as const, expectMessage: /./ },
              { name: 'the wrong message', agentPluginData: 'join_token = "nope"', expectCode: 'INVALID_ARGUMENT' as const, expectMessage: /operator-friendly/ },
            ],
          })),
      ),
    );
    const byName = new Map(results.map((r) => [r.name, r]));
    expect(byName.get('happy path: agent ID, selectors and can_reattest')?.message).toMatch(/^agent ID spiffe:\/\/example\.org\/spire\/agent\/join_token\/\S+, want spiffe:\/\/example\.org\/spire\/agent\/join_token\/other$/);
    expect(byName.get('refuses a token that works with INVALID_ARGUMENT')?.message).toMatch(/^expected INVALID_ARGUMENT, but the attestation succeeded: agent ID spiffe:/);
    expect(byName.get('refuses the wrong code with PERMISSION_DENIED')?.message).toMatch(/^expected PERMISSION_DENIED, got INVALID_ARGUMENT: failed to attest/);
    expect(byName.get('refuses the wrong message with INVALID_ARGUMENT')?.message).toMatch(/does not match \/operator-friendly\//);
    expect(results.map((r) => r.status)).toEqual(['failed', 'failed', 'failed', 'failed', 'failed']);
  }, 120_000);

  it('missing selectors and can_reattest are checked', async () => {
    const results = await runSuite(
      nodeAttestorSuite(
        edited((env) => ({ ...env, expectSelectors: [{ type: 'join_token', value: 'missing:1' }], negatives: [] })),
      ),
    );
    expect(results[0]?.message).toBe('missing selectors join_token:missing:1 among []');
    const reattest = await runSuite(nodeAttestorSuite(edited((env) => ({ ...env, expectCanReattest: true, negatives: [] }))));
    expect(reattest[0]?.message).toBe('can_reattest false, want true');
  }, 120_000);

  it('a server side that stops serving after a negative fails that case and the last one', async () => {
    let dead = false;
    const results = await runSuite(
      nodeAttestorSuite(
        edited((env) => {
          const e = env as BuiltInFixtureEnv;
          return {
            ...e,
            negatives: [{ ...e.negatives[0]!, arrange: () => void (dead = true) }],
            builtIn: { ...e.builtIn, problem: () => (dead ? 'the DataStore plugin is crashed' : undefined) },
          } as BuiltInFixtureEnv;
        }),
      ),
    );
    expect(results.map((r) => [r.status, r.message])).toEqual([
      ['passed', undefined],
      ['failed', `the server side stopped serving after refusing a token never issued: the DataStore plugin is crashed`],
      ['failed', 'the server side stopped serving after the negative cases: the DataStore plugin is crashed'],
    ]);
  }, 120_000);

  it('a fixture whose setup fails fails every case with the reason', async () => {
    const results = await runSuite(nodeAttestorSuite({ name: 'broken', setup: () => Promise.reject(new Error('fake server did not start')) }));
    expect(results.length).toBeGreaterThan(0);
    for (const r of results) expect(r.message).toBe('setup failed: fixture broken: fake server did not start');
  });
});

describe('spire-conformance --attestor', () => {
  const run = promisify(execFile);

  it('runs the named fixture', async () => {
    const { stdout } = await run(process.execPath, [cli, '--attestor', 'join_token']);
    expect(stdout).toMatch(/^# NodeAttestor join_token\n/);
    expect(stdout).toMatch(/ok {3}refuses an expired token with INVALID_ARGUMENT/);
    expect(stdout).toMatch(/\n\d+ passed, 0 failed\n$/);
  }, 60_000);

  it('runs external plugin binaries with --agent-cmd / --server-cmd', async () => {
    // The plugins' own executables (npm ci on a fresh clone links no bins for workspaces built after it).
    const bin = (name: string): string => fileURLToPath(new URL(`../../plugins/${name}/dist/main.js`, import.meta.url));
    const { stdout } = await run(process.execPath, [
      cli,
      '--attestor',
      'x509pop',
      '--agent-cmd',
      bin('agent-nodeattestor-x509pop'),
      '--server-cmd',
      bin('server-nodeattestor-x509pop'),
      '--only',
      'untrusted CA',
    ]);
    expect(stdout.replace(/\(\d+ ms\)/g, '(N ms)')).toBe(
      '# NodeAttestor x509pop\nok   refuses a certificate from an untrusted CA with PERMISSION_DENIED (N ms)\n1 passed, 0 failed\n',
    );
  }, 60_000);

  it('lists the known attestors for an unknown name', async () => {
    const err = (await run(process.execPath, [cli, '--attestor', 'nope']).then(
      () => undefined,
      (e: unknown) => e,
    )) as { code?: number; stderr?: string } | undefined;
    expect(err?.code).toBe(2);
    expect(err?.stderr).toContain(`unknown attestor "nope" (known: ${Object.keys(FIXTURES).sort().join(', ')})`);
  }, 60_000);
});
