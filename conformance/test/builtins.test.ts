// `npm test` runs the conformance kit against every built-in plugin: here the
// memory KeyManager and the Python fixture (a plugin written with a non-JS
// gRPC stack); the disk and agent KeyManagers run the same suites in their
// own test files (plugins/*-keymanager-*/test/conformance.test.ts), and the
// DataStore runs lifecycle + contract through the CLI (datastore-cli.test.ts).
// The server NodeAttestors whose plugin_data names CA files run the lifecycle
// here too (its Validate-agrees-with-Configure case caught x509pop and
// tpm_devid reading their files only at Configure).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { builtInTarget, externalTarget, suitesFor, type PluginTarget, type Suite } from '@spire-ts/conformance';

const pythonPlugin = fileURLToPath(new URL('../fixtures/python-keymanager/plugin.py', import.meta.url));
const havePythonGrpc = existsSync('/usr/lib/python3/dist-packages/grpc');

const pkiDir = mkdtempSync(join(tmpdir(), 'conformance-builtins-'));
const caPem = join(pkiDir, 'ca.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(pkiDir, 'ca.key'), '-out', caPem, '-days', '2', '-subj', '/CN=conformance test CA'], { stdio: 'ignore' });
afterAll(() => rmSync(pkiDir, { recursive: true, force: true }));

const targets: Array<{ label: string; target: () => PluginTarget; skip?: string }> = [
  { label: 'server:KeyManager:memory', target: () => builtInTarget('server:KeyManager:memory') },
  { label: 'server:NodeAttestor:x509pop', target: () => builtInTarget('server:NodeAttestor:x509pop', `ca_bundle_path = ${JSON.stringify(caPem)}`) },
  {
    label: 'server:NodeAttestor:tpm_devid',
    target: () => builtInTarget('server:NodeAttestor:tpm_devid', `devid_ca_path = ${JSON.stringify(caPem)}\nendorsement_ca_path = ${JSON.stringify(caPem)}`),
  },
  {
    label: 'python KeyManager fixture',
    target: () => externalTarget({ type: 'KeyManager', command: pythonPlugin, name: 'python' }),
    ...(havePythonGrpc || process.env.CI === 'true' ? {} : { skip: 'install python3-grpcio python3-protobuf python3-cryptography python3-grpc-tools' }),
  },
];

function register(suite: Suite<unknown>): void {
  describe(suite.name, () => {
    let ctx: unknown;
    beforeAll(async () => {
      ctx = await suite.setup();
    }, 120_000);
    afterAll(async () => {
      if (ctx !== undefined) await suite.teardown(ctx);
    });
    for (const c of suite.cases) {
      it(c.name, async (t) => {
        try {
          await c.run(ctx);
        } catch (err) {
          if (err instanceof Error && err.name === 'SkipCase') t.skip(err.message);
          throw err;
        }
      }, 60_000);
    }
  });
}

for (const t of targets) {
  if (t.skip) {
    describe.skip(`${t.label} (skipped: ${t.skip})`, () => it('needs its dependencies', () => undefined));
    continue;
  }
  for (const suite of suitesFor(t.target())) register(suite);
}
