// The Workload API client against an in-process grpc-js server speaking the
// real SpiffeWorkloadAPI service: the security header, errors surfaced with
// their status, retries with backoff, and a source that gives up with the
// last error when no SVID arrives.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { serviceDefinition } from '@spire-ts/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkloadApiClient, X509Source } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'spiffe-client-'));
const socket = join(dir, 'api.sock');
const address = `unix://${socket}`;
const server = new grpc.Server();
const seen: { method: string; header: string | undefined }[] = [];

const deny = (method: string) => (call: { metadata: grpc.Metadata; emit?: unknown; destroy?: (e: Error) => void }, cb?: grpc.sendUnaryData<unknown>): void => {
  const header = call.metadata.get('workload.spiffe.io')[0] as string | undefined;
  seen.push({ method, header });
  const err = Object.assign(new Error('no identity issued'), { code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' });
  if (cb) cb(err);
  else (call as unknown as grpc.ServerWritableStream<unknown, unknown>).emit('error', err);
};

beforeAll(async () => {
  server.addService(serviceDefinition('SpiffeWorkloadAPI') as unknown as grpc.ServiceDefinition, {
    FetchX509SVID: deny('FetchX509SVID'),
    FetchX509Bundles: deny('FetchX509Bundles'),
    FetchJWTBundles: deny('FetchJWTBundles'),
    FetchJWTSVID: deny('FetchJWTSVID'),
    ValidateJWTSVID: deny('ValidateJWTSVID'),
  } as unknown as grpc.UntypedServiceImplementation);
  await new Promise<void>((resolve, reject) => server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
});

afterAll(() => {
  server.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

describe('WorkloadApiClient', () => {
  it('sends the security header and surfaces the status of a failed call', async () => {
    const client = new WorkloadApiClient({ address });
    try {
      await expect(client.fetchX509Context()).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' });
      await expect(client.fetchJwtSvids({ audience: ['a'] })).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
      await expect(client.fetchJwtSvids({ audience: [] })).rejects.toThrow('workloadapi: at least one audience is required');
      expect(seen.length).toBeGreaterThanOrEqual(2);
      expect(seen.every((s) => s.header === 'true')).toBe(true);
    } finally {
      client.close();
    }
  });

  it('retries a failing watch with backoff and reports each failure', async () => {
    const client = new WorkloadApiClient({ address, backoff: { initialMs: 50, maxMs: 200 } });
    const errors: string[] = [];
    const watch = client.watchX509Context({ onUpdate: () => undefined, onError: (e) => errors.push(e.message) });
    await new Promise((r) => setTimeout(r, 700));
    watch.close();
    const count = errors.length;
    expect(count).toBeGreaterThanOrEqual(3);
    expect(count).toBeLessThan(15);
    expect(errors[0]).toMatch(/PERMISSION_DENIED: no identity issued/);
    await new Promise((r) => setTimeout(r, 300));
    expect(errors.length).toBe(count); // closed: no more attempts
    client.close();
  });

  it('X509Source.create gives up after startTimeoutMs with the last error', async () => {
    await expect(X509Source.create({ address, backoff: { initialMs: 50 }, startTimeoutMs: 400 })).rejects.toThrow(
      `spiffe: no update from the Workload API at ${address} within 400 ms: 7 PERMISSION_DENIED: no identity issued`,
    );
  });

  it('rejects a bad address before connecting', () => {
    expect(() => new WorkloadApiClient({ address: 'tcp://localhost:1' })).toThrow('tcp URI host must be an IP address');
  });
});
