// FetchJWTSVID when the JWT-SVID cannot be had: the caller gets UNAVAILABLE
// with SPIRE's "could not fetch JWT-SVID: <error>" as grpc-message, also when
// the error's text ends in a blank (as grpc-js's own did: "... Resolution
// note: "), which Node's HTTP/2 client drops from a header, leaving a bare
// status code.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { memoryLogger } from '@spire-ts/common';
import { StaticWorkloadCache, WorkloadApiServer, type WorkloadAttestation } from '../src/workload/index.js';
import { fetchJwtSvid, header, tempDir, unixEntry, workloadClient, type WorkloadClient } from './workload-fixtures.js';

const TD = 'example.org';
const UID = 'uid:4343';
let failure = '';
const dir = tempDir('wl-jwt-err-');
const log = memoryLogger();
let server: WorkloadApiServer;
let client: WorkloadClient;

beforeAll(async () => {
  const cache = new StaticWorkloadCache({ trustDomain: TD, mintJwtSvid: () => Promise.reject(new Error(failure)) });
  cache.setEntry(unixEntry('e1', `spiffe://${TD}/w`, UID));
  const attestation = { attest: () => Promise.resolve([{ type: 'unix', value: UID }]) } as unknown as WorkloadAttestation;
  server = new WorkloadApiServer({ cache, attestation, trustDomain: TD, log });
  await server.start(join(dir, 'api.sock'));
  client = workloadClient(join(dir, 'api.sock'));
});

afterAll(async () => {
  client?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

it.each([
  ['connection to 127.0.0.1:8081 failed: connect ECONNREFUSED', 'connection to 127.0.0.1:8081 failed: connect ECONNREFUSED'],
  ['Unavailable: something. Resolution note: ', 'Unavailable: something. Resolution note:'],
  [' leading and trailing blanks \t', 'leading and trailing blanks'],
])('an error %j reaches the caller as "could not fetch JWT-SVID: %s"', async (error, said) => {
  failure = error;
  const err = (await fetchJwtSvid(client, { audience: ['a'] }, header()).catch((e: unknown) => e)) as grpc.ServiceError;
  expect(err.code).toBe(grpc.status.UNAVAILABLE);
  expect(err.details).toBe(`could not fetch JWT-SVID: ${said}`);
  expect(log.lines.at(-1)).toMatchObject({ level: 'error', msg: 'Could not fetch JWT-SVID', fields: { error: said } });
});
