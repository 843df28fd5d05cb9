import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CgroupMatchers,
  EngineClient,
  EngineError,
  FALLBACK_API_VERSION,
  MAX_RESPONSE_BYTES,
  checkPodmanTemplate,
  parseContainerInspect,
  parseEngineAddress,
} from '../src/index.js';
import { CID, startFakeDockerEngine, tempDir, type FakeDockerEngine } from './helpers.js';

const dir = tempDir('wa-docker-engine-');
let engine: FakeDockerEngine;
const sig = () => AbortSignal.timeout(5000);
const client = (pinned?: string, path = engine.socketPath) => new EngineClient(`unix://${path}`, { kind: 'unix', socketPath: path }, pinned);

beforeAll(async () => {
  engine = await startFakeDockerEngine({ socketPath: join(dir, 'docker.sock'), apiVersion: '1.45', minApiVersion: '1.24' });
  engine.addContainer({ id: CID, image: 'ghcr.io/acme/api:2.1', labels: { 'com.acme.tier': 'web' }, env: ['A=1', 'B=two=2'] });
});
afterAll(() => engine.close());

describe('EngineClient against the fake engine', () => {
  it('negotiates the version from /_ping once, then inspects', async () => {
    const c = client();
    const before = engine.requests.length;
    const got = await c.inspectContainer(CID, sig());
    expect(got.config).toEqual({ image: 'ghcr.io/acme/api:2.1', labels: { 'com.acme.tier': 'web' }, env: ['A=1', 'B=two=2'] });
    expect(got.id).toBe(CID);
    expect(got.image).toMatch(/^sha256:[0-9a-f]{64}$/);
    await c.inspectContainer(CID, sig());
    expect(engine.requests.slice(before)).toEqual([
      { method: 'GET', path: '/_ping' },
      { method: 'GET', path: `/v1.45/containers/${CID}/json` },
      { method: 'GET', path: `/v1.45/containers/${CID}/json` },
    ]);
    expect(c.apiVersion).toBe('1.45');
  });
  it('inspects an image whose name has slashes and a tag', async () => {
    const c = client('1.41');
    expect(await c.inspectImageId('ghcr.io/acme/api:2.1', sig())).toMatch(/^sha256:/);
    expect(engine.requests.at(-1)!.path).toBe('/v1.41/images/ghcr.io/acme/api%3A2.1/json');
  });
  it('uses a pinned version without pinging, and reports dockerd refusing it', async () => {
    const before = engine.requests.length;
    const err = await client('1.99').inspectContainer(CID, sig()).catch((e: unknown) => e);
    expect(engine.requests.slice(before)).toEqual([{ method: 'GET', path: `/v1.99/containers/${CID}/json` }]);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).message).toContain('HTTP 400: client version 1.99 is too new. Maximum supported API version is 1.45');
    expect((err as EngineError).transient).toBe(false);
  });
  it('reports a missing container with the engine message', async () => {
    const err = (await client().inspectContainer('f'.repeat(64), sig()).catch((e: unknown) => e)) as EngineError;
    expect(err.status).toBe(404);
    expect(err.message).toBe(`container "${'f'.repeat(64)}" not found by the docker engine at unix://${engine.socketPath}: No such container: ${'f'.repeat(64)}`);
  });
  it('caps the answer size', async () => {
    engine.setHugeResponseBytes(MAX_RESPONSE_BYTES + 1);
    try {
      const err = (await client('1.45').inspectContainer(CID, sig()).catch((e: unknown) => e)) as EngineError;
      expect(err.kind).toBe('too-large');
      expect(err.message).toContain(`${MAX_RESPONSE_BYTES + 1} bytes, over the ${MAX_RESPONSE_BYTES}-byte limit`);
      engine.setHugeResponseBytes(MAX_RESPONSE_BYTES - 10);
      expect((await client('1.45').inspectContainer(CID, sig())).id).toBe(CID);
    } finally {
      engine.setHugeResponseBytes(0);
    }
  });
  it('gives up at the deadline', async () => {
    engine.setDelayMs(2000);
    try {
      const t0 = Date.now();
      const err = (await client('1.45').inspectContainer(CID, AbortSignal.timeout(200)).catch((e: unknown) => e)) as EngineError;
      expect(err.kind).toBe('timeout');
      expect(err.transient).toBe(true);
      expect(Date.now() - t0).toBeLessThan(1500);
    } finally {
      engine.setDelayMs(0);
    }
  });
  it('reports an unreachable engine naming its address', async () => {
    const err = (await client(undefined, join(dir, 'nobody.sock')).inspectContainer(CID, sig()).catch((e: unknown) => e)) as EngineError;
    expect(err.kind).toBe('unreachable');
    expect(err.message).toContain(`docker engine at unix://${join(dir, 'nobody.sock')} is unreachable: connect ENOENT`);
  });
});

