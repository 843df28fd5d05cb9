// `spire-agent api ...` and `healthcheck` run in-process against real
// Workload API servers on temp sockets (StaticWorkloadCache, an in-process
// `unix` attestor reading /proc for the caller's uid and gid).
import { spawn } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { createClient } from '@spire-ts/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwtUnverified, memoryLogger, pemDecode, pemEncode } from '@spire-ts/common';
import { main } from '../src/cli/commands.js';
import type { ApiIO } from '../src/cli/commands.js';
import { StaticWorkloadCache, WorkloadApiServer, WorkloadAttestation } from '../src/workload/index.js';
import { addWorkloadHealthService } from '../src/workload/health.js';
import { bundleOf, jwtMinter, makeCa, makeJwtKey, makeSvid, procAttestor, tempDir, unixEntry, type TestCa } from './workload-fixtures.js';

const TD = 'example.org';
const uid = process.geteuid!();
const gid = process.getegid!();
const log = memoryLogger();

let dir: string;
let socketPath: string;
let emptySocket: string;
let bareSocket: string;
let sickSocket: string;
let cache: StaticWorkloadCache;
let ca: TestCa;
let fedCa: TestCa;
let svidCertDer: Uint8Array;
let svidKeyDer: Uint8Array;
const servers: WorkloadApiServer[] = [];
/** While set, attestation waits for it (to make calls time out). */
let hold: Promise<void> | undefined;

const entry = unixEntry;

async function serve(c: StaticWorkloadCache, path: string, health: boolean, probePath = path): Promise<void> {
  const server = new WorkloadApiServer({
    cache: c,
    attestation: new WorkloadAttestation({ attestors: [procAttestor('unix', async () => hold)], log, timeoutMs: 10_000 }),
    trustDomain: TD,
    log,
    ...(health ? { addServices: (s) => addWorkloadHealthService(s, { socketPath: probePath, log }) } : {}),
  });
  await server.start(path);
  servers.push(server);
}

