// The NodeAttestor conformance suite for tpm_devid: both built-in plugins as
// child processes (agent driving swtpm through tpm2-tools, server verifying),
// the happy path, every negative case of the fixture (untrusted EK
// manufacturer, untrusted DevID CA, software DevID keys, a credential for
// another TPM's EK, a replayed answer, foreign payloads), and the closing
// happy path. Also the lifecycle suites of the agent plugin binary.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtInTarget, FIXTURES, nodeAttestorSuite, runSuite, suitesFor, x509popTestCa } from '@spire-ts/conformance';
import { tpmGate } from './helpers.js';

const gate = await tpmGate();
const dir = mkdtempSync(join(tmpdir(), 'tpm-devid-lifecycle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A configuration that loads (the files are read at Configure; the TPM only at attestation). */
async function lifecycleData(): Promise<string> {
  const cert = join(dir, 'devid.pem');
  writeFileSync(cert, (await x509popTestCa('lifecycle devid')).pem);
  writeFileSync(join(dir, 'devid.pub'), Buffer.alloc(16));
  writeFileSync(join(dir, 'devid.priv'), Buffer.alloc(16));
  return [`devid_cert_path = ${JSON.stringify(cert)}`, `devid_pub_path = ${JSON.stringify(join(dir, 'devid.pub'))}`, `devid_priv_path = ${JSON.stringify(join(dir, 'devid.priv'))}`, 'tcti = "swtpm:host=127.0.0.1,port=1"'].join('\n');
}

describe('agent:NodeAttestor:tpm_devid lifecycle', () => {
  it('passes the lifecycle suites', async () => {
    for (const suite of suitesFor(builtInTarget('agent:NodeAttestor:tpm_devid', await lifecycleData()))) {
      const results = await runSuite(suite);
      const failed = results.filter((r) => r.status === 'failed');
      for (const f of failed) console.error(`${f.suite} / ${f.name}: ${f.message}`);
      expect(failed).toEqual([]);
      expect(results.length).toBeGreaterThan(5);
    }
  }, 60_000);
});

describe.skipIf(gate.skip)('NodeAttestor tpm_devid conformance (swtpm)', () => {
  it('passes the suite', async () => {
    const fixture = FIXTURES.tpm_devid;
    if (!fixture) throw new Error('tpm_devid fixture not registered');
    const results = await runSuite(nodeAttestorSuite(fixture));
    const failed = results.filter((r) => r.status !== 'passed');
    for (const f of failed) console.error(`${f.status}: ${f.name}: ${f.message}`);
    expect(failed).toEqual([]);
    // happy path + 9 negatives + closing happy path
    expect(results.length).toBe(11);
  }, 240_000);
});