describe('an engine answering oddly', () => {
  let server: Server;
  let answer: (path: string) => { status: number; headers?: Record<string, string>; body: string };
  const sock = join(dir, 'odd.sock');
  beforeAll(async () => {
    server = createServer((req, res) => {
      const a = answer(req.url ?? '/');
      res.writeHead(a.status, a.headers ?? {});
      res.end(a.body);
    });
    await new Promise<void>((r) => server.listen(sock, r));
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('falls back to API 1.24 when /_ping names no version, and caps a newer one at ours', async () => {
    answer = (p) => (p === '/_ping' ? { status: 200, body: 'OK' } : { status: 200, body: JSON.stringify({ Id: CID, Config: { Image: 'x', Labels: null, Env: null } }) });
    const c = client(undefined, sock);
    expect((await c.inspectContainer(CID, sig())).config).toEqual({ image: 'x', labels: {}, env: [] });
    expect(c.apiVersion).toBe(FALLBACK_API_VERSION);
    answer = (p) => (p === '/_ping' ? { status: 200, headers: { 'API-Version': '1.99' }, body: 'OK' } : { status: 200, body: '{}' });
    const c2 = client(undefined, sock);
    await c2.inspectContainer(CID, sig());
    expect(c2.apiVersion).toBe('1.47');
  });
  it('refuses malformed inspect answers', async () => {
    answer = () => ({ status: 200, body: 'not json' });
    await expect(client('1.45', sock).inspectContainer(CID, sig())).rejects.toThrow(/not JSON/);
    answer = () => ({ status: 200, body: JSON.stringify({ Config: { Labels: { a: 1 } } }) });
    await expect(client('1.45', sock).inspectContainer(CID, sig())).rejects.toThrow('label "a" is not a string');
    answer = () => ({ status: 200, body: JSON.stringify({ Config: { Env: 'A=1' } }) });
    await expect(client('1.45', sock).inspectContainer(CID, sig())).rejects.toThrow('Config.Env is not a list of strings');
  });
  it('marks 5xx as transient', async () => {
    answer = () => ({ status: 500, body: JSON.stringify({ message: 'daemon is shutting down' }) });
    const err = (await client('1.45', sock).inspectContainer(CID, sig()).catch((e: unknown) => e)) as EngineError;
    expect(err.transient).toBe(true);
    expect(err.message).toContain('HTTP 500: daemon is shutting down');
  });
});

describe('parsers', () => {
  it('parses engine addresses', () => {
    expect(parseEngineAddress('unix:///var/run/docker.sock')).toEqual({ kind: 'unix', socketPath: '/var/run/docker.sock' });
    expect(parseEngineAddress('tcp://127.0.0.1:2375')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 2375 });
    expect(() => parseEngineAddress('/var/run/docker.sock')).toThrow(/unsupported scheme/);
    expect(() => parseEngineAddress('unix://relative.sock')).toThrow(/must be absolute/);
    expect(() => parseEngineAddress('tcp://host')).toThrow(/not a valid tcp/);
  });
  it('checks podman templates', () => {
    expect(checkPodmanTemplate('unix:///run/user/%d/podman/podman.sock')).toBeUndefined();
    expect(checkPodmanTemplate('unix:///x/%%/%d.sock')).toBeUndefined();
    expect(checkPodmanTemplate('unix:///x.sock')).toMatch(/exactly one %d/);
    expect(checkPodmanTemplate('unix:///%d/%d')).toMatch(/exactly one %d/);
    expect(checkPodmanTemplate('unix:///%s/%d')).toMatch(/only supports/);
    expect(checkPodmanTemplate('unix:///%d%')).toMatch(/trailing %/);
  });
  it('parses inspect documents with missing optional parts', () => {
    expect(parseContainerInspect(Buffer.from('{"Id":"x"}'))).toEqual({ id: 'x', image: '', config: { image: '', labels: {}, env: [] } });
    expect(() => parseContainerInspect(Buffer.from('[]'))).toThrow(/not a JSON object/);
  });
  it('implements the legacy cgroup matchers', () => {
    const m = new CgroupMatchers(['/docker/<id>', '/my.slice/*/<id>/*']);
    expect(m.find(`/docker/${CID}`)).toBe(CID);
    expect(m.find(`/my.slice/a/${CID}/b`)).toBe(CID);
    expect(m.find(`/my.slice/a/${CID}`)).toBeUndefined();
    expect(m.find(`/dockerX/${CID}`)).toBeUndefined();
    expect(() => new CgroupMatchers(['/a/b/<id>', '/*/b/<id>'])).toThrow(/must not be ambiguous: "\/a\/b\/<id>", "\/\*\/b\/<id>"/);
    expect(() => new CgroupMatchers(['/docker/*'])).toThrow(/exactly once/);
    expect(() => new CgroupMatchers([])).toThrow(/at least 1 pattern/);
  });
});
