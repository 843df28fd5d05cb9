// The x509pop server checks, unit by unit: configuration, chain of trust,
// proof of possession, agent ID template and selectors. The full exchange
// with the agent plugin over the plugin wire runs in the conformance suite
// (conformance/test/nodeattestor.test.ts, fixture conformance/src/fixtures/x509pop.ts).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Status, type PluginError } from '@spire-ts/plugin-sdk';
import { x509popPayload, x509popResponse } from '@spire-ts/conformance';
import { agentAttributes, buildX509PopConfig, checkResponse, verifyPayload, type RawConfig, type Verified, type X509PopConfig } from '../src/index.js';
import { caCert, cert, key, writePem, type TestCert } from './pki.js';

const dir = mkdtempSync(join(tmpdir(), 'x509pop-server-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const root = await caCert('root');
const inter = await caCert('intermediate', root);
const bundle = writePem(dir, 'bundle.pem', root);
const TD = 'example.org';

function raw(over: Partial<RawConfig> = {}): RawConfig {
  return { mode: '', ca_bundle_path: bundle, ca_bundle_paths: [], agent_path_template: '', verify_client_ip: false, ...over } as RawConfig;
}
const config = (over: Partial<RawConfig> = {}): X509PopConfig => buildX509PopConfig(raw(over), TD);
const sha1 = (c: TestCert): string => createHash('sha1').update(c.cert.der).digest('hex');

function failure(fn: () => unknown): PluginError {
  try {
    fn();
  } catch (err) {
    return err as PluginError;
  }
  throw new Error('expected a failure');
}

function nonceOf(v: Verified): Buffer {
  return v.challenge.nonce;
}

describe('configuration', () => {
  it.each([
    [{ ca_bundle_path: '' }, 'one of ca_bundle_path or ca_bundle_paths must be configured'],
    [{ ca_bundle_paths: [bundle] }, 'only one of ca_bundle_path or ca_bundle_paths can be configured, not both'],
    [{ mode: 'bogus' }, 'mode can only be either spiffe or external_pki'],
    [{ mode: 'spiffe', ca_bundle_path: '' }, 'mode "spiffe" needs the IdentityProvider host service'],
    [{ ca_bundle_path: join(dir, 'missing.pem') }, `unable to load trust bundle "${join(dir, 'missing.pem')}": ENOENT`],
    [{ agent_path_template: '/{{ .Nope }}' }, 'failed to parse agent svid template: "/{{ .Nope }}": unsupported action "{{ .Nope }}"'],
    [{ max_intermediates: 0 }, 'max_intermediates must be greater than 0'],
    [{ max_rsa_key_size: -1 }, 'max_rsa_key_size must be greater than 0'],
    [{ spiffe_prefix: '/a', svid_prefix: '/b' }, 'only one of spiffe_prefix or svid_prefix can be configured, not both'],
  ] as Array<[Partial<RawConfig>, string]>)('%j is refused', (over, msg) => {
    const err = failure(() => config(over));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.message).toContain(msg);
  });

  it('refuses a bundle file without certificates', () => {
    const empty = join(dir, 'empty.pem');
    writeFileSync(empty, 'nothing here\n');
    expect(failure(() => config({ ca_bundle_path: empty })).message).toBe(`unable to load trust bundle "${empty}": no CERTIFICATE PEM block found`);
  });

  it('reads several bundles', async () => {
    const other = await caCert('other root');
    const c = config({ ca_bundle_path: '', ca_bundle_paths: [bundle, writePem(dir, 'other.pem', other)] });
    expect(c.roots).toHaveLength(2);
    expect(c.maxIntermediates).toBe(4);
    expect(c.maxRsaKeySize).toBe(8192);
  });
});

describe('chain of trust', () => {
  it('an ECDSA leaf under an intermediate: SPIRE agent ID and selectors', async () => {
    const leaf = await cert({ cn: 'node-a', serialNumber: 0xabcn, uris: [`x509pop://${TD}/zone/b`, 'x509pop://other.org/zone/x', `x509pop://${TD}/single`] }, inter);
    const c = config();
    const v = verifyPayload(c, x509popPayload([leaf.cert, inter.cert]), undefined);
    expect(v.challenge.kind).toBe('ecdsa');
    checkResponse(v, x509popResponse(leaf.key, nonceOf(v)));
    const attrs = agentAttributes(c, v);
    expect(attrs.spiffeId).toBe(`spiffe://${TD}/spire/agent/x509pop/${sha1(leaf)}`);
    expect(attrs.selectorValues).toEqual(['subject:cn:node-a', `ca:fingerprint:${sha1(inter)}`, `ca:fingerprint:${sha1(root)}`, 'serialnumber:0abc', 'san:zone:b']);
  });

  it('a P-384 leaf directly under the root', async () => {
    const leaf = await cert({ cn: '', subject: { organization: 'no common name' } }, root, key('p384'));
    const v = verifyPayload(config(), x509popPayload([leaf.cert]), undefined);
    checkResponse(v, x509popResponse(leaf.key, nonceOf(v)));
    expect(agentAttributes(config(), v).selectorValues).toEqual([`ca:fingerprint:${sha1(root)}`, expect.stringMatching(/^serialnumber:[0-9a-f]+$/)]);
  });

  it('a leaf that is itself a trusted root has no ca:fingerprint selector', async () => {
    const self = await cert({ cn: 'self' });
    const v = verifyPayload(config({ ca_bundle_path: writePem(dir, 'self.pem', self) }), x509popPayload([self.cert]), undefined);
    expect(v.chains).toEqual([[v.leaf]]);
  });

  it.each([
    ['a not-yet-valid leaf', async () => [await cert({ cn: 'n', notBefore: new Date(Date.now() + 3_600_000) }, inter), inter], /current time \S+ is before \S+/],
    ['an intermediate that is not a CA', async () => {
      const notCa = await cert({ cn: 'not a ca', keyUsage: ['keyCertSign'] }, root);
      return [await cert({ cn: 'n' }, notCa), notCa];
    }, /signed by an intermediate that is not a CA/],
    ['a path length violation', async () => {
      const limited = await caCert('limited', root, { basicConstraints: { ca: true, pathLen: 0 } });
      const sub = await caCert('sub', limited);
      return [await cert({ cn: 'n' }, sub), sub, limited];
    }, /too many intermediates for path length constraint/],
    ['an expired intermediate', async () => {
      const old = await caCert('old', root, { notAfter: new Date(Date.now() - 1000) });
      return [await cert({ cn: 'n' }, old), old];
    }, /current time \S+ is after/],
    ['a forged issuer name', async () => {
      const fake = await caCert('intermediate');
      return [await cert({ cn: 'n' }, fake), fake];
    }, /signed by unknown authority/],
  ] as Array<[string, () => Promise<TestCert[]>, RegExp]>)('refuses %s', async (_name, make, msg) => {
    const chain = await make();
    const err = failure(() => verifyPayload(config(), x509popPayload(chain.map((c) => c.cert)), undefined));
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.message).toMatch(/^certificate verification failed: x509: /);
    expect(err.message).toMatch(msg);
  });

  it('enforces max_rsa_key_size on the leaf and intermediates', async () => {
    const leaf = await cert({ cn: 'n' }, inter, key('rsa', 2048));
    const err = failure(() => verifyPayload(config({ max_rsa_key_size: 1024 }), x509popPayload([leaf.cert, inter.cert]), undefined));
    expect(err.message).toBe('leaf certificate key size too large (2048 bits, max_rsa_key_size is 1024)');
  });

  it('refuses an Ed25519 leaf', async () => {
    const leaf = await cert({ cn: 'n' }, inter, key('ed25519'));
    const err = failure(() => verifyPayload(config(), x509popPayload([leaf.cert, inter.cert]), undefined));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.message).toBe('unable to generate challenge: unsupported public key type ed25519 (want RSA or ECDSA)');
  });

  it('refuses non-JSON, non-object and wrongly typed payloads', () => {
    expect(failure(() => verifyPayload(config(), Buffer.from('[1]'), undefined)).message).toBe('failed to unmarshal data: want a JSON object, got an array');
    expect(failure(() => verifyPayload(config(), Buffer.from('{"certificates":"x"}'), undefined)).message).toBe('failed to unmarshal data: "certificates" must be an array of base64 strings');
    expect(failure(() => verifyPayload(config(), Buffer.from('{"certificates":[1]}'), undefined)).message).toBe('failed to unmarshal data: certificates[0] must be a base64 string');
    expect(failure(() => verifyPayload(config(), Buffer.from('{"certificates":[]}'), undefined)).message).toBe('no certificate to attest');
  });
});

