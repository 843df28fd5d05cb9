// The built plugin binary as a child process (ManagedPlugin, go-plugin
// handshake) behind the server's NodeAttestor facade, as spire-server runs
// it, with a real TPM (swtpm) answering the challenges through tpm2-tools.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagedPlugin, nullLogger } from '@spire-ts/common';
import { Status } from '@spire-ts/plugin-sdk';
import { builtInTarget } from '@spire-ts/conformance';
import { NodeAttestorV1 } from '@spire-ts/server';
import { tpm } from '@spire-ts/nodeattestor-kit';
import { HAVE_SWTPM } from '../../nodeattestor-kit/test/tpm-swtpm.js';
import { fingerprint } from '../src/index.js';
import { answer, device, payloadOf, type Device } from './device.js';
import { ca, devIdCertificate, writeBundle, type TestCa } from './pki.js';

const SVC = 'spire.plugin.server.nodeattestor.v1.NodeAttestor';

/** The host's error for a refused attestation (a PluginHostError: gRPC code and prefixed message). */
async function refusal(p: Promise<unknown>): Promise<{ grpcCode: number; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { grpcCode: number; message: string };
  }
  throw new Error('expected the attestation to fail');
}

describe.skipIf(!HAVE_SWTPM)('server:NodeAttestor:tpm_devid as a child process', () => {
  let dir: string;
  let devIdRoot: TestCa;
  let d: Device;
  let plugin: ManagedPlugin<typeof SVC>;
  let attestor: NodeAttestorV1;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tpm-devid-bin-'));
    const manufacturer = await ca('Test TPM Manufacturer', undefined, 'rsa');
    devIdRoot = await ca('DevID Root CA');
    d = await device({ keyType: 'ecc', manufacturer, devIdIssuer: devIdRoot, cn: 'node-1' });
    const target = builtInTarget(
      'server:NodeAttestor:tpm_devid',
      `devid_ca_path = "${writeBundle(dir, 'devid.pem', devIdRoot)}"\nendorsement_ca_path = "${writeBundle(dir, 'ek.pem', manufacturer)}"\n`,
      'example.org',
    );
    plugin = new ManagedPlugin({ launch: target.launch, service: SVC, pluginData: target.pluginData, trustDomain: target.trustDomain, log: nullLogger, restart: false });
    await plugin.start();
    attestor = new NodeAttestorV1(plugin, { deadlineMs: 30_000 });
  }, 120_000);
  afterAll(async () => {
    await plugin?.stop();
    await d?.sw.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('attests through the host with the TPM answering the challenge', async () => {
    const result = await attestor.attest(await payloadOf(d, []), (challenge) => answer(d, challenge));
    expect(result.agentId).toBe(`spiffe://example.org/spire/agent/tpm_devid/${fingerprint(d.devIdCert)}`);
    expect(result.canReattest).toBe(true);
    expect(result.selectors).toEqual([
      { type: 'tpm_devid', value: 'subject:cn:node-1' },
      { type: 'tpm_devid', value: 'issuer:cn:DevID Root CA' },
      { type: 'tpm_devid', value: `ca:fingerprint:${fingerprint(devIdRoot.cert)}` },
    ]);
  });

  it('reports an untrusted DevID CA and a wrong answer with their status through the host', async () => {
    const rogue = await ca('Rogue CA');
    const cert = await devIdCertificate(tpm.publicKeyOf(tpm.decodePublic(d.devIdPub)), rogue, 'node-1');
    const untrusted = await refusal(attestor.attest(await payloadOf(d, [], { devIdCert: [Buffer.from(cert.der)] }), () => Promise.reject(new Error('no challenge expected'))));
    expect(untrusted.grpcCode).toBe(Status.PERMISSION_DENIED);
    expect(untrusted.message).toContain('unable to verify DevID signature: verification failed: x509: certificate signed by unknown authority');

    const wrong = await refusal(
      attestor.attest(await payloadOf(d, []), async (challenge) => {
        const good = JSON.parse((await answer(d, challenge)).toString()) as { DevID: string; CredActivation: string };
        return Buffer.from(JSON.stringify({ ...good, CredActivation: Buffer.alloc(32).toString('base64') }));
      }),
    );
    expect(wrong.grpcCode).toBe(Status.PERMISSION_DENIED);
    expect(wrong.message).toContain('credential activation failed: nonces are different');
  });
});
