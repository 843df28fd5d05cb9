// Two real spire-servers (`run` in-process, SQL DataStore and disk KeyManager
// plugins as child processes), trust domains a.test and b.test, federating
// with each other through their https_spiffe bundle endpoints: a.test by its
// configuration file, b.test through `federation create` (TrustDomain API).
// After a `bundle set` bootstrap each holds the other's full bundle; a CA
// rotation on a.test reaches b.test by periodic refresh; the TrustDomain API
// over TLS admits admins only.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@spire-ts/proto';
import { main } from '@spire-ts/server';
import { freePort, newKeyAndCsr, pemChain, runServerInProcess, unary, type ClientIdentity } from './server-harness.js';

interface Server {
  td: string;
  dir: string;
  port: number;
  bePort: number;
  sock: string;
  output: () => string;
  stop(): Promise<number>;
}

function config(o: { td: string; dir: string; port: number; bePort: number; caTtl: string; federatesWith: string }): string {
  return `server {
  bind_address = "127.0.0.1"
  bind_port = ${o.port}
  socket_path = "${join(o.dir, 'api.sock')}"
  trust_domain = "${o.td}"
  data_dir = "${join(o.dir, 'data')}"
  log_level = "DEBUG"
  ca_ttl = "${o.caTtl}"
  default_x509_svid_ttl = "5s"
  admin_ids = ["spiffe://${o.td}/admin"]
  federation {
    bundle_endpoint {
      address = "127.0.0.1"
      port = ${o.bePort}
      refresh_hint = "1m"
      profile "https_spiffe" {}
    }
${o.federatesWith}
  }
}
plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = "${join(o.dir, 'datastore.sqlite3')}"
    }
  }
  KeyManager "disk" {
    plugin_data {
      keys_path = "${join(o.dir, 'keys.json')}"
    }
  }
}
`;
}