describe('proof of possession', () => {
  const setup = async (type: 'ec' | 'rsa') => {
    const leaf = await cert({ cn: 'n' }, inter, key(type));
    return { leaf, v: verifyPayload(config(), x509popPayload([leaf.cert, inter.cert]), undefined) };
  };

  it('accepts an RSA-PSS proof with any salt length (Go signs with the longest)', async () => {
    const { leaf, v } = await setup('rsa');
    expect(v.challenge.kind).toBe('rsa');
    checkResponse(v, x509popResponse(leaf.key, nonceOf(v)));
  });

  it.each([
    ['a response to another challenge', (l: TestCert) => x509popResponse(l.key, randomBytes(32)), Status.PERMISSION_DENIED, 'challenge response verification failed: ECDSA signature verify failed'],
    ['a response by another key', () => x509popResponse(key('ec'), randomBytes(32)), Status.PERMISSION_DENIED, 'challenge response verification failed: ECDSA signature verify failed'],
    ['an RSA response to an ECDSA challenge', () => Buffer.from('{"rsa_signature":{"nonce":"","signature":""}}'), Status.PERMISSION_DENIED, 'challenge response verification failed: expecting ECDSA response'],
    ['a short nonce', () => Buffer.from(JSON.stringify({ ecdsa_signature: { nonce: 'AAAA', r: 'AQ==', s: 'AQ==' } })), Status.PERMISSION_DENIED, 'challenge response verification failed: invalid response nonce'],
    ['an oversized r', () => Buffer.from(JSON.stringify({ ecdsa_signature: { nonce: randomBytes(32).toString('base64'), r: randomBytes(64).toString('base64'), s: 'AQ==' } })), Status.PERMISSION_DENIED, 'challenge response verification failed: ECDSA signature verify failed'],
    ['no response', () => new Uint8Array(), Status.INVALID_ARGUMENT, 'unable to unmarshal challenge response: missing challenge response'],
    ['a huge response', () => Buffer.alloc(20_000, 0x20), Status.INVALID_ARGUMENT, 'unable to unmarshal challenge response: 20000 bytes, larger than the 16384 allowed'],
    ['not JSON', () => Buffer.from('nope'), Status.INVALID_ARGUMENT, 'unable to unmarshal challenge response: Unexpected token'],
  ] as Array<[string, (l: TestCert) => Uint8Array, Status, string]>)('refuses %s', async (_name, make, code, msg) => {
    const { leaf, v } = await setup('ec');
    const err = failure(() => checkResponse(v, make(leaf)));
    expect(err.code).toBe(code);
    expect(err.message).toContain(msg);
  });
});

