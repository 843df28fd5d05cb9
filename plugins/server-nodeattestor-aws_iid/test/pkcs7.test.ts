// PKCS#7 verification, the shipped AWS certificates, payload parsing and the
// agent path template, without processes.
import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AWS_RSA2048_CERTS,
  AgentPathTemplate,
  DEFAULT_AGENT_PATH_TEMPLATE,
  SignatureError,
  parsePayload,
  validateAgentPath,
  verifyPkcs7,
} from '../src/index.js';
import { makeTestSigner, pkcs7Sign, type TestSigner } from '../../../conformance/src/fixtures/aws_iid-sign.js';

let signer: TestSigner;
let trusted: X509Certificate;

beforeAll(async () => {
  signer = await makeTestSigner();
  trusted = new X509Certificate(signer.certPem);
});

/** Re-encodes the outer ContentInfo SEQUENCE with an indefinite length (BER, as some AWS tooling emits). */
function indefinite(base64: string): string {
  const der = Buffer.from(base64.replace(/\n/g, ''), 'base64');
  const lenBytes = der[1]! < 0x80 ? 1 : 1 + (der[1]! & 0x7f);
  const content = der.subarray(1 + lenBytes);
  return Buffer.concat([Buffer.from([0x30, 0x80]), content, Buffer.from([0, 0])]).toString('base64');
}

describe('verifyPkcs7', () => {
  it('returns the signed content for a trusted signer, DER or BER indefinite length', () => {
    const sig = pkcs7Sign('{"a":1}', signer);
    expect(verifyPkcs7(sig, [trusted]).toString()).toBe('{"a":1}');
    expect(verifyPkcs7(indefinite(sig), [trusted]).toString()).toBe('{"a":1}');
  });

  it('refuses garbage, other signers and flipped signature bytes with a reason', async () => {
    expect(() => verifyPkcs7('', [trusted])).toThrow(/empty/);
    expect(() => verifyPkcs7('not base64!', [trusted])).toThrow(/not valid base64/);
    expect(() => verifyPkcs7(Buffer.from([0x30, 0x03, 0x02, 0x01]).toString('base64'), [trusted])).toThrow(/malformed PKCS#7 signature: .*overruns/);
    const other = await makeTestSigner({ serial: 77n });
    expect(() => verifyPkcs7(pkcs7Sign('x', other), [trusted])).toThrow(/serial 4d\) that is not among the 1 trusted/);
    const der = Buffer.from(pkcs7Sign('x', signer).replace(/\n/g, ''), 'base64');
    der[der.length - 5]! ^= 0xff; // inside the RSA signature (the last element)
    expect(() => verifyPkcs7(der.toString('base64'), [trusted])).toThrow(SignatureError);
    expect(() => verifyPkcs7('A'.repeat(9000), [trusted])).toThrow(/more than the 8192 allowed/);
  });
});

describe('shipped AWS certificates', () => {
  it('one parseable RSA-2048 certificate per region, for the commercial, China and GovCloud partitions', () => {
    const regions = Object.keys(AWS_RSA2048_CERTS);
    expect(regions.length).toBeGreaterThanOrEqual(35);
    for (const r of ['us-east-1', 'eu-west-1', 'ap-southeast-2', 'cn-north-1', 'us-gov-west-1']) expect(regions).toContain(r);
    for (const pem of Object.values(AWS_RSA2048_CERTS)) {
      const c = new X509Certificate(pem);
      expect(c.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
      expect(c.subject).toContain('Amazon Web Services LLC');
    }
  });
});

describe('parsePayload', () => {
  it('SPIRE field names; strict types; precise refusals', () => {
    expect(parsePayload(Buffer.from('{"document":"d","signature":"s","rsa2048":"r"}'))).toEqual({ document: 'd', signature: 's', rsa2048: 'r' });
    expect(() => parsePayload(Buffer.from('{"document":1}'))).toThrow(/"document" must be a string, got number/);
    expect(() => parsePayload(Buffer.from('[]'))).toThrow(/not a JSON object/);
    expect(() => parsePayload(Buffer.from('{"token":"x"}'))).toThrow(/no "document": not an aws_iid payload \(fields: "token"\)/);
    expect(() => parsePayload(Buffer.alloc(20_000, 0x20))).toThrow(/20000 bytes, more than the 16384/);
  });
});

describe('agent path template', () => {
  const data = { PluginName: 'aws_iid', TrustDomain: 'td', AccountID: '1', Region: 'r', InstanceID: 'i', Tags: { k: 'v', 'a b': 'x' } };

  it('SPIRE default, tags, trim markers', () => {
    expect(AgentPathTemplate.parse(DEFAULT_AGENT_PATH_TEMPLATE).execute(data)).toBe('/aws_iid/1/r/i');
    expect(AgentPathTemplate.parse('/{{ .Tags.k }}/{{ index .Tags "a b" }}').execute(data)).toBe('/v/x');
    expect(AgentPathTemplate.parse('/x {{- .Region -}} /y').execute(data)).toBe('/xr/y');
    expect(AgentPathTemplate.parse('/{{ .Region }}').usesTags).toBe(false);
    expect(AgentPathTemplate.parse('/{{.Tags.k}}').usesTags).toBe(true);
  });

  it('refuses unsupported actions and bad paths', () => {
    expect(() => AgentPathTemplate.parse('/{{ printf "%s" .Region }}')).toThrow(/unsupported action/);
    expect(() => AgentPathTemplate.parse('/{{ .Region ')).toThrow(/unclosed action/);
    expect(validateAgentPath('no-slash')).toMatch(/must start with/);
    expect(validateAgentPath('/a//b')).toMatch(/empty segments/);
    expect(validateAgentPath('/a/../b')).toMatch(/dot segments/);
    expect(validateAgentPath('/a b')).toMatch(/characters other than/);
    expect(validateAgentPath('/aws_iid/1/r/i')).toBeUndefined();
  });
});
