// SPIRE's health_checks HTTP listener over a real socket on 127.0.0.1.
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startHealthListener, type HealthListener, type HealthListenerOptions, type HealthState } from '../src/index.js';

interface Reply {
  status: number;
  contentType: string | undefined;
  body: string;
}

function call(l: HealthListener, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: l.address.port, path, method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const UP: HealthState = { live: true, ready: true };

let listener: HealthListener | undefined;
async function start(checks: HealthListenerOptions['checks']): Promise<HealthListener> {
  listener = await startHealthListener({ bindAddress: '127.0.0.1', bindPort: 0, livePath: '/live', readyPath: '/ready', checks });
  return listener;
}

afterEach(async () => {
  await listener?.close();
  listener = undefined;
});

describe('startHealthListener', () => {
  it('binds the asked address on an ephemeral port', async () => {
    const l = await start(() => ({}));
    expect(l.address.address).toBe('127.0.0.1');
    expect(l.address.port).toBeGreaterThan(0);
  });

  it('answers 200 with each check named in JSON on both paths when all pass', async () => {
    const l = await start(() => ({ ca: UP, datastore: UP }));
    const live = await call(l, '/live');
    expect(live.status).toBe(200);
    expect(live.contentType).toBe('application/json');
    expect(JSON.parse(live.body)).toEqual({ ca: { live: true }, datastore: { live: true } });
    const ready = await call(l, '/ready');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ ca: { ready: true }, datastore: { ready: true } });
  });

  it('ignores a query string', async () => {
    const l = await start(() => ({ ca: UP }));
    expect((await call(l, '/ready?verbose=1')).status).toBe(200);
  });

  it('answers 500 naming the failing check, live and ready judged separately', async () => {
    const l = await start(async () => {
      await Promise.resolve();
      return { ca: UP, datastore: { live: true, ready: false, details: { error: 'database is locked' } } };
    });
    const ready = await call(l, '/ready');
    expect(ready.status).toBe(500);
    expect(ready.contentType).toBe('application/json');
    expect(JSON.parse(ready.body)).toEqual({ ca: { ready: true }, datastore: { ready: false, details: { error: 'database is locked' } } });
    const live = await call(l, '/live');
    expect(live.status).toBe(200);
    expect(JSON.parse(live.body)).toEqual({ ca: { live: true }, datastore: { live: true, details: { error: 'database is locked' } } });
  });

  it('answers 500 on the live path when a check is not live', async () => {
    const l = await start(() => ({ ca: { live: false, ready: false }, datastore: UP }));
    const live = await call(l, '/live');
    expect(live.status).toBe(500);
    expect(JSON.parse(live.body)).toMatchObject({ ca: { live: false }, datastore: { live: true } });
  });

  it('asks the checks on every request', async () => {
    let ready = false;
    const l = await start(() => ({ agent: { live: true, ready } }));
    expect((await call(l, '/ready')).status).toBe(500);
    ready = true;
    expect((await call(l, '/ready')).status).toBe(200);
  });

  it('answers 404 for other paths and for methods other than GET and HEAD', async () => {
    const l = await start(() => ({ ca: UP }));
    for (const path of ['/', '/liveness', '/live/', '/readyz', '/metrics']) {
      const r = await call(l, path);
      expect(r.status, path).toBe(404);
      expect(r.body, path).toBe('not found\n');
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      expect((await call(l, '/live', method)).status, method).toBe(404);
      expect((await call(l, '/ready', method)).status, method).toBe(404);
    }
    const head = await call(l, '/ready', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('answers 500 with the error when the checks function throws or rejects', async () => {
    const l = await start(() => {
      throw new Error('health state unavailable');
    });
    const r = await call(l, '/ready');
    expect(r.status).toBe(500);
    expect(r.contentType).toBe('application/json');
    expect(JSON.parse(r.body)).toEqual({ error: 'health state unavailable' });
    await listener?.close();
    const l2 = await start(() => Promise.reject(new Error('datastore gone')));
    const r2 = await call(l2, '/live');
    expect(r2.status).toBe(500);
    expect(JSON.parse(r2.body)).toEqual({ error: 'datastore gone' });
  });

  it('rejects when the address is taken', async () => {
    const l = await start(() => ({}));
    await expect(
      startHealthListener({ bindAddress: '127.0.0.1', bindPort: l.address.port, livePath: '/live', readyPath: '/ready', checks: () => ({}) }),
    ).rejects.toThrow(/EADDRINUSE/);
  });

  it('close() stops listening', async () => {
    const l = await startHealthListener({ bindAddress: '127.0.0.1', bindPort: 0, livePath: '/live', readyPath: '/ready', checks: () => ({ ca: UP }) });
    expect((await call(l, '/live')).status).toBe(200);
    await l.close();
    await expect(call(l, '/live')).rejects.toThrow(/ECONNREFUSED/);
  });
});
