/**
 * Bootstrap trust bundle sources (file, HTTP on a unix socket, formats) and
 * their error messages; the server connection's channel lifecycle.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeSpiffeBundle, memoryLogger } from '@spire-ts/common';
import { loadBootstrapBundle } from '../src/node/bootstrap.js';
import { ServerConnection } from '../src/node/connection.js';
import { NodeIdentityError, decodeDeniedReason } from '../src/node/errors.js';
import { selfSigned, tempDir } from './node-fixtures.js';

const TD = 'example.org';
const dir = tempDir();
const servers: HttpServer[] = [];

afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  rmSync(dir, { recursive: true, force: true });
});

async function ca(): Promise<{ der: Uint8Array; pem: string }> {
  return selfSigned(`spiffe://${TD}`, new Date(Date.now() - 60_000), new Date(Date.now() + 3600_000), true);
}

function file(name: string, content: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

async function rejection(p: Promise<unknown>): Promise<NodeIdentityError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(NodeIdentityError);
  return err as NodeIdentityError;
}

describe('bootstrap bundle', () => {
  it('reads PEM and SPIFFE bundle files', async () => {
    const a = await ca();
    const b = await ca();
    const pem = await loadBootstrapBundle({ kind: 'path', path: file('b.pem', a.pem + b.pem), format: 'pem' }, TD);
    expect(pem?.x509Authorities).toEqual([a.der, b.der]);
    const json = encodeSpiffeBundle({ trustDomain: TD, x509Authorities: [a.der], jwtAuthorities: [], refreshHint: 0, sequenceNumber: 3 });
    const spiffe = await loadBootstrapBundle({ kind: 'path', path: file('b.json', json), format: 'spiffe' }, TD);
    expect(spiffe?.x509Authorities).toEqual([a.der]);
    expect(spiffe?.sequenceNumber).toBe(3);
    expect(await loadBootstrapBundle({ kind: 'insecure' }, TD)).toBeUndefined();
  });

  it('names the source and the problem', async () => {
    const missing = join(dir, 'missing.pem');
    let e = await rejection(loadBootstrapBundle({ kind: 'path', path: missing, format: 'pem' }, TD));
    expect(e.code).toBe('ERR_NODE_BOOTSTRAP');
    expect(e.message).toMatch(new RegExp(`cannot load the bootstrap trust bundle from trust_bundle_path ${missing}: .*ENOENT`));
    const a = await ca();
    const json = file('j.pem', encodeSpiffeBundle({ trustDomain: TD, x509Authorities: [a.der], jwtAuthorities: [], refreshHint: 0, sequenceNumber: 0 }));
    e = await rejection(loadBootstrapBundle({ kind: 'path', path: json, format: 'pem' }, TD));
    expect(e.message).toBe(`the bootstrap trust bundle from trust_bundle_path ${json} is not a valid PEM bundle: no PEM CERTIFICATE block found (it looks like JSON: set trust_bundle_format = "spiffe")`);
    const garbage = file('g.json', '{"keys": 3}');
    e = await rejection(loadBootstrapBundle({ kind: 'path', path: garbage, format: 'spiffe' }, TD));
    expect(e.message).toMatch(new RegExp(`^the bootstrap trust bundle from trust_bundle_path ${garbage} is not a valid SPIFFE bundle: `));
    const noX509 = file('n.json', '{"keys": []}');
    e = await rejection(loadBootstrapBundle({ kind: 'path', path: noX509, format: 'spiffe' }, TD));
    expect(e.message).toMatch(/has no X.509 authorities/);
    // A CERTIFICATE block whose base64 is not a certificate is refused at load, naming the block.
    const notCert = file('nc.pem', `${a.pem}-----BEGIN CERTIFICATE-----\nZm9vYmFy\n-----END CERTIFICATE-----\n`);
    e = await rejection(loadBootstrapBundle({ kind: 'path', path: notCert, format: 'pem' }, TD));
    expect(e.message).toBe(`the bootstrap trust bundle from trust_bundle_path ${notCert} is not a valid PEM bundle: CERTIFICATE block 2 of 2 is not a DER-encoded X.509 certificate`);
    // So is an x509-svid key whose x5c is not a certificate.
    const badX5c = file('x5c.json', JSON.stringify({ keys: [{ use: 'x509-svid', kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA', x5c: ['Zm9vYmFy'] }] }));
    e = await rejection(loadBootstrapBundle({ kind: 'path', path: badX5c, format: 'spiffe' }, TD));
    expect(e.message).toMatch(new RegExp(`^the bootstrap trust bundle from trust_bundle_path ${badX5c} is not a valid SPIFFE bundle: x509-svid entry 0 x5c\\[0\\] is not a valid DER certificate`));
    e = await rejection(loadBootstrapBundle({ kind: 'url', url: 'http://example.org/bundle', unixSocket: undefined, format: 'pem' }, TD));
    expect(e.message).toBe('cannot load the bootstrap trust bundle from trust_bundle_url http://example.org/bundle: the URL must use https, not http');
    e = await rejection(loadBootstrapBundle({ kind: 'workload_api', address: 'unix:///x' }, TD));
    expect(e.message).toMatch(/not supported yet/);
  });

  it('downloads from trust_bundle_url (over trust_bundle_unix_socket) and reports HTTP errors', async () => {
    const a = await ca();
    const socket = join(dir, 'http.sock');
    const srv = createServer((req, res) => {
      if (req.url === '/bundle.pem') res.end(a.pem);
      else {
        res.statusCode = 404;
        res.end('nope');
      }
    });
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(socket, r));
    const b = await loadBootstrapBundle({ kind: 'url', url: 'http://localhost/bundle.pem', unixSocket: socket, format: 'pem' }, TD);
    expect(b?.x509Authorities).toEqual([a.der]);
    const e = await rejection(loadBootstrapBundle({ kind: 'url', url: 'http://localhost/other', unixSocket: socket, format: 'pem' }, TD));
    expect(e.message).toBe(`cannot load the bootstrap trust bundle from trust_bundle_url http://localhost/other (via unix socket ${socket}): the server answered HTTP 404 Not Found`);
  });
});

describe('ServerConnection', () => {
  it('closes a superseded channel once its calls in flight have finished, an idle one at once', async () => {
    const a = await ca();
    const conn = new ServerConnection({ address: '127.0.0.1', port: 1, trustDomain: TD, log: memoryLogger() });
    const creds = { roots: [a.der], rootsSource: 'test' };
    conn.setCredentials(creds);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let first!: grpc.Channel;
    const inflight = conn.with('spire.api.server.bundle.v1.Bundle', async (c) => {
      first = (c as unknown as grpc.Client).getChannel() as grpc.Channel;
      await gate;
      return first.getConnectivityState(false);
    });
    await Promise.resolve();
    conn.setCredentials(creds);
    expect(first.getConnectivityState(false)).not.toBe(grpc.connectivityState.SHUTDOWN);
    release();
    expect(await inflight).not.toBe(grpc.connectivityState.SHUTDOWN);
    expect(first.getConnectivityState(false)).toBe(grpc.connectivityState.SHUTDOWN);
    let second!: grpc.Channel;
    await conn.with('spire.api.server.bundle.v1.Bundle', async (c) => {
      second = (c as unknown as grpc.Client).getChannel() as grpc.Channel;
    });
    expect(second).not.toBe(first);
    conn.setCredentials(creds);
    expect(second.getConnectivityState(false)).toBe(grpc.connectivityState.SHUTDOWN);
    conn.close();
    await expect(conn.with('spire.api.server.bundle.v1.Bundle', () => Promise.resolve())).rejects.toThrow(/not open/);
  });

  it('decodes PermissionDeniedDetails reasons from grpc-status-details-bin', () => {
    // google.rpc.Status{code=7, message="x", details=[Any{type_url, value=PermissionDeniedDetails{reason=4}}]}
    const url = Buffer.from('type.googleapis.com/spire.api.types.PermissionDeniedDetails');
    const any = Buffer.concat([Buffer.from([0x0a, url.length]), url, Buffer.from([0x12, 2, 0x08, 4])]);
    const status = Buffer.concat([Buffer.from([0x08, 7, 0x12, 1, 0x78, 0x1a, any.length]), any]);
    expect(decodeDeniedReason(status)).toBe('AGENT_BANNED');
    expect(decodeDeniedReason(Buffer.from([0x08, 7]))).toBeUndefined();
    expect(decodeDeniedReason(Buffer.from([0x1a, 50, 1]))).toBeUndefined();
    // Fixed-width fields are skipped, but only within the message: one cut short makes the status unreadable.
    const fixed = (bytes: number[]) => Buffer.concat([Buffer.from(bytes), status]);
    expect(decodeDeniedReason(fixed([0x21, 1, 2, 3, 4, 5, 6, 7, 8, 0x2d, 1, 2, 3, 4]))).toBe('AGENT_BANNED');
    expect(decodeDeniedReason(Buffer.concat([status, Buffer.from([0x21, 1, 2, 3])]))).toBeUndefined();
    expect(decodeDeniedReason(Buffer.concat([status, Buffer.from([0x2d, 1])]))).toBeUndefined();
    // Field number 0 is not protobuf.
    expect(decodeDeniedReason(fixed([0x00, 1]))).toBeUndefined();
  });
});