async function start(td: string, caTtl: string, federatesWith: (ports: { port: number; bePort: number }) => string, ports: { port: number; bePort: number }): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), `federation-e2e-${td}-`));
  const configPath = join(dir, 'server.conf');
  writeFileSync(configPath, config({ td, dir, ...ports, caTtl, federatesWith: federatesWith(ports) }));
  const run = await runServerInProcess(configPath, dir, `spire-server ${td}`);
  return {
    td, dir, ...ports, sock: join(dir, 'api.sock'), output: run.output,
    stop: async () => {
      const code = await run.stop();
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

/** `spire-server <group> <sub> -socketPath <s.sock> <flags>`. */
async function cli(s: Server, args: string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main([...args.slice(0, 2), '-socketPath', s.sock, ...args.slice(2)], {
    stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t),
    readFile: (p) => readFileSync(p, 'utf8'), readStdin: () => stdin, cwd: s.dir, env: {},
  } as Parameters<typeof main>[1]);
  return { code, stdout, stderr };
}

const clients: grpc.Client[] = [];
function local<N extends Parameters<typeof createClient>[0]>(s: Server, name: N) {
  const c = createClient(name, `unix://${s.sock}`, grpc.credentials.createInsecure());
  clients.push(c as unknown as grpc.Client);
  return c;
}

const b64 = (d: Uint8Array | Buffer): string => Buffer.from(d).toString('base64');

async function ownRoots(s: Server): Promise<string[]> {
  const c = local(s, 'spire.api.server.bundle.v1.Bundle');
  const b = await unary(c.GetBundle.bind(c), {});
  return b.x509_authorities.map((a) => b64(a.asn1));
}

async function federated(s: Server, td: string): Promise<{ roots: string[]; jwtKeys: string[]; refreshHint: number } | undefined> {
  const c = local(s, 'spire.api.server.bundle.v1.Bundle');
  try {
    const b = await unary(c.GetFederatedBundle.bind(c), { trust_domain: td });
    return { roots: b.x509_authorities.map((a) => b64(a.asn1)), jwtKeys: b.jwt_authorities.map((k) => k.key_id), refreshHint: Number(b.refresh_hint) };
  } catch {
    return undefined;
  }
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

let a: Server;
let b: Server;

beforeAll(async () => {
  const [pa, pb, ea, eb] = [await freePort(), await freePort(), await freePort(), await freePort()];
  // a.test: a short-lived CA (rotates within the test) and b.test in its configuration.
  a = await start('a.test', '40s', () => `    federates_with "b.test" {
      bundle_endpoint_url = "https://127.0.0.1:${eb}"
      bundle_endpoint_profile "https_spiffe" {
        endpoint_spiffe_id = "spiffe://b.test/spire/server"
      }
    }`, { port: pa, bePort: ea });
  b = await start('b.test', '24h', () => '', { port: pb, bePort: eb });
}, 90_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([a?.stop(), b?.stop()]);
});

describe('federation between two spire-servers', () => {
  it('bootstraps with bundle set, then each holds the full bundle of the other from its endpoint', async () => {
    // Without bootstrap, a.test cannot authenticate b.test's endpoint.
    const early = await cli(a, ['federation', 'refresh', '-id', 'b.test']);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/failed to refresh bundle: .*local copy of bundle for "b\.test" not found/);

    // Bootstrap: exchange the CA certificates (PEM), as an operator would.
    for (const [from, to] of [[a, b], [b, a]] as const) {
      const shown = await cli(from, ['bundle', 'show']);
      expect(shown.code).toBe(0);
      writeFileSync(join(to.dir, 'peer.pem'), shown.stdout);
      expect(await cli(to, ['bundle', 'set', '-id', `spiffe://${from.td}`, '-path', 'peer.pem'])).toMatchObject({ code: 0, stdout: 'bundle set.\n' });
    }
    expect((await federated(b, 'a.test'))?.jwtKeys).toEqual([]);

    // b.test federates with a.test dynamically.
    const created = await cli(b, [
      'federation', 'create', '-trustDomain', 'a.test', '-bundleEndpointURL', `https://127.0.0.1:${a.bePort}`,
      '-bundleEndpointProfile', 'https_spiffe', '-endpointSpiffeID', 'spiffe://a.test/spire/server',
    ]);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(created.stdout).toBe(
      `\nTrust domain              : a.test\nBundle endpoint URL       : https://127.0.0.1:${a.bePort}\nBundle endpoint profile   : https_spiffe\nEndpoint SPIFFE ID        : spiffe://a.test/spire/server\n`,
    );
    expect(await cli(b, ['federation', 'refresh', '-id', 'a.test'])).toMatchObject({ code: 0, stdout: 'Bundle refreshed\n' });
    // a.test's relationship comes from its configuration.
    expect(await cli(a, ['federation', 'refresh', '-id', 'b.test'])).toMatchObject({ code: 0, stdout: 'Bundle refreshed\n' });

    for (const [holder, peer] of [[b, a], [a, b]] as const) {
      const got = await federated(holder, peer.td);
      expect(got?.refreshHint).toBe(60);
      expect(got?.jwtKeys.length).toBeGreaterThan(0);
      expect(got?.roots).toEqual(await ownRoots(peer));
      const listed = await cli(holder, ['bundle', 'list', '-format', 'spiffe']);
      expect(listed.stdout).toContain(`* ${peer.td}\n`);
      expect(listed.stdout).toContain('"spiffe_refresh_hint": 60');
    }
    expect(b.output()).toMatch(/Bundle refreshed.*trust_domain=a\.test/);

    expect((await cli(b, ['federation', 'list'])).stdout).toBe(
      `Found 1 federation relationship\n\nTrust domain              : a.test\nBundle endpoint URL       : https://127.0.0.1:${a.bePort}\nBundle endpoint profile   : https_spiffe\nEndpoint SPIFFE ID        : spiffe://a.test/spire/server\n`,
    );
    expect((await cli(a, ['federation', 'list'])).stdout).toBe('Found 0 federation relationships\n');
    const shown = await cli(b, ['federation', 'show', '-trustDomain', 'a.test']);
    expect(shown.stdout.startsWith('Found a federation relationship with trust domain a.test:\n\nTrust domain              : a.test\n')).toBe(true);
    const json = JSON.parse((await cli(b, ['federation', 'show', '-trustDomain', 'a.test', '-output', 'json'])).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ trust_domain: 'a.test', https_spiffe: { endpoint_spiffe_id: 'spiffe://a.test/spire/server' } });
  }, 60_000);

  it('a CA rotation on a.test reaches b.test by periodic refresh', async () => {
    const before = await ownRoots(a);
    const rotated = await until('a.test to prepare a new CA', async () => {
      const roots = await ownRoots(a);
      return roots.length > before.length || roots.some((r) => !before.includes(r)) ? roots : undefined;
    }, 45_000);
    await until('b.test to hold a.test\'s new CA', async () => {
      const got = await federated(b, 'a.test');
      return got !== undefined && rotated.every((r) => got.roots.includes(r));
    }, 40_000);
  }, 100_000);

  it('serves the TrustDomain API over TLS to admins only', async () => {
    const roots = await ownRoots(b);
    const rootsPem = pemChain(roots.map((r) => new Uint8Array(Buffer.from(r, 'base64'))));
    const mint = async (path: string): Promise<ClientIdentity> => {
      const svid = local(b, 'spire.api.server.svid.v1.SVID');
      const { keyPem, csrDer } = newKeyAndCsr(`spiffe://b.test${path}`);
      const res = await unary(svid.MintX509SVID.bind(svid), { csr: csrDer, ttl: 600 });
      return { keyPem, certChainPem: pemChain(res.svid!.cert_chain.map((c) => new Uint8Array(c))) };
    };
    const tls = (id: ClientIdentity) => {
      const creds = grpc.credentials.createSsl(Buffer.from(rootsPem), Buffer.from(id.keyPem), Buffer.from(id.certChainPem), {
        checkServerIdentity: (_host, cert) => ((cert.subjectaltname ?? '').includes('URI:spiffe://b.test/spire/server') ? undefined : new Error('unexpected server')),
      });
      const c = createClient('spire.api.server.trustdomain.v1.TrustDomain', `127.0.0.1:${b.port}`, creds, { 'grpc.ssl_target_name_override': 'spire-server' });
      clients.push(c as unknown as grpc.Client);
      return c;
    };
    const admin = tls(await mint('/admin'));
    const list = await unary(admin.ListFederationRelationships.bind(admin), {});
    expect(list.federation_relationships.map((f) => f.trust_domain)).toEqual(['a.test']);
    const workload = tls(await mint('/workload'));
    await expect(unary(workload.ListFederationRelationships.bind(workload), {})).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    await expect(unary(workload.RefreshBundle.bind(workload), { trust_domain: 'a.test' })).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
  }, 30_000);

  it('creates from -data with per-item failures on stderr, and updates', async () => {
    const data = JSON.stringify({
      federationRelationships: [
        { trustDomain: 'b.test', bundleEndpointURL: 'https://127.0.0.1:1', bundleEndpointProfile: 'https_web' },
        { trustDomain: 'c.test', bundleEndpointURL: 'https://c.test/bundle', bundleEndpointProfile: 'https_web' },
      ],
    });
    const r = await cli(b, ['federation', 'create', '-data', '-'], data);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('\nTrust domain              : c.test\nBundle endpoint URL       : https://c.test/bundle\nBundle endpoint profile   : https_web\n');
    expect(r.stderr).toBe(
      '\nFailed to create the following federation relationship (code: InvalidArgument, msg: "unable to create federation relationship for server trust domain"):\n' +
        'Trust domain              : b.test\nBundle endpoint URL       : https://127.0.0.1:1\nBundle endpoint profile   : https_web\n' +
        'Error: failed to create one or more federation relationships\n',
    );
    const u = await cli(b, ['federation', 'update', '-trustDomain', 'c.test', '-bundleEndpointURL', 'https://c.test/v2', '-bundleEndpointProfile', 'https_web']);
    expect(u).toMatchObject({ code: 0, stdout: '\nTrust domain              : c.test\nBundle endpoint URL       : https://c.test/v2\nBundle endpoint profile   : https_web\n' });
    expect(await cli(b, ['federation', 'delete', '-id', 'c.test'])).toMatchObject({ code: 0, stdout: 'federation relationship deleted.\n' });
    const again = await cli(b, ['federation', 'delete', '-id', 'c.test']);
    expect(again).toMatchObject({ code: 1, stderr: 'Error: failed to delete federation relationship "c.test": federation relationship not found\n' });
  }, 30_000);

  it('deletes the relationship; refreshing it is then refused', async () => {
    expect(await cli(b, ['federation', 'delete', '-id', 'a.test'])).toMatchObject({ code: 0, stdout: 'federation relationship deleted.\n' });
    const r = await cli(b, ['federation', 'refresh', '-id', 'a.test']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('there is no federation relationship with trust domain "a.test"');
    // The federated bundle itself stays (as in SPIRE).
    expect(await federated(b, 'a.test')).toBeDefined();
  }, 30_000);
});

describe('bundle endpoint profiles spire-ts cannot serve', () => {
  it('refuses to start with an ACME bundle endpoint, saying so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'federation-acme-'));
    try {
      const text = config({ td: 'c.test', dir, port: await freePort(), bePort: await freePort(), caTtl: '24h', federatesWith: '' }).replace(
        'profile "https_spiffe" {}',
        'profile "https_web" {\n        acme {\n          domain_name = "c.test"\n          email = "admin@c.test"\n          tos_accepted = true\n        }\n      }',
      );
      writeFileSync(join(dir, 'server.conf'), text);
      let out = '';
      const code = await main(['run', '-config', join(dir, 'server.conf')], {
        stdout: (t) => void (out += t), stderr: (t) => void (out += t), readFile: (p) => readFileSync(p, 'utf8'), cwd: dir, env: {},
      });
      expect(code).toBe(1);
      expect(out).toContain('the ACME profile is not supported by spire-ts');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
