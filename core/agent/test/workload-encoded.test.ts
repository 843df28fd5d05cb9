// X509SVIDResponse bodies and encodings reused per set of SVIDs and bundles
// (encoded.ts), and the Workload API on its HTTP/2 server: the same bytes to
// callers with the same SVIDs, new ones after a rotation, plain HTTP/2 gRPC
// clients served like grpc-js ones.
import { X509Certificate } from 'node:crypto';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '@spire-ts/common';
import { serviceCodecs } from '@spire-ts/proto/codec';
import type { workload } from '@spire-ts/proto';
import { StaticWorkloadCache, WorkloadApiServer, WorkloadAttestation } from '../src/workload/index.js';
import type { JwtSvid, WorkloadEntry, WorkloadIdentity, WorkloadUpdate } from '../src/workload/cache.js';
import { JwtSvidResponses, X509SvidResponses, reuseEncodings } from '../src/workload/encoded.js';
import { composeX509SvidResponse } from '../src/workload/responses.js';
import { bundleOf, firstMessage, header, makeCa, makeSvid, procAttestor, tempDir, workloadClient, type TestCa, type WorkloadClient } from './workload-fixtures.js';

const TD = 'example.org';
const codec = serviceCodecs('SpiffeWorkloadAPI').FetchX509SVID!;

function identity(id: string, svid: Awaited<ReturnType<typeof makeSvid>>): WorkloadIdentity {
  return Object.freeze({ entryId: id, spiffeId: `spiffe://${TD}/${id}`, hint: '', createdAt: 1, ...svid });
}

describe('JwtSvidResponses', () => {
  const entry = (id: string, hint = ''): WorkloadEntry =>
    Object.freeze({ entryId: id, spiffeId: `spiffe://${TD}/${id}`, selectors: [], hint, federatesWith: [], createdAt: 1 });
  const token = (t: string): JwtSvid => Object.freeze({ token: t, expiresAt: new Date(2_000_000_000_000) });
  const jwtCodec = serviceCodecs('SpiffeWorkloadAPI').FetchJWTSVID!;

  it('answers the same response, encoded once, while the tokens are the same objects', () => {
    const memo = new JwtSvidResponses();
    const [ea, eb] = [entry('a', 'h1'), entry('b')];
    const [ta, tb] = [token('x.y.a'), token('x.y.b')];
    const first = memo.compose([ea, eb], [ta, tb]);
    expect(first).toEqual({ svids: [
      { spiffe_id: `spiffe://${TD}/a`, svid: 'x.y.a', hint: 'h1' },
      { spiffe_id: `spiffe://${TD}/b`, svid: 'x.y.b', hint: '' },
    ] });
    expect(memo.compose([ea, eb], [ta, tb])).toBe(first);
    const serialize = reuseEncodings(jwtCodec.responseSerialize);
    expect(serialize(first)).toBe(serialize(first));
    expect((jwtCodec.responseDeserialize(serialize(first)) as workload.JWTSVIDResponse).svids?.map((s) => s.svid)).toEqual(['x.y.a', 'x.y.b']);
    // A renewed token (a new object, even with the same text), another entry or order: a new response.
    expect(memo.compose([ea, eb], [ta, token('x.y.b')])).not.toBe(first);
    expect(memo.compose([ea], [ta])).not.toBe(first);
    expect(memo.compose([eb, ea], [tb, ta]).svids?.map((s) => s.svid)).toEqual(['x.y.b', 'x.y.a']);
    // Responses not from the memo are encoded every time.
    const plain = { svids: [{ spiffe_id: 'spiffe://example.org/c', svid: 'c', hint: '' }] };
    expect(serialize(plain)).not.toBe(serialize(plain));
  });
});

describe('X509SvidResponses', () => {
  let ca: TestCa;
  let a: WorkloadIdentity;
  let b: WorkloadIdentity;
  beforeAll(async () => {
    ca = await makeCa(TD);
    a = identity('a', await makeSvid(ca, `spiffe://${TD}/a`));
    b = identity('b', await makeSvid(ca, `spiffe://${TD}/b`));
  });

  it('answers the same object for the same SVIDs and bundles, a new one when any of them changes', async () => {
    const memo = new X509SvidResponses();
    const bundle = bundleOf(ca);
    const fed = bundleOf(await makeCa('other.org'));
    const u = (identities: WorkloadIdentity[], own = bundle, federated = [fed]): WorkloadUpdate => ({ identities, bundle: own, federatedBundles: federated });
    const first = memo.compose(u([a, b]), [a, b]);
    expect(first).toEqual(composeX509SvidResponse(u([a, b]), [a, b]));
    expect(memo.compose(u([a, b]), [a, b])).toBe(first);
    // Another SVID set under the same leading identity is remembered beside the first.
    const onlyA = memo.compose(u([a]), [a]);
    expect(onlyA).not.toBe(first);
    expect(onlyA.svids?.map((s) => s.spiffe_id)).toEqual([`spiffe://${TD}/a`]);
    expect(memo.compose(u([a, b]), [a, b])).toBe(first);
    expect(memo.compose(u([a]), [a])).toBe(onlyA);
    // A rotated SVID, a new own bundle, other federated bundles: new answers.
    const rotated = identity('b', await makeSvid(ca, `spiffe://${TD}/b`));
    const afterRotation = memo.compose(u([a, rotated]), [a, rotated]);
    expect(afterRotation).not.toBe(first);
    expect(Buffer.from(afterRotation.svids![1]!.x509_svid as Uint8Array)).toEqual(Buffer.from(rotated.certChainDer[0]!));
    expect(memo.compose(u([a, b], bundleOf(ca)), [a, b])).not.toBe(first);
    expect(memo.compose(u([a, b], bundle, []), [a, b])).not.toBe(first);
  });

  it('encodes a remembered response once, and anything else every time, to the same bytes as the plain codec', () => {
    let calls = 0;
    const counting = (v: unknown): Buffer => {
      calls++;
      return codec.responseSerialize(v);
    };
    const serialize = reuseEncodings(counting);
    const memo = new X509SvidResponses();
    const update: WorkloadUpdate = { identities: [a, b], bundle: bundleOf(ca), federatedBundles: [] };
    const res = memo.compose(update, [a, b]);
    const bytes = serialize(res);
    expect(serialize(memo.compose(update, [a, b]))).toBe(bytes);
    expect(calls).toBe(1);
    expect(bytes).toEqual(codec.responseSerialize(composeX509SvidResponse(update, [a, b])));
    const plain = composeX509SvidResponse(update, [a]);
    serialize(plain);
    serialize(plain);
    expect(calls).toBe(3);
  });
});

