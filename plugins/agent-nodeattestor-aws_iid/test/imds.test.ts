// The agent side against the fixture's fake IMDSv2: the token dance, both
// endpoint spellings, the payload shape (SPIRE's IIDAttestationData), and
// precise failures when IMDS refuses or is unreachable.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchAttestationData, imdsBase } from '../src/index.js';
import { startAwsFakes, type AwsFakes } from '../../../conformance/src/fixtures/aws_iid-fakes.js';

let fakes: AwsFakes;
const content = { document: '{"instanceId":"i-0123456789abcdef0"}', signature: 'c2ln', rsa2048: 'cGtjczc=' };

beforeAll(async () => {
  fakes = await startAwsFakes({ accessKeyId: 'AKIA', accountId: '123456789012', imds: content });
});
afterAll(() => fakes.close());

describe('IMDSv2', () => {
  it('gets a token, then the document and both signatures with it', async () => {
    const tokensBefore = fakes.counts.get('imds:token') ?? 0;
    expect(await fetchAttestationData(fakes.imdsUrl)).toEqual(content);
    expect(await fetchAttestationData(`${fakes.imdsUrl}/latest/`)).toEqual(content);
    expect((fakes.counts.get('imds:token') ?? 0) - tokensBefore).toBe(2);
    expect(JSON.stringify(await fetchAttestationData(fakes.imdsUrl))).toBe(
      JSON.stringify({ document: content.document, signature: content.signature, rsa2048: content.rsa2048 }),
    );
  });

  it('the fake refuses requests without the token header with 401, as IMDSv2 does', async () => {
    const res = await fetch(`${fakes.imdsUrl}/latest/dynamic/instance-identity/document`);
    expect(res.status).toBe(401);
    const bad = await fetch(`${fakes.imdsUrl}/latest/dynamic/instance-identity/document`, { headers: { 'X-aws-ec2-metadata-token': 'forged' } });
    expect(bad.status).toBe(401);
    const noTtl = await fetch(`${fakes.imdsUrl}/latest/api/token`, { method: 'PUT' });
    expect(noTtl.status).toBe(400);
  });

  it('an IMDS that refuses the token (no IMDSv1 fallback) or is down fails with the URL and status', async () => {
    const server = createServer((req, res) => {
      res.writeHead(req.url === '/latest/api/token' ? 403 : 200).end(req.url === '/latest/api/token' ? 'Forbidden' : 'v1 data');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await expect(fetchAttestationData(url)).rejects.toThrow(`failed to get an IMDSv2 session token: ${url}/latest/api/token answered HTTP 403: Forbidden`);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    await expect(fetchAttestationData(url)).rejects.toThrow(/failed to get an IMDSv2 session token: .*fetch failed/);
  });

  it('endpoint spellings', () => {
    expect(imdsBase('')).toBe('http://169.254.169.254');
    expect(imdsBase('http://169.254.169.254/latest')).toBe('http://169.254.169.254');
    expect(imdsBase('http://[fd00:ec2::254]/')).toBe('http://[fd00:ec2::254]');
  });
});
