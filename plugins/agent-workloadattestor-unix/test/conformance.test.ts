// The built-in binary as a child process: the lifecycle suite, then real
// attestations through ManagedPlugin as the agent will run it.
import { afterAll, describe, expect, it } from 'vitest';
import { ManagedPlugin, nullLogger, unary } from '@spire-ts/common';
import { Status } from '@spire-ts/plugin-sdk';
import { builtInTarget, runSuite, suitesFor } from '@spire-ts/conformance';
import { killAll, pidReference, rejection, sha256sum, workload, WA } from './helpers.js';

afterAll(killAll);

describe('agent:WorkloadAttestor:unix conformance', () => {
  const target = builtInTarget('agent:WorkloadAttestor:unix');
  for (const suite of suitesFor(target)) {
    it(suite.name, async () => {
      const results = await runSuite(suite);
      const failed = results.filter((r) => r.status === 'failed');
      for (const f of failed) console.error(`${f.status}: ${f.suite} / ${f.name}: ${f.message}`);
      expect(failed).toEqual([]);
      // The WorkloadAttestor contract skips what the unix attestor has not (a backend, cgroups), saying so.
      for (const r of results.filter((x) => x.status === 'skipped')) expect(r.message).toMatch(/the unix attestor (has no|does not read|has no notion)/);
      expect(results.length).toBe(suite.cases.length);
    }, 60_000);
  }
});

describe('agent:WorkloadAttestor:unix as a child process', () => {
  it('attests real processes over the plugin wire', async () => {
    const target = builtInTarget('agent:WorkloadAttestor:unix', 'discover_workload_path = true');
    const p = new ManagedPlugin({
      launch: target.launch,
      service: WA,
      pluginData: target.pluginData,
      trustDomain: target.trustDomain,
      log: nullLogger,
      restart: false,
    });
    await p.start();
    try {
      const w = await workload('setpriv', ['--reuid=65534', '--regid=65534', '--groups=27,4444', '/usr/bin/sleep', '30']);
      const expected = [
        'uid:65534',
        'user:nobody',
        'gid:65534',
        'group:nogroup',
        'supplementary_gid:27',
        'supplementary_group:sudo',
        'supplementary_gid:4444',
        'path:/usr/bin/sleep',
        `sha256:${sha256sum('/usr/bin/sleep')}`,
      ];
      expect((await unary(p.client, 'Attest', { pid: w.pid }, { deadlineMs: 10_000 })).selector_values).toEqual(expected);
      expect((await unary(p.client, 'AttestReference', { reference: pidReference(w.pid) }, { deadlineMs: 10_000 })).selector_values).toEqual(expected);
      const err = await rejection(unary(p.client, 'Attest', { pid: -7 }, { deadlineMs: 10_000 }));
      expect(err.code).toBe(Status.INVALID_ARGUMENT);
    } finally {
      await p.stop();
    }
  });
});