describe('the Workload API over HTTP/2', () => {
  const dir = tempDir('wlenc-');
  const socketPath = join(dir, 'api.sock');
  const log = memoryLogger();
  let ca: TestCa;
  let cache: StaticWorkloadCache;
  let server: WorkloadApiServer;
  const clients: WorkloadClient[] = [];
  const entry = {
    entryId: 'me',
    spiffeId: `spiffe://${TD}/me`,
    selectors: [{ type: 'proc', value: `uid:${process.geteuid!()}` }],
    hint: '',
    federatesWith: [],
    createdAt: 1,
  };

  beforeAll(async () => {
    ca = await makeCa(TD);
    cache = new StaticWorkloadCache({ trustDomain: TD });
    cache.setBundle(bundleOf(ca));
    cache.setEntry(entry, await makeSvid(ca, entry.spiffeId));
    server = new WorkloadApiServer({ cache, attestation: new WorkloadAttestation({ attestors: [procAttestor()], log }), trustDomain: TD, log, shutdownGraceMs: 500 });
    await server.start(socketPath);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const fetchOnce = async (): Promise<workload.X509SVIDResponse__Output> => {
    const c = workloadClient(socketPath);
    clients.push(c);
    const stream = c.FetchX509SVID({}, header());
    try {
      return await firstMessage(stream);
    } finally {
      stream.cancel();
    }
  };

  it('gives callers with the same SVIDs the same answer, and the new SVID after a rotation', async () => {
    const [one, two] = await Promise.all([fetchOnce(), fetchOnce()]);
    expect(Buffer.from(one.svids[0]!.x509_svid)).toEqual(Buffer.from(two.svids[0]!.x509_svid));
    const before = new X509Certificate(one.svids[0]!.x509_svid).serialNumber;
    cache.setX509Svid('me', await makeSvid(ca, entry.spiffeId));
    const after = await fetchOnce();
    expect(new X509Certificate(after.svids[0]!.x509_svid).serialNumber).not.toBe(before);
    expect(after.svids[0]!.spiffe_id).toBe(entry.spiffeId);
  });

  it('serves a plain HTTP/2 gRPC client (as grpc-go and Envoy speak it), and refuses other requests', async () => {
    const session = http2.connect('http://localhost', { createConnection: () => net.connect(socketPath) });
    try {
      const call = (headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; data: Buffer }> =>
        new Promise((resolve, reject) => {
          const req = session.request(headers);
          let got: http2.IncomingHttpHeaders = {};
          let trailers: http2.IncomingHttpHeaders = {};
          const chunks: Buffer[] = [];
          req.on('response', (h) => (got = h));
          req.on('trailers', (t) => (trailers = t));
          req.on('data', (c: Buffer) => {
            chunks.push(c);
            // A stream: close after the first complete message.
            const all = Buffer.concat(chunks);
            if (all.length >= 5 && all.length >= 5 + all.readUInt32BE(1)) req.close();
          });
          req.on('close', () => resolve({ headers: got, trailers, data: Buffer.concat(chunks) }));
          req.on('error', reject);
          req.end(body);
        });
      const empty = Buffer.from([0, 0, 0, 0, 0]);
      const grpcHeaders = { ':method': 'POST', ':path': '/SpiffeWorkloadAPI/FetchX509SVID', 'content-type': 'application/grpc', te: 'trailers' };
      const ok = await call({ ...grpcHeaders, 'workload.spiffe.io': 'true' }, empty);
      expect(ok.headers[':status']).toBe(200);
      const len = ok.data.readUInt32BE(1);
      const res = codec.responseDeserialize(ok.data.subarray(5, 5 + len)) as workload.X509SVIDResponse__Output;
      expect(res.svids[0]!.spiffe_id).toBe(entry.spiffeId);
      // No security header: INVALID_ARGUMENT (3), trailers-only.
      const noHeader = await call(grpcHeaders, empty);
      expect(noHeader.headers['grpc-status']).toBe('3');
      expect(noHeader.headers['grpc-message']).toBe('security header missing from request');
      // Not gRPC at all.
      expect((await call({ ':method': 'GET', ':path': '/' })).headers[':status']).toBe(405);
      expect((await call({ ':method': 'POST', ':path': '/SpiffeWorkloadAPI/FetchX509SVID', 'content-type': 'text/plain' }, empty)).headers[':status']).toBe(415);
      const unknown = await call({ ...grpcHeaders, ':path': '/SpiffeWorkloadAPI/Nope', 'workload.spiffe.io': 'true' }, empty);
      expect(unknown.headers['grpc-status']).toBe('12');
    } finally {
      session.close();
    }
  });
});