beforeAll(async () => {
  const jwtKey = await makeJwtKey();
  [ca, fedCa] = await Promise.all([makeCa(TD), makeCa('federated.test')]);
  cache = new StaticWorkloadCache({ trustDomain: TD, mintJwtSvid: jwtMinter(jwtKey) });
  cache.setBundle(bundleOf(ca, [jwtKey]));
  cache.setBundle(bundleOf(fedCa));
  const svid = await makeSvid(ca, 'spiffe://example.org/web');
  svidCertDer = svid.certChainDer[0]!;
  svidKeyDer = svid.privateKeyPkcs8Der;
  cache.setEntry(entry('web', 'spiffe://example.org/web', `uid:${uid}`, { hint: 'internal', federatesWith: ['federated.test'] }), svid);
  const empty = new StaticWorkloadCache({ trustDomain: TD });
  empty.setBundle(bundleOf(ca, [jwtKey]));
  dir = tempDir('cli-api-');
  socketPath = join(dir, 'public', 'api.sock');
  emptySocket = join(dir, 'empty', 'api.sock');
  bareSocket = join(dir, 'bare', 'api.sock');
  await serve(cache, socketPath, true);
  await serve(empty, emptySocket, true);
  await serve(empty, bareSocket, false);
  // Its health service probes a socket nobody serves.
  sickSocket = join(dir, 'sick', 'api.sock');
  await serve(empty, sickSocket, true, join(dir, 'sick', 'elsewhere.sock'));
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  out: string[];
  err: string[];
  done: Promise<number>;
}

function start(args: string[], opts: { env?: Record<string, string>; cwd?: string; signal?: AbortSignal } = {}): Run {
  const out: string[] = [];
  const err: string[] = [];
  const io: ApiIO = {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    readFile: (p) => readFileSync(p, 'utf8'),
    cwd: opts.cwd ?? dir,
    env: opts.env ?? {},
    ...(opts.signal ? { stopSignal: opts.signal } : {}),
  };
  return { out, err, done: main(args, io) };
}

async function run(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = start(args, opts);
  const code = await r.done;
  return { code, stdout: r.out.join(''), stderr: r.err.join('') };
}

/** Go's `%v` of a UTC time.Time, computed independently of the code under test. */
const goTime = (d: Date): string => d.toISOString().replace('T', ' ').replace(/\.000Z$/, ' +0000 UTC');
const validity = (label: string, pem: Uint8Array): string => {
  const c = new X509Certificate(pem);
  return `${label} Valid After:\t${goTime(new Date(c.validFrom))}\n${label} Valid Until:\t${goTime(new Date(c.validTo))}\n`;
};

describe('api fetch x509', () => {
  it('prints the SVIDs as SPIRE does', async () => {
    const r = await run(['api', 'fetch', 'x509', '-socketPath', socketPath]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const m = /^Received 1 svid after (\d+(?:\.\d+)?(?:ns|µs|ms|s))\n/.exec(r.stdout);
    expect(m).not.toBeNull();
    expect(r.stdout.slice(m![0].length)).toBe(
      '\nSPIFFE ID:\t\tspiffe://example.org/web\nHint:\t\t\tinternal\n' +
        validity('SVID', svidCertDer) +
        validity('CA #1', ca.cert.der) +
        validity('[spiffe://federated.test] CA #1', fedCa.cert.der) +
        '\n',
    );
    // `api fetch` alone is `api fetch x509`.
    const again = await run(['api', 'fetch', '-socketPath', socketPath, '-silent']);
    expect(again).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('-write writes svid.0.pem, svid.0.key (PKCS#8, 0600), bundle.0.pem and the federated bundle', async () => {
    mkdirSync(join(dir, 'out'), { recursive: true });
    const r = await run(['api', 'fetch', 'x509', '-socketPath', socketPath, '-write', 'out', '-silent']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      'Writing SVID #0 to file out/svid.0.pem.\nWriting key #0 to file out/svid.0.key.\nWriting bundle #0 to file out/bundle.0.pem.\n' +
        'Writing federated bundle #0 for trust domain spiffe://federated.test to file out/federated_bundle.0.0.pem.\n',
    );
    const file = (n: string): string => readFileSync(join(dir, 'out', n), 'utf8');
    const mode = (n: string): number => statSync(join(dir, 'out', n)).mode & 0o777;
    expect(file('svid.0.pem')).toBe(pemEncode('CERTIFICATE', svidCertDer));
    expect(file('bundle.0.pem')).toBe(pemEncode('CERTIFICATE', ca.cert.der));
    expect(file('federated_bundle.0.0.pem')).toBe(pemEncode('CERTIFICATE', fedCa.cert.der));
    expect(file('svid.0.key')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const keyDer = pemDecode(file('svid.0.key'), 'PRIVATE KEY')[0]!;
    expect(Buffer.from(keyDer).equals(Buffer.from(svidKeyDer))).toBe(true);
    expect(createPrivateKey({ key: file('svid.0.key') }).asymmetricKeyType).toBe('ec');
    expect(mode('svid.0.key')).toBe(0o600);
    expect(mode('svid.0.pem')).toBe(0o644);
    expect(mode('bundle.0.pem')).toBe(0o644);
    // A directory that does not exist is an error, exit 1.
    const bad = await run(['api', 'fetch', 'x509', '-socketPath', socketPath, '-write', 'missing/dir', '-silent']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^unable to write missing\/dir\/svid\.0\.pem: ENOENT/);
  });

  it('-output json prints the response as protojson', async () => {
    const r = await run(['api', 'fetch', 'x509', '-socketPath', socketPath, '-output', 'json']);
    expect(r.code).toBe(0);
    expect(r.stdout.endsWith('}\n')).toBe(true);
    const j = JSON.parse(r.stdout) as { svids: Record<string, string>[]; crl: string[]; federated_bundles: Record<string, string> };
    expect(Object.keys(j)).toEqual(['crl', 'federated_bundles', 'svids']);
    expect(j.crl).toEqual([]);
    expect(j.federated_bundles).toEqual({ 'spiffe://federated.test': Buffer.from(fedCa.cert.der).toString('base64') });
    expect(j.svids).toEqual([
      {
        bundle: Buffer.from(ca.cert.der).toString('base64'),
        hint: 'internal',
        spiffe_id: 'spiffe://example.org/web',
        x509_svid: Buffer.from(svidCertDer).toString('base64'),
        x509_svid_key: Buffer.from(svidKeyDer).toString('base64'),
      },
    ]);
  });

  it('fails with the RPC error: no identity, no socket, deadline', async () => {
    expect(await run(['api', 'fetch', 'x509', '-socketPath', emptySocket])).toEqual({ code: 1, stdout: '', stderr: 'rpc error: code = PermissionDenied desc = no identity issued\n' });
    const missing = join(dir, 'nothing', 'api.sock');
    const r = await run(['api', 'fetch', 'x509', '-socketPath', missing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix ${missing}: connect: no such file or directory"` +
        ` (is spire-agent running with its Workload API socket at ${missing}? set -socketPath or SPIFFE_ENDPOINT_SOCKET)\n`,
    );
    // The agent answered Unavailable: its words, without the "is spire-agent running" hint.
    const failed = Promise.reject(new Error('attestor crashed'));
    failed.catch(() => undefined);
    hold = failed;
    try {
      expect(await run(['api', 'fetch', 'x509', '-socketPath', socketPath])).toEqual({ code: 1, stdout: '', stderr: 'rpc error: code = Unavailable desc = workload attestation failed\n' });
    } finally {
      hold = undefined;
    }
    let release!: () => void;
    hold = new Promise((resolve) => (release = resolve));
    try {
      const slow = await run(['api', 'fetch', 'x509', '-socketPath', socketPath, '-timeout', '300ms']);
      expect(slow).toEqual({ code: 1, stdout: '', stderr: 'rpc error: code = DeadlineExceeded desc = context deadline exceeded\n' });
    } finally {
      hold = undefined;
      release();
    }
  });
});

describe('api fetch jwt / api validate jwt', () => {
  it('fetches a JWT-SVID for the audiences and validates it', async () => {
    const r = await run(['api', 'fetch', 'jwt', '-audience', 'db,cache', '-audience', 'queue', '-socketPath', socketPath]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const m = /^token\(spiffe:\/\/example\.org\/web\):\n\t(\S+)\nhint\(spiffe:\/\/example\.org\/web\):\n\tinternal\nbundle\(spiffe:\/\/example\.org\):\n\t(\{.*\})\nbundle\(spiffe:\/\/federated\.test\):\n\t(\{.*\})\n$/s.exec(
      r.stdout,
    );
    expect(m, r.stdout).not.toBeNull();
    const token = m![1]!;
    const claims = decodeJwtUnverified(token).claims;
    expect(claims.sub).toBe('spiffe://example.org/web');
    expect(claims.aud).toEqual(['db', 'cache', 'queue']);
    expect((JSON.parse(m![2]!) as { keys: unknown[] }).keys).toHaveLength(1);

    const v = await run(['api', 'validate', 'jwt', '-audience', 'cache', '-svid', token, '-socketPath', socketPath]);
    expect(v.stderr).toBe('');
    const sorted = Object.fromEntries(Object.entries(claims).sort(([a], [b]) => (a < b ? -1 : 1)));
    expect(v).toEqual({ code: 0, stdout: `SVID is valid.\nSPIFFE ID : spiffe://example.org/web\nClaims    : ${JSON.stringify(sorted)}\n`, stderr: '' });

    const vj = await run(['api', 'validate', 'jwt', '-audience', 'cache', '-svid', token, '-socketPath', socketPath, '-output', 'json']);
    expect(JSON.parse(vj.stdout)).toEqual({ claims, spiffe_id: 'spiffe://example.org/web' });

    const wrong = await run(['api', 'validate', 'jwt', '-audience', 'other', '-svid', token, '-socketPath', socketPath]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^SVID is not valid: .*other/);
    const junk = await run(['api', 'validate', 'jwt', '-audience', 'db', '-svid', 'not-a-jwt', '-socketPath', socketPath]);
    expect(junk.code).toBe(1);
    expect(junk.stderr).toMatch(/^SVID is not valid: /);
  });

  it('-output json prints [svids, bundles]; -spiffeID picks the identity', async () => {
    const r = await run(['api', 'fetch', 'jwt', '-audience', 'db', '-spiffeID', 'spiffe://example.org/web', '-socketPath', socketPath, '-format', 'json']);
    expect(r.code).toBe(0);
    const [svids, bundles] = JSON.parse(r.stdout) as [{ svids: { spiffe_id: string; svid: string; hint: string }[] }, { bundles: Record<string, string> }];
    expect(svids.svids.map((s) => [s.spiffe_id, s.hint])).toEqual([['spiffe://example.org/web', 'internal']]);
    expect(Object.keys(bundles.bundles)).toEqual(['spiffe://example.org', 'spiffe://federated.test']);
    const other = await run(['api', 'fetch', 'jwt', '-audience', 'db', '-spiffeID', 'spiffe://example.org/other', '-socketPath', socketPath]);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/^rpc error: code = PermissionDenied desc = /);
  });

  it('checks its flags before calling', async () => {
    expect(await run(['api', 'fetch', 'jwt', '-socketPath', socketPath])).toEqual({ code: 1, stdout: '', stderr: 'audience must be specified\n' });
    expect(await run(['api', 'validate', 'jwt', '-svid', 'x', '-socketPath', socketPath])).toEqual({ code: 1, stdout: '', stderr: 'audience must be specified\n' });
    expect(await run(['api', 'validate', 'jwt', '-audience', 'x', '-socketPath', socketPath])).toEqual({ code: 1, stdout: '', stderr: 'svid must be specified\n' });
    expect((await run(['api', 'fetch', 'jwt', '-audience', 'db', '-socketPath', emptySocket])).stderr).toBe('rpc error: code = PermissionDenied desc = no identity issued\n');
  });
});

describe('api watch', () => {
  it('prints the identities, then each update, until stopped', async () => {
    const stop = new AbortController();
    const w = start(['api', 'watch', '-socketPath', socketPath], { signal: stop.signal });
    const waitFor = async (text: string): Promise<void> => {
      for (let i = 0; i < 100 && !w.out.join('').includes(text); i++) await new Promise((r) => setTimeout(r, 50));
      expect(w.out.join('')).toContain(text);
    };
    try {
      await waitFor('Received 1 svid after');
      const db = await makeSvid(ca, 'spiffe://example.org/db');
      cache.setEntry(entry('db', 'spiffe://example.org/db', `gid:${gid}`), db);
      await waitFor('Received 2 svids after');
      const second = w.out.join('').slice(w.out.join('').indexOf('Received 2 svids'));
      expect(second).toContain('SPIFFE ID:\t\tspiffe://example.org/db\n');
      expect(second).toContain(validity('[federated.test] CA #1', fedCa.cert.der));
      expect(second).not.toContain('Hint:');
    } finally {
      cache.removeEntry('db');
      stop.abort();
    }
    expect(await w.done).toBe(0);
    expect(w.err.join('')).toBe('');
  });

  it('prints failures and retries until stopped', async () => {
    const stop = new AbortController();
    const w = start(['api', 'watch', '-socketPath', emptySocket], { signal: stop.signal });
    for (let i = 0; i < 60 && w.err.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    stop.abort();
    expect(await w.done).toBe(0);
    expect(w.err[0]).toBe('rpc error: code = PermissionDenied desc = no identity issued\n');
  });
});

describe('healthcheck', () => {
  it('is healthy when the Workload API answers, even without an identity', async () => {
    expect(await run(['healthcheck', '-socketPath', socketPath])).toEqual({ code: 0, stdout: 'Agent is healthy.\n', stderr: '' });
    expect(await run(['healthcheck', '-socketPath', emptySocket, '-verbose', '-shallow'])).toEqual({ code: 0, stdout: 'Checking agent health...\nAgent is healthy.\n', stderr: '' });
  });

  it('is unhealthy when the health service or the socket is missing', async () => {
    expect(await run(['healthcheck', '-socketPath', bareSocket])).toEqual({ code: 1, stdout: '', stderr: 'Agent is unhealthy: unable to determine health\n' });
    const v = await run(['healthcheck', '-socketPath', bareSocket, '-verbose']);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^Failed to check health: rpc error: code = Unimplemented desc = .*\nAgent is unhealthy: unable to determine health\n$/);
    expect((await run(['healthcheck', '-socketPath', join(dir, 'none.sock')])).stderr).toBe('Agent is unhealthy: unable to determine health\n');
  });

  it('is unhealthy when the Workload API does not answer the probe', async () => {
    expect(await run(['healthcheck', '-socketPath', sickSocket])).toEqual({ code: 1, stdout: '', stderr: 'Agent is unhealthy: agent returned status "NOT_SERVING"\n' });
  });

  it('the health service answers only for the whole agent', async () => {
    const client = createClient('grpc.health.v1.Health', `unix://${socketPath}`, grpc.credentials.createInsecure());
    try {
      const err = await new Promise<grpc.ServiceError | null>((resolve) => client.Check({ service: 'spire-agent' }, (e) => resolve(e)));
      expect(err).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'per-service health is not supported' });
    } finally {
      client.close();
    }
  });

  it('works from the spire-agent executable, with SPIFFE_ENDPOINT_SOCKET', async () => {
    const bin = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
    const child = spawn(process.execPath, [bin, 'healthcheck'], { env: { PATH: process.env.PATH ?? '', SPIFFE_ENDPOINT_SOCKET: `unix://${socketPath}` } });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect({ code, stdout }).toEqual({ code: 0, stdout: 'Agent is healthy.\n' });
  });
});

describe('socket selection', () => {
  const ok = async (args: string[], env: Record<string, string>, cwd?: string): Promise<void> => {
    const r = await run(['api', 'fetch', 'x509', '-silent', ...args], { env, ...(cwd ? { cwd } : {}) });
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
  };

  it('uses SPIFFE_ENDPOINT_SOCKET (unix:///path, unix:/path) when -socketPath is not given', async () => {
    await ok([], { SPIFFE_ENDPOINT_SOCKET: `unix://${socketPath}` });
    await ok([], { SPIFFE_ENDPOINT_SOCKET: `unix:${socketPath}` });
    await ok([], { SPIFFE_ENDPOINT_SOCKET: `UNIX://${socketPath.replaceAll('/api.sock', '/%61pi.sock')}` });
    // -socketPath, then SPIRE_AGENT_PUBLIC_SOCKET, win over it.
    await ok(['-socketPath', socketPath], { SPIFFE_ENDPOINT_SOCKET: 'unix:///nowhere.sock' });
    await ok([], { SPIRE_AGENT_PUBLIC_SOCKET: socketPath, SPIFFE_ENDPOINT_SOCKET: 'bogus' });
    await ok(['-instance', 'public'], { SPIRE_AGENT_PUBLIC_SOCKET_TEMPLATE: join(dir, '%i', 'api.sock') });
    // A relative -socketPath is taken from the working directory.
    await ok(['-socketPath', 'public/api.sock'], {});
    const j = await run(['healthcheck'], { env: { SPIFFE_ENDPOINT_SOCKET: `unix://${socketPath}` } });
    expect(j.stdout).toBe('Agent is healthy.\n');
  });

  it('refuses bad SPIFFE_ENDPOINT_SOCKET values with go-spiffe reasons', async () => {
    const cases: [string, string][] = [
      ['unix:api.sock', 'workload endpoint unix socket URI must not be opaque'],
      ['/tmp/api.sock', 'workload endpoint socket URI must have a "tcp" or "unix" scheme'],
      ['http://x/y', 'workload endpoint socket URI must have a "tcp" or "unix" scheme'],
      ['unix://', 'workload endpoint unix socket URI must include a path'],
      ['unix:', 'workload endpoint unix socket URI must include a path'],
      ['unix:///a.sock?x=1', 'workload endpoint unix socket URI must not include query values'],
      ['unix:///a.sock#frag', 'workload endpoint unix socket URI must not include a fragment'],
      ['unix://user@/a.sock', 'workload endpoint unix socket URI must not include user info'],
      ['unix://host/a.sock', 'workload endpoint unix socket URI must not include a host (got "host"; use unix:///path)'],
      ['tcp://127.0.0.1:8000', 'workload endpoint tcp sockets are not supported here: spire-agent serves the Workload API on a Unix socket (use unix:///path)'],
    ];
    for (const [value, reason] of cases) {
      const r = await run(['api', 'fetch', 'x509'], { env: { SPIFFE_ENDPOINT_SOCKET: value } });
      expect(r, value).toEqual({ code: 1, stdout: '', stderr: `invalid SPIFFE_ENDPOINT_SOCKET ${JSON.stringify(value)}: ${reason}\n` });
    }
  });

  it('checks -instance against the template', async () => {
    expect((await run(['api', 'watch', '-instance', 'a'])).stderr).toBe('SPIRE_AGENT_PUBLIC_SOCKET_TEMPLATE environment variable must be defined when using the instance flag\n');
    expect((await run(['healthcheck', '-instance', 'a'], { env: { SPIRE_AGENT_PUBLIC_SOCKET_TEMPLATE: '/run/a.sock' } })).stderr).toBe(
      'failed to find %i in SPIRE_AGENT_PUBLIC_SOCKET_TEMPLATE\n',
    );
  });
});

describe('flags and dispatch', () => {
  it('prints help, refuses unknown flags, bad values and unknown subcommands', async () => {
    const h = await run(['api', 'fetch', 'x509', '-h']);
    expect(h.code).toBe(0);
    expect(h.stderr).toContain('Usage of fetch x509:\n');
    expect(h.stderr).toContain('  -socketPath string\n    \tPath to the SPIRE Agent API Unix domain socket (default "/tmp/spire-agent/public/api.sock")\n');
    expect(h.stderr).toContain('  -timeout value\n    \tTime to wait for a response (default 5s)\n');
    const bad = await run(['api', 'fetch', 'x509', '-silnet']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^flag provided but not defined: -silnet \(did you mean -silent\?\)\nUsage of fetch x509:/);
    expect((await run(['api', 'fetch', 'jwt', '-audience', 'a', '-timeout', '5'])).stderr).toMatch(/^invalid value "5" for flag -timeout: /);
    expect((await run(['api', 'fetch', 'x509', '-output', 'yaml'])).stderr).toMatch(/^invalid value "yaml" for flag -output: /);
    expect((await run(['api', 'watch', '-output', 'json'])).stderr).toMatch(/^flag provided but not defined: -output/);
    const none = await run(['api']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^spire-agent api: a subcommand is required\n\nUsage: spire-agent api <subcommand> \[options\]\n/);
    expect((await run(['api', 'validate', 'x509'])).stderr).toMatch(/^spire-agent api: unknown subcommand "validate x509"/);
  });
});
