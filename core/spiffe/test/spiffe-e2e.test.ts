// @spire-ts/spiffe against a REAL spire-server and spire-agent (child
// processes, core/agent/test/e2e-harness.ts): two entries for this process's
// uid (a "server" and a "client" identity with a short X.509-SVID TTL), mTLS
// over https (keep-alive pool), undici, http2 and grpc-js through a rotation,
// JWT-SVIDs, and sources reconnecting after the agent restarts.
import * as https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  JwtSource,
  JwtSvidError,
  WorkloadApiClient,
  X509Source,
  authorizeId,
  bearerHeaders,
  connectHttp2,
  createHttp2SecureServer,
  createHttpsServer,
  grpcCallerId,
  grpcChannelCredentials,
  grpcServerCredentials,
  requestSpiffeId,
  spiffeDispatcher,
  spiffeHttpsAgent,
  withBearerAuth,
  type X509Svid,
} from '../src/index.js';
import { E2eEnv, TD } from '../../agent/test/e2e-harness.js';

const SERVER_ID = `spiffe://${TD}/server`;
const CLIENT_ID = `spiffe://${TD}/client`;
const TTL_S = 16;
const uid = process.geteuid!();
const notBuilt = E2eEnv.check();
const env = new E2eEnv({ agentSyncInterval: '1s' });
const closers: (() => unknown)[] = [];
let failed = false;
let address = '';

const pick = (id: string) => (svids: readonly X509Svid[]): X509Svid => svids.find((s) => s.id.toString() === id) ?? svids[0]!;
const serial = (s: X509Svid): string => s.certificates[0]!.serialNumber;
const backoff = { initialMs: 100, maxMs: 1000 };

async function source(id: string): Promise<X509Source> {
  const s = await X509Source.create({ address, backoff, picker: pick(id), startTimeoutMs: 20_000 });
  closers.push(() => s.close());
  return s;
}

function httpsGet(url: string, agent: https.Agent): Promise<{ body: Record<string, string>; socket: TLSSocket }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { agent }, (res: IncomingMessage) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          try {
            if (res.statusCode !== 200) throw new Error(`HTTP ${String(res.statusCode)}: ${body}`);
            resolve({ body: JSON.parse(body) as Record<string, string>, socket: res.socket as TLSSocket });
          } catch (err) {
            reject(err as Error);
          }
        });
      })
      .on('error', reject);
  });
}

