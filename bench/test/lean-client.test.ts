import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceDefinition } from '@spire-ts/proto';
import { LeanConnection, LeanMethod, LeanRpcError } from '../src/lean-client.js';

// A stock grpc-js server stands for the agent: if the lean client is wrong about gRPC over HTTP/2, it disagrees.
const dir = mkdtempSync(join(tmpdir(), 'lean-client-'));
const sock = join(dir, 'api.sock');
const server = new grpc.Server();
const seen = { header: '', cancelled: 0 };
const BIG = 'x'.repeat(100_000);

beforeAll(async () => {
  server.addService(serviceDefinition('SpiffeWorkloadAPI') as unknown as grpc.ServiceDefinition, {
    FetchJWTSVID(call: grpc.ServerUnaryCall<{ audience: string[] }, unknown>, cb: grpc.sendUnaryData<unknown>) {
      seen.header = String(call.metadata.get('workload.spiffe.io')[0] ?? '');
      const aud = call.request.audience[0] ?? '';
      if (aud === 'deny') return cb({ code: grpc.status.PERMISSION_DENIED, details: 'no identity issued: 100% sûr' });
      // A long hint makes the response span several DATA frames.
      const hint = aud === 'big' ? BIG : '';
      cb(null, { svids: [{ spiffe_id: 'spiffe://example.org/w', svid: `a.${aud}.c`, hint }] });
    },
    FetchX509SVID(call: grpc.ServerWritableStream<unknown, unknown>) {
      let n = 0;
      const send = (): void => {
        call.write({ svids: Array.from({ length: ++n }, (_, i) => ({ spiffe_id: `spiffe://example.org/w/${i}`, x509_svid: Buffer.from([1, 2, 3]) })) });
      };
      send();
      const timer = setInterval(send, 20);
      call.on('cancelled', () => {
        seen.cancelled++;
        clearInterval(timer);
      });
    },
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${sock}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
});

afterAll(() => {
  server.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

const header = { 'workload.spiffe.io': 'true' };
const jwt = new LeanMethod('SpiffeWorkloadAPI', 'FetchJWTSVID', header);
const x509 = new LeanMethod('SpiffeWorkloadAPI', 'FetchX509SVID', header);

describe('LeanConnection', () => {
  it('makes unary calls with fixed metadata, many at once on one connection', async () => {
    const c = await LeanConnection.unix(sock);
    try {
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => c.unary(jwt, jwt.frame({ audience: [`aud${i}`], spiffe_id: '' }))));
      answers.forEach((msg, i) => expect(jwt.decode<{ svids: { svid: string }[] }>(msg).svids[0]!.svid).toBe(`a.aud${i}.c`));
      expect(seen.header).toBe('true');
    } finally {
      c.close();
    }
  });

  it('reassembles a message spread over several DATA frames', async () => {
    const c = await LeanConnection.unix(sock);
    try {
      const msg = await c.unary(jwt, jwt.frame({ audience: ['big'], spiffe_id: '' }));
      expect(jwt.decode<{ svids: { hint: string }[] }>(msg).svids[0]!.hint).toBe(BIG);
    } finally {
      c.close();
    }
  });

  it("fails with the server's status and decoded message", async () => {
    const c = await LeanConnection.unix(sock);
    try {
      const err = await c.unary(jwt, jwt.frame({ audience: ['deny'], spiffe_id: '' })).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(LeanRpcError);
      expect((err as LeanRpcError).code).toBe(grpc.status.PERMISSION_DENIED);
      expect((err as LeanRpcError).details).toBe('no identity issued: 100% sûr');
    } finally {
      c.close();
    }
  });

  it('delivers each streamed message, and a cancel resets the stream on the server', async () => {
    const c = await LeanConnection.unix(sock);
    try {
      const before = seen.cancelled;
      const counts: number[] = [];
      let ended = false;
      await new Promise<void>((resolve) => {
        const call = c.call(x509, x509.frame({}), {
          message(msg, at) {
            expect(at).toBeLessThanOrEqual(performance.now());
            counts.push(x509.decode<{ svids: unknown[] }>(msg).svids.length);
            if (counts.length === 3) {
              call.cancel();
              resolve();
            }
          },
          end: () => (ended = true),
        });
      });
      expect(counts).toEqual([1, 2, 3]);
      for (let i = 0; i < 50 && seen.cancelled === before; i++) await new Promise((r) => setTimeout(r, 10));
      expect(seen.cancelled).toBe(before + 1);
      expect(ended).toBe(false);
      // The connection carries on after the reset.
      expect(jwt.decode<{ svids: { svid: string }[] }>(await c.unary(jwt, jwt.frame({ audience: ['after'], spiffe_id: '' }))).svids[0]!.svid).toBe('a.after.c');
    } finally {
      c.close();
    }
  });

  it('fails calls on a closed connection with UNAVAILABLE', async () => {
    const c = await LeanConnection.unix(sock);
    c.close();
    const err = await c.unary(jwt, jwt.frame({ audience: ['x'], spiffe_id: '' })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as LeanRpcError).code).toBe(grpc.status.UNAVAILABLE);
  });
});
