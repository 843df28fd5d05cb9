// The agent x509pop plugin served in-process over the real plugin wire:
// configuration errors, the payload it sends, and its proof of possession
// checked independently with node:crypto (Go's formats: RSA-PSS/SHA-256,
// ECDSA (r, s) over SHA-256(challenge nonce ‖ agent nonce)).
import { constants, createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageReader } from '@spire-ts/common';
import { Status } from '@spire-ts/plugin-sdk';
import { rejection, servePluginInProcess, x509popTestCa, x509popTestNode, type InProcessPlugin, type X509popIssued } from '@spire-ts/conformance';
import type { agentNodeAttestorV1 } from '@spire-ts/proto';
import { x509PopAgentPlugin } from '../src/index.js';

type Msg = agentNodeAttestorV1.PayloadOrChallengeResponse__Output;
type SERVICE = 'spire.plugin.agent.nodeattestor.v1.NodeAttestor';

const dir = mkdtempSync(join(tmpdir(), 'x509pop-agent-'));
let plugin: InProcessPlugin<SERVICE>;
let root: X509popIssued;
let inter: X509popIssued;
let ecLeaf: X509popIssued;
let rsaLeaf: X509popIssued;

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
const hcl = (o: Record<string, string>): string => Object.entries(o).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join('\n');
const files = (leaf: X509popIssued, name: string, intermediates = true): Record<string, string> => ({
  private_key_path: write(`${name}.key`, leaf.keyPem),
  certificate_path: write(`${name}.pem`, leaf.pem),
  ...(intermediates ? { intermediates_path: write('inter.pem', inter.pem) } : {}),
});