const until = async (cond: () => boolean, timeoutMs: number, what: string): Promise<void> => {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe.skipIf(notBuilt !== undefined)('@spire-ts/spiffe with a real spire-server and spire-agent', () => {
  beforeAll(async () => {
    try {
      await env.startServer();
      await env.prepareAgent();
      for (const id of [SERVER_ID, CLIENT_ID]) {
        await env.serverCli('entry', 'create', '-spiffeID', id, '-parentID', `spiffe://${TD}/host`, '-selector', `unix:uid:${uid}`, '-x509SVIDTTL', String(TTL_S));
      }
      await env.startAgent();
      address = `unix://${env.agentSocket}`;
    } catch (err) {
      failed = true;
      throw new Error(`${(err as Error).message}\n${env.logs()}`);
    }
  }, 60_000);

  afterAll(async () => {
    for (const c of closers.reverse()) await c();
    if (failed || process.env.E2E_LOGS) process.stderr.write(`spiffe-e2e logs${failed ? ` (kept in ${env.dir})` : ''}:\n${env.logs()}\n`);
    await env.killAll(failed);
  }, 30_000);

  const step = (name: string, fn: () => Promise<void>, timeoutMs = 15_000): void => {
    it(name, async () => {
      try {
        await fn();
      } catch (err) {
        failed = true;
        throw err;
      }
    }, timeoutMs);
  };

  step('the client finds the agent through SPIFFE_ENDPOINT_SOCKET and fetches both SVIDs with their bundle', async () => {
    const saved = process.env.SPIFFE_ENDPOINT_SOCKET;
    process.env.SPIFFE_ENDPOINT_SOCKET = `unix:${env.agentSocket}`;
    const client = new WorkloadApiClient();
    try {
      const ctx = await client.fetchX509Context({ timeoutMs: 20_000 });
      expect(ctx.svids.map((s) => s.id.toString()).sort()).toEqual([CLIENT_ID, SERVER_ID]);
      expect(ctx.bundles.getX509Bundle(TD)!.authorities.length).toBeGreaterThan(0);
      const bundles = await client.fetchX509Bundles();
      expect(bundles.getX509Bundle(TD)!.equals(ctx.bundles.getX509Bundle(TD)!)).toBe(true);
    } finally {
      client.close();
      if (saved === undefined) delete process.env.SPIFFE_ENDPOINT_SOCKET;
      else process.env.SPIFFE_ENDPOINT_SOCKET = saved;
    }
  }, 25_000);

  step(
    'mTLS over a keep-alive pool survives an SVID rotation: old connections keep working, new ones present the new SVIDs',
    async () => {
      const serverSrc = await source(SERVER_ID);
      const clientSrc = await source(CLIENT_ID);
      const server = createHttpsServer(serverSrc, authorizeId(CLIENT_ID), (req, res) => {
        const socket = req.socket as TLSSocket;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ caller: requestSpiffeId(req, serverSrc)?.toString() ?? '', clientSerial: socket.getPeerCertificate().serialNumber, serverSerial: socket.getCertificate() && 'serialNumber' in socket.getCertificate()! ? (socket.getCertificate() as { serialNumber: string }).serialNumber : '' }));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      closers.push(() => new Promise((r) => server.close(r)));
      const url = `https://127.0.0.1:${(server.address() as { port: number }).port}/`;
      const agent = spiffeHttpsAgent(clientSrc, authorizeId(SERVER_ID), { keepAlive: true, maxSockets: 2 });
      closers.push(() => agent.destroy());
      const dispatcher = spiffeDispatcher(clientSrc, authorizeId(SERVER_ID), { keepAliveTimeout: 60_000 });
      closers.push(() => dispatcher.close());

      const first = await httpsGet(url, agent);
      expect(first.body.caller).toBe(CLIENT_ID);
      expect(first.body.clientSerial).toMatch(/^[0-9A-F]+$/);
      const oldClient = first.body.clientSerial!;
      const oldServer = first.body.serverSerial!;
      const pooled = first.socket;
      const u1 = await request(url, { dispatcher });
      expect(await u1.body.json()).toMatchObject({ caller: CLIENT_ID });

      // Keep the pool busy while both SVIDs rotate.
      let rotations = 0;
      const delivered = new Set([oldClient]);
      clientSrc.on('update', () => {
        rotations++;
        delivered.add(serial(clientSrc.getX509Svid()).toUpperCase());
      });
      const deadline = Date.now() + (TTL_S + 12) * 1000;
      while (serial(clientSrc.getX509Svid()).toUpperCase() === oldClient || serial(serverSrc.getX509Svid()).toUpperCase() === oldServer) {
        if (Date.now() > deadline) throw new Error('no rotation of both SVIDs');
        const r = await httpsGet(url, agent);
        expect(r.body.caller).toBe(CLIENT_ID);
        const u = await request(url, { dispatcher });
        expect(u.statusCode).toBe(200);
        await u.body.dump();
        await new Promise((res) => setTimeout(res, 500));
      }
      expect(rotations).toBeGreaterThan(0);

      // The long-lived pooled connection still works, still with the old identities.
      const again = await httpsGet(url, agent);
      expect(again.socket).toBe(pooled);
      expect(again.body).toMatchObject({ caller: CLIENT_ID, clientSerial: oldClient, serverSerial: oldServer });

      // A new connection presents (and sees) the rotated SVIDs, and is accepted.
      const fresh = spiffeHttpsAgent(clientSrc, authorizeId(SERVER_ID));
      closers.push(() => fresh.destroy());
      const rotated = await httpsGet(url, fresh);
      expect(rotated.body.caller).toBe(CLIENT_ID);
      // (The agent may rotate again meanwhile: the serial is one the source delivered, not the first.)
      expect(delivered.has(rotated.body.clientSerial!)).toBe(true);
      expect(rotated.body.clientSerial).not.toBe(oldClient);
      expect(rotated.body.serverSerial).not.toBe(oldServer);
      // Node's global fetch with the undici dispatcher, on a new connection.
      const fetchDispatcher = spiffeDispatcher(clientSrc, authorizeId(SERVER_ID));
      closers.push(() => fetchDispatcher.close());
      const viaFetch = await fetch(url, { dispatcher: fetchDispatcher } as unknown as RequestInit);
      const fetched = (await viaFetch.json()) as Record<string, string>;
      expect(fetched.caller).toBe(CLIENT_ID);
      expect(delivered.has(fetched.clientSerial!) && fetched.clientSerial !== oldClient).toBe(true);

      // Peers are authorised by SPIFFE ID: the client refuses a server with another ID...
      const wrongServer = spiffeHttpsAgent(clientSrc, authorizeId(`spiffe://${TD}/someone-else`));
      closers.push(() => wrongServer.destroy());
      await expect(httpsGet(url, wrongServer)).rejects.toThrow(`unexpected ID "${SERVER_ID}": expected "spiffe://${TD}/someone-else"`);
      // ...and the server refuses a client with another ID (the server identity, here).
      const rejected = new Promise<Error>((r) => server.on('tlsClientError', (e: Error) => e.message.startsWith('unexpected ID') && r(e)));
      const asServer = spiffeHttpsAgent(serverSrc, authorizeId(SERVER_ID));
      closers.push(() => asServer.destroy());
      await expect(httpsGet(url, asServer)).rejects.toThrow();
      expect((await rejected).message).toBe(`unexpected ID "${SERVER_ID}": expected "${CLIENT_ID}"`);
    },
    (TTL_S + 25) * 1000,
  );

  step('http2 and grpc-js credentials authenticate both sides by SPIFFE ID', async () => {
    const serverSrc = await source(SERVER_ID);
    const clientSrc = await source(CLIENT_ID);
    const h2 = createHttp2SecureServer(serverSrc, authorizeId(CLIENT_ID), (req, res) => res.end(requestSpiffeId(req, serverSrc)?.toString() ?? ''));
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => h2.close(r)));
    const session = connectHttp2(`https://127.0.0.1:${(h2.address() as { port: number }).port}`, clientSrc, authorizeId(SERVER_ID));
    closers.push(() => session.close());
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({ ':path': '/' });
      let b = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (b += d));
      req.on('end', () => resolve(b));
      req.on('error', reject);
    });
    expect(body).toBe(CLIENT_ID);

    const echo = {
      path: '/test.Echo/Echo',
      requestStream: false,
      responseStream: false,
      requestSerialize: (v: string) => Buffer.from(v),
      requestDeserialize: (b: Buffer) => b.toString(),
      responseSerialize: (v: string) => Buffer.from(v),
      responseDeserialize: (b: Buffer) => b.toString(),
    };
    const gserver = new grpc.Server();
    gserver.addService({ Echo: echo }, { Echo: (call: grpc.ServerUnaryCall<string, string>, cb: grpc.sendUnaryData<string>) => cb(null, `${call.request} from ${grpcCallerId(call)?.toString() ?? '?'}`) });
    const port = await new Promise<number>((resolve, reject) => gserver.bindAsync('127.0.0.1:0', grpcServerCredentials(serverSrc, authorizeId(CLIENT_ID)), (e, p) => (e ? reject(e) : resolve(p))));
    closers.push(() => gserver.forceShutdown());
    const Client = grpc.makeGenericClientConstructor({ Echo: echo }, 'Echo');
    const call = (creds: grpc.ChannelCredentials): Promise<string> => {
      const c = new Client(`127.0.0.1:${port}`, creds);
      closers.push(() => c.close());
      return new Promise((resolve, reject) => (c as unknown as { Echo: (r: string, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v?: string) => void) => void }).Echo('hi', { deadline: Date.now() + 5000 }, (e, v) => (e ? reject(e) : resolve(v!))));
    };
    expect(await call(grpcChannelCredentials(clientSrc, authorizeId(SERVER_ID)))).toBe(`hi from ${CLIENT_ID}`);
    await expect(call(grpcChannelCredentials(serverSrc, authorizeId(SERVER_ID)))).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: `unexpected ID "${SERVER_ID}": expected "${CLIENT_ID}"` });
    await expect(call(grpcChannelCredentials(clientSrc, authorizeId(CLIENT_ID)))).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  step('JWT-SVIDs: fetched for an audience, validated locally and by the agent, rejected for another audience', async () => {
    const jwt = await JwtSource.create({ address, backoff });
    closers.push(() => jwt.close());
    const svid = await jwt.fetchJwtSvid({ audience: ['aud-a'], spiffeId: CLIENT_ID });
    expect(svid.id.toString()).toBe(CLIENT_ID);
    expect(svid.audience).toEqual(['aud-a']);
    expect(jwt.validate(svid.token, 'aud-a').id.toString()).toBe(CLIENT_ID);
    expect(jwt.validate(svid.token, ['x', 'aud-a']).id.toString()).toBe(CLIENT_ID);
    expect(() => jwt.validate(svid.token, 'aud-b')).toThrow(new JwtSvidError('audience', 'token audience ["aud-a"] does not include "aud-b"'));
    const client = new WorkloadApiClient({ address });
    closers.push(() => client.close());
    expect((await client.validateJwtSvid(svid.token, 'aud-a')).id.toString()).toBe(CLIENT_ID);
    await expect(client.validateJwtSvid(svid.token, 'aud-b')).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });

    // Bearer over HTTP, with an authorizer on the caller.
    const { createServer } = await import('node:http');
    const srv = createServer(withBearerAuth(jwt, { audience: 'aud-a', authorizer: authorizeId(CLIENT_ID) }, (_req, res, caller) => res.end(caller.id.toString())));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => srv.close(r)));
    const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}/`;
    const ok = await fetch(url, { headers: await bearerHeaders(jwt, 'aud-a', CLIENT_ID) });
    expect([ok.status, await ok.text()]).toEqual([200, CLIENT_ID]);
    const wrongAud = await fetch(url, { headers: await bearerHeaders(jwt, 'aud-b', CLIENT_ID) });
    expect(wrongAud.status).toBe(401);
    expect(wrongAud.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    const wrongCaller = await fetch(url, { headers: await bearerHeaders(jwt, 'aud-a', SERVER_ID) });
    expect([wrongCaller.status, await wrongCaller.text()]).toEqual([403, `unexpected ID "${SERVER_ID}": expected "${CLIENT_ID}"\n`]);
    expect((await fetch(url)).status).toBe(401);
  });

  step(
    'sources keep their last value while the agent is down and resume after it restarts',
    async () => {
      const src = await source(CLIENT_ID);
      const jwt = await JwtSource.create({ address, backoff });
      closers.push(() => jwt.close());
      const errors: Error[] = [];
      let updates = 0;
      src.on('error', (e) => errors.push(e));
      src.on('update', () => updates++);
      await env.agent!.stop('SIGTERM');
      // Taken once the agent is gone: SVIDs here live 16 s, so one may rotate while the test runs.
      const before = src.getX509Svid();
      await until(() => errors.length > 0, 5_000, 'a stream error after the agent stopped');
      expect(src.getX509Svid().id.toString()).toBe(CLIENT_ID);
      expect(src.getX509Svid()).toBe(before);
      await env.startAgent();
      await until(() => updates > 0, 10_000, 'an update after the agent restarted');
      expect(src.getX509Svid().id.toString()).toBe(CLIENT_ID);
      const svid = await jwt.fetchJwtSvid({ audience: ['after-restart'], spiffeId: CLIENT_ID });
      expect(jwt.validate(svid.token, 'after-restart').id.toString()).toBe(CLIENT_ID);
    },
    30_000,
  );
});
