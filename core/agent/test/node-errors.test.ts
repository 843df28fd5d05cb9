// What the agent says when it cannot reach the SPIRE server: grpc-js's own
// wording ("No connection established. Last error: Error: ... Resolution
// note: ") rewritten in one place into what happened to the connection, for
// errors from a real grpc-js channel and for the strings grpc-js 1.14 is known
// to produce; server answers keep their code name and text.
import { createServer } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { memoryLogger } from '@spire-ts/common';
import { createClient } from '@spire-ts/proto';
import { ServerConnection, unaryCall } from '../src/node/connection.js';
import { ServerUnreachableError, cleanTransportDetails, describeError, lastConnectionError } from '../src/node/errors.js';
import { TD } from './node-fixtures.js';

/** A TCP port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

describe('server connection failures', () => {
  it('a refused connection reads "connection to host:port failed: connect ECONNREFUSED", from grpc-js itself and through ServerConnection', async () => {
    const port = await closedPort();
    const raw = createClient('spire.api.server.bundle.v1.Bundle', `127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const rawErr = (await unaryCall(raw.GetBundle.bind(raw), {}, 5_000).catch((e: unknown) => e)) as grpc.ServiceError;
    raw.close();
    // What grpc-js says (the test pins the shape the cleanup is for).
    expect(rawErr.code).toBe(grpc.status.UNAVAILABLE);
    expect(rawErr.details).toMatch(/^No connection established\. Last error: Error: connect ECONNREFUSED 127\.0\.0\.1:\d+\. Resolution note: $/);
    expect(describeError(rawErr)).toBe(`connection to 127.0.0.1:${port} failed: connect ECONNREFUSED`);

    const conn = new ServerConnection({ address: '127.0.0.1', port, trustDomain: TD, log: memoryLogger() });
    conn.setCredentials({ roots: undefined, rootsSource: 'test' });
    const err = await conn.with('spire.api.server.bundle.v1.Bundle', (c) => unaryCall(c.GetBundle.bind(c), {}, 5_000)).catch((e: unknown) => e);
    conn.close();
    expect(err).toBeInstanceOf(ServerUnreachableError);
    const e = err as ServerUnreachableError;
    expect(e.message).toBe(`connection to 127.0.0.1:${port} failed: connect ECONNREFUSED`);
    expect(e.details).toBe(e.message);
    expect(e.code).toBe(grpc.status.UNAVAILABLE);
    expect((e.cause as grpc.ServiceError).details).toMatch(/^No connection established\. Last error: Error: connect ECONNREFUSED/);
    expect(describeError(e)).toBe(e.message);
  });

  it.each([
    ['No connection established. Last error: Error: unable to verify the first certificate. Resolution note: ', 'connection to 10.0.0.1:8081 failed: unable to verify the first certificate'],
    ['No connection established. Last error: Error [ERR_TLS_CERT_ALTNAME_INVALID]: Hostname/IP does not match certificate\'s altnames. Resolution note: ', "connection to 10.0.0.1:8081 failed: Hostname/IP does not match certificate's altnames"],
    ['No connection established. Last error: Error: read ECONNRESET (2025-01-02T03:04:05.678Z). Resolution note: ', 'connection to 10.0.0.1:8081 failed: read ECONNRESET'],
    ['No connection established. Last error: null. Resolution note: DNS resolution failed', 'connection to 10.0.0.1:8081 failed (name resolution: DNS resolution failed)'],
    ['No connection established', 'connection to 10.0.0.1:8081 failed'],
    ['round_robin: No connection established. Last error: Error: connect EHOSTUNREACH 10.0.0.1:8081', 'connection to 10.0.0.1:8081 failed: connect EHOSTUNREACH'],
    ['No addresses resolved. Resolution note: ', 'no address resolved for 10.0.0.1:8081'],
    ['Name resolution failed for target dns:spire-server.invalid:8081', 'cannot resolve spire-server.invalid:8081'],
    ['Connection dropped', 'connection to 10.0.0.1:8081 dropped'],
    ['Deadline exceeded after 30.002s,LB pick: 0.001s,remote_addr=10.0.0.1:8081', 'no answer from 10.0.0.1:8081 within 30.002s (deadline exceeded)'],
  ])('%j reads %j', (details, clean) => {
    expect(cleanTransportDetails(details, '10.0.0.1:8081')).toBe(clean);
    const code = details.startsWith('Deadline') ? grpc.status.DEADLINE_EXCEEDED : grpc.status.UNAVAILABLE;
    const err = Object.assign(new Error(`${code} X: ${details}`), { code, details, metadata: new grpc.Metadata() });
    expect(describeError(err)).not.toMatch(/Resolution note|No connection established|Last error|\s$/);
  });

  it('the TLS failure behind a refused handshake, for the server authentication message', () => {
    expect(lastConnectionError('No connection established. Last error: Error: unable to verify the first certificate. Resolution note: ')).toBe('unable to verify the first certificate');
    expect(lastConnectionError('Connection dropped')).toBeUndefined();
  });

  it('server answers keep their code name and text', () => {
    const denied = Object.assign(new Error('7 PERMISSION_DENIED: agent is banned'), { code: grpc.status.PERMISSION_DENIED, details: 'agent is banned', metadata: new grpc.Metadata() });
    expect(describeError(denied)).toBe('PermissionDenied: agent is banned');
    const unavailable = Object.assign(new Error('14 UNAVAILABLE: datastore is down'), { code: grpc.status.UNAVAILABLE, details: 'datastore is down' });
    expect(describeError(unavailable)).toBe('Unavailable: datastore is down');
    expect(cleanTransportDetails('  entry not found ')).toBe('entry not found');
    expect(describeError(new Error('boom'))).toBe('boom');
  });
});