beforeAll(async () => {
  root = await x509popTestCa('root');
  inter = await x509popTestCa('intermediate', root);
  ecLeaf = await x509popTestNode(inter, { commonName: 'ec-node' });
  rsaLeaf = await x509popTestNode(inter, { commonName: 'rsa-node', keyType: 'rsa' });
  plugin = await servePluginInProcess(x509PopAgentPlugin());
});
afterAll(async () => {
  await plugin.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs one attestation: the payload, then the plugin's answer to `challenge` (or the stream's error). */
async function attest(challenge: (payload: Uint8Array) => Uint8Array, p: InProcessPlugin<SERVICE> = plugin): Promise<{ payload: Uint8Array; response: Uint8Array }> {
  const stream = p.client.AidAttestation();
  const reader = messageReader<Msg>(stream);
  try {
    const first = await reader.next();
    if (first?.data !== 'payload' || !first.payload) throw new Error(`want a payload first, got ${JSON.stringify(first)}`);
    stream.write({ challenge: challenge(first.payload) });
    const second = await reader.next();
    if (second?.data !== 'challenge_response' || !second.challenge_response) throw new Error(`want a challenge_response, got ${JSON.stringify(second)}`);
    return { payload: first.payload, response: second.challenge_response };
  } finally {
    reader.close();
    stream.end();
  }
}

const nonce = randomBytes(32);
const ecdsaChallenge = Buffer.from(JSON.stringify({ rsa_signature: null, ecdsa_signature: { nonce: nonce.toString('base64') } }));
const rsaChallenge = Buffer.from(JSON.stringify({ rsa_signature: { nonce: nonce.toString('base64') }, ecdsa_signature: null }));

function pad(b: Buffer, n: number): Buffer {
  return Buffer.concat([Buffer.alloc(n - b.length), b]);
}

function verifies(key: KeyObject, response: Uint8Array): boolean {
  const r = JSON.parse(Buffer.from(response).toString()) as {
    rsa_signature: { nonce: string; signature: string } | null;
    ecdsa_signature: { nonce: string; r: string; s: string } | null;
  };
  const pub = createPublicKey(key);
  if (r.rsa_signature) {
    const data = Buffer.concat([nonce, Buffer.from(r.rsa_signature.nonce, 'base64')]);
    return verify('sha256', data, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, Buffer.from(r.rsa_signature.signature, 'base64'));
  }
  const e = r.ecdsa_signature!;
  const data = Buffer.concat([nonce, Buffer.from(e.nonce, 'base64')]);
  const sig = Buffer.concat([pad(Buffer.from(e.r, 'base64'), 32), pad(Buffer.from(e.s, 'base64'), 32)]);
  return verify('sha256', data, { key: pub, dsaEncoding: 'ieee-p1363' }, sig);
}

describe('configuration', () => {
  it('refuses to attest before Configure', async () => {
    const fresh = await servePluginInProcess(x509PopAgentPlugin());
    try {
      const err = await rejection(attest(() => ecdsaChallenge, fresh));
      expect([err.code, err.details]).toEqual([Status.FAILED_PRECONDITION, 'not configured']);
    } finally {
      await fresh.close();
    }
  });

  it.each([
    ['no private_key_path', () => hcl({ certificate_path: '/x' }), 'private_key_path is required'],
    ['no certificate_path', () => hcl({ private_key_path: '/x' }), 'certificate_path is required'],
    ['spiffe_endpoint_socket', () => hcl({ spiffe_endpoint_socket: 'unix:///tmp/agent.sock' }), 'spiffe_endpoint_socket is not supported'],
    ['a missing key file', () => hcl({ ...files(ecLeaf, 'ec'), private_key_path: join(dir, 'nope.key') }), 'unable to load keypair: ENOENT'],
    ['a key that is not the certificate\'s', () => hcl({ ...files(ecLeaf, 'ec'), private_key_path: write('other.key', rsaLeaf.keyPem) }), 'unable to load keypair: private key'],
    ['a certificate file without certificates', () => hcl({ ...files(ecLeaf, 'ec'), certificate_path: write('empty.pem', 'hello') }), 'no CERTIFICATE PEM block found'],
    ['an unknown key', () => `${hcl(files(ecLeaf, 'ec'))}\nbogus = 1`, 'bogus'],
  ])('refuses %s', async (_name, data, msg) => {
    const err = await rejection(plugin.configure(data()));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toContain(msg);
  });
});

describe('attestation', () => {
  it('ECDSA: sends leaf then intermediates, and proves possession', async () => {
    await plugin.configure(hcl(files(ecLeaf, 'ec')));
    const { payload, response } = await attest(() => ecdsaChallenge);
    const data = JSON.parse(Buffer.from(payload).toString()) as { certificates: string[] };
    expect(data.certificates.map((c) => Buffer.from(c, 'base64'))).toEqual([Buffer.from(ecLeaf.cert.der), Buffer.from(inter.cert.der)]);
    expect(verifies(ecLeaf.key, response)).toBe(true);
  });

  it('RSA: RSA-PSS proof', async () => {
    await plugin.configure(hcl(files(rsaLeaf, 'rsa', false)));
    const { payload, response } = await attest(() => rsaChallenge);
    expect((JSON.parse(Buffer.from(payload).toString()) as { certificates: string[] }).certificates).toHaveLength(1);
    expect(verifies(rsaLeaf.key, response)).toBe(true);
  });

  it('reads renewed certificate files at each attestation', async () => {
    const paths = files(ecLeaf, 'renew');
    await plugin.configure(hcl(paths));
    const renewed = await x509popTestNode(inter, { commonName: 'ec-node' });
    writeFileSync(paths.certificate_path!, renewed.pem);
    writeFileSync(paths.private_key_path!, renewed.keyPem);
    const { payload, response } = await attest(() => ecdsaChallenge);
    expect(Buffer.from((JSON.parse(Buffer.from(payload).toString()) as { certificates: string[] }).certificates[0]!, 'base64')).toEqual(Buffer.from(renewed.cert.der));
    expect(verifies(renewed.key, response)).toBe(true);
  });

  it.each([
    ['a challenge that is not JSON', Buffer.from('nope'), 'unable to unmarshal challenge: not JSON'],
    ['an RSA challenge for an ECDSA key', rsaChallenge, 'failed to calculate challenge response: expecting ECDSA challenge'],
    ['a short nonce', Buffer.from('{"ecdsa_signature":{"nonce":"AAAA"}}'), 'failed to calculate challenge response: invalid challenge nonce'],
  ])('fails with INTERNAL on %s', async (_name, challenge, msg) => {
    await plugin.configure(hcl(files(ecLeaf, 'ec')));
    const err = await rejection(attest(() => challenge));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toContain(msg);
  });
});