describe('agent path template and client IP', () => {
  it('renders SPIRE template fields and URI SAN selectors', async () => {
    const leaf = await cert({ cn: 'host-1', serialNumber: 0x1n, uris: [`x509pop://${TD}/dc/east`] }, inter);
    const c = config({ agent_path_template: '/cn/{{ .Subject.CommonName }}/{{ .URISanSelectors.dc }}/{{ index .URISanSelectors "dc" }}/{{ .SerialNumberHex }}' });
    const v = verifyPayload(c, x509popPayload([leaf.cert, inter.cert]), undefined);
    expect(agentAttributes(c, v).spiffeId).toBe(`spiffe://${TD}/spire/agent/cn/host-1/east/east/01`);
  });

  it('fails with INTERNAL on a missing SAN key or an invalid path', async () => {
    const leaf = await cert({ cn: 'a b' }, inter);
    const v = verifyPayload(config(), x509popPayload([leaf.cert, inter.cert]), undefined);
    const missing = failure(() => agentAttributes(config({ agent_path_template: '/{{ .URISanSelectors.dc }}' }), v));
    expect(missing.code).toBe(Status.INTERNAL);
    expect(missing.message).toBe('failed to make spiffe id: map has no entry for key "dc" (URISanSelectors)');
    const bad = failure(() => agentAttributes(config({ agent_path_template: '/cn/{{ .Subject.CommonName }}' }), v));
    expect(bad.message).toMatch(/^failed to make spiffe id: invalid agent path suffix "\/cn\/a b": /);
    expect(failure(() => agentAttributes(config({ agent_path_template: 'x/{{ .Fingerprint }}' }), v)).message).toMatch(/path must have a leading slash/);
  });

  it('verify_client_ip matches the peer against the leaf IP SANs', async () => {
    const ipExt = { oid: '2.5.29.17', critical: false, value: new Uint8Array([0x30, 0x06, 0x87, 0x04, 10, 0, 0, 7]) };
    const leaf = await cert({ cn: 'n', extraExtensions: [ipExt] }, inter);
    const c = config({ verify_client_ip: true });
    const payload = x509popPayload([leaf.cert, inter.cert]);
    expect(verifyPayload(c, payload, '10.0.0.7').challenge.kind).toBe('ecdsa');
    expect(verifyPayload(c, payload, '::ffff:10.0.0.7').challenge.kind).toBe('ecdsa');
    const other = failure(() => verifyPayload(c, payload, '10.0.0.8'));
    expect([other.code, other.message]).toEqual([Status.PERMISSION_DENIED, 'client IP 10.0.0.8 does not match any certificate IP SAN']);
    expect(failure(() => verifyPayload(c, payload, undefined)).message).toBe('client IP not available for verification');
  });
});
