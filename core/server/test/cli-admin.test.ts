// The admin verbs of spire-server against a fake admin API on a temp Unix socket.
import { mkdtempSync, rmSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LeanGrpcServer, PluginError, Status, addService } from '@spire-ts/plugin-sdk';
import { buildCertificate, caTemplate, keyObjectSigner, parseCSR } from '@spire-ts/common';
import { generateKeyPairSync } from 'node:crypto';
import { main } from '../src/cli/commands.js';

const dir = mkdtempSync(join(tmpdir(), 'cli-admin-'));
const sock = join(dir, 'api.sock');
const calls: { method: string; req: unknown }[] = [];
const server = new LeanGrpcServer();

const td = (path: string) => ({ trust_domain: 'example.org', path });
const ENTRY = {
  id: 'e1', spiffe_id: td('/web'), parent_id: td('/spire/agent/x'), selectors: [{ type: 'unix', value: 'uid:1000' }],
  x509_svid_ttl: 0, federates_with: [], admin: false, downstream: false, expires_at: 0, dns_names: ['web.example.org'],
  revision_number: 3, store_svid: false, jwt_svid_ttl: 300, hint: '', created_at: 1700000000,
};
const ok = { code: 0, message: 'OK' };
let pages: unknown[] = [];
let createResults: unknown[] = [];
let health = 'SERVING';
let caDer: Uint8Array;

function record(method: string, req: unknown): void {
  calls.push({ method, req: JSON.parse(JSON.stringify(req)) });
}

beforeAll(async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = new Date();
  caDer = await buildCertificate(caTemplate({ trustDomain: 'example.org', now, ttlMs: 3.6e6 }), {
    signer: keyObjectSigner(privateKey),
    publicKeyDer: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
  });
  addService(server as never, 'spire.api.server.entry.v1.Entry', {
    BatchCreateEntry: async (req) => (record('BatchCreateEntry', req), { results: createResults as never }),
    BatchUpdateEntry: async (req) => (record('BatchUpdateEntry', req), { results: [{ status: ok, entry: { ...ENTRY, revision_number: 4 } }] }),
    BatchDeleteEntry: async (req) => (record('BatchDeleteEntry', req), { results: (req.ids ?? []).map((id) => (id === 'gone' ? { id, status: { code: 5, message: 'entry not found' } } : { id, status: ok })) }),
    GetEntry: async (req) => {
      record('GetEntry', req);
      if (req.id !== 'e1') throw new PluginError(Status.NOT_FOUND, 'entry not found');
      return { ...ENTRY, additional_attributes: { disable_x509_svid_prefetch: true, jwt_svid_include_jti: false } };
    },
    ListEntries: async (req) => (record('ListEntries', req), pages.shift() as never),
    CountEntries: async (req) => (record('CountEntries', req), { count: 1 }),
  });
  addService(server as never, 'spire.api.server.agent.v1.Agent', {
    CountAgents: async (req) => (record('CountAgents', req), { count: 2 }),
    ListAgents: async (req) => (record('ListAgents', req), { agents: [], next_page_token: '' }),
    BanAgent: async (req) => (record('BanAgent', req), {}),
    GetAgent: async (req) => (record('GetAgent', req), { id: req.id, attestation_type: 'x509pop', x509svid_serial_number: '7', x509svid_expires_at: 86400, selectors: [{ type: 'x509pop', value: 'subject:cn:a' }], banned: false, can_reattest: true, agent_version: '' }),
    CreateJoinToken: async (req) => (record('CreateJoinToken', req), { value: 'tok-123', expires_at: 1 }),
  });
  addService(server as never, 'spire.api.server.bundle.v1.Bundle', {
    CountBundles: async () => ({ count: 1 }),
    GetBundle: async () => ({ trust_domain: 'example.org', x509_authorities: caDer.length ? [{ asn1: Buffer.from(caDer), tainted: false }] : [], jwt_authorities: [], refresh_hint: 0, sequence_number: 1 }),
    BatchSetFederatedBundle: async (req) => (record('BatchSetFederatedBundle', req), { results: [{ status: ok, bundle: null }] }),
    ListFederatedBundles: async (req) => (record('ListFederatedBundles', req), { bundles: [{ trust_domain: 'a.org', x509_authorities: [{ asn1: Buffer.from(caDer) }] }, { trust_domain: 'b.org', x509_authorities: [{ asn1: Buffer.from(caDer) }] }], next_page_token: '' }),
    BatchDeleteFederatedBundle: async (req) => (record('BatchDeleteFederatedBundle', req), { results: [{ status: { code: 9, message: 'cannot delete bundle; federated with 1 registration entries' }, trust_domain: 'other.org' }] }),
  });
  addService(server as never, 'spire.api.server.svid.v1.SVID', {
    MintX509SVID: async (req) => {
      record('MintX509SVID', { ttl: req.ttl });
      const csr = parseCSR(new Uint8Array(req.csr as Buffer));
      calls.push({ method: 'csr', req: { uris: csr.uris, dns: csr.dnsNames, valid: csr.signatureValid, subject: csr.subject } });
      return { svid: { id: td('/w'), cert_chain: [Buffer.from(caDer)], expires_at: Math.floor(Date.now() / 1000) + 60 } };
    },
    MintJWTSVID: async (req) => {
      record('MintJWTSVID', req);
      const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const token = `${part({ alg: 'ES256', kid: 'k' })}.${part({ sub: 'spiffe://example.org/w', aud: req.audience, exp: Math.floor(Date.now() / 1000) + 3600 })}.c2ln`;
      return { svid: { token, id: req.id, expires_at: 0, issued_at: 0 } };
    },
  });
  addService(server as never, 'grpc.health.v1.Health', { Check: async () => ({ status: health as never }) });
  await server.listen(sock);
});
afterAll(async () => {
  await server.close(10);
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  calls.length = 0;
});

async function run(args: string[], stdin = '') {
  let stdout = '';
  let stderr = '';
  const code = await main([...args.slice(0, args[0] === 'healthcheck' ? 1 : 2), '-socketPath', sock, ...args.slice(args[0] === 'healthcheck' ? 1 : 2)], {
    stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t),
    readFile: (p) => readFileSync(p, 'utf8'), readStdin: () => stdin, cwd: dir, env: {},
  });
  return { code, stdout, stderr };
}

describe('entry', () => {
  it('create sends the entry the flags describe and prints it', async () => {
    createResults = [{ status: ok, entry: ENTRY }];
    const r = await run(['entry', 'create', '-spiffeID', 'spiffe://example.org/web', '-parentID', 'spiffe://example.org/spire/agent/x', '-selector', 'unix:uid:1000', '-selector', 'k8s:ns:a', '-dns', 'web.example.org', '-jwtSVIDTTL', '300', '-federatesWith', 'spiffe://other.org']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(calls[0]!.method).toBe('BatchCreateEntry');
    const sent = (calls[0]!.req as { entries: Record<string, unknown>[] }).entries[0]!;
    expect(sent).toMatchObject({ spiffe_id: td('/web'), parent_id: td('/spire/agent/x'), selectors: [{ type: 'unix', value: 'uid:1000' }, { type: 'k8s', value: 'ns:a' }], dns_names: ['web.example.org'], jwt_svid_ttl: 300, x509_svid_ttl: 0, federates_with: ['spiffe://other.org'], admin: false });
    expect(r.stdout).toBe(
      'Entry ID                : e1\nSPIFFE ID               : spiffe://example.org/web\nParent ID               : spiffe://example.org/spire/agent/x\nRevision                : 3\n' +
        'X509-SVID TTL           : default\nJWT-SVID TTL            : 300\nSelector                : unix:uid:1000\nDNS name                : web.example.org\n\n',
    );
  });

  it('create -node makes the parent the server ID; per-entry failures go to stderr with exit 1', async () => {
    createResults = [{ status: { code: 6, message: 'similar entry already exists' }, entry: null }];
    const r = await run(['entry', 'create', '-node', '-spiffeID', 'spiffe://example.org/n', '-selector', 'x509pop:subject:cn:a']);
    expect((calls[0]!.req as { entries: { parent_id: unknown }[] }).entries[0]!.parent_id).toEqual(td('/spire/server'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Failed to create the following entry \(code: AlreadyExists, msg: "similar entry already exists"\):\nEntry ID {16}: \(none\)\nSPIFFE ID {15}: spiffe:\/\/example.org\/n\n/);
    expect(r.stderr.endsWith('Error: failed to create one or more entries\n')).toBe(true);
    // With -output json the statuses are in the JSON and the exit code is 0, as SPIRE.
    const json = await run(['entry', 'create', '-node', '-spiffeID', 'spiffe://example.org/n', '-selector', 'x509pop:subject:cn:a', '-output', 'json']);
    expect(json).toMatchObject({ code: 0, stderr: '' });
    const doc = JSON.parse(json.stdout) as { results: { status: unknown; entry: { spiffe_id: unknown } }[] };
    expect(doc.results[0]).toMatchObject({ status: { code: 6, message: 'similar entry already exists' }, entry: { spiffe_id: td('/n') } });
  });

  it('create -data reads SPIRE registration JSON; bad flags are usage errors', async () => {
    createResults = [{ status: ok, entry: ENTRY }];
    const data = JSON.stringify({ entries: [{ spiffe_id: 'spiffe://example.org/a', parent_id: 'spiffe://example.org/p', selectors: [{ type: 'unix', value: 'uid:1' }], entryExpiry: 99, x509_svid_ttl: 60 }] });
    const r = await run(['entry', 'create', '-data', '-', '-output', 'json'], data);
    expect(r.code).toBe(0);
    expect((calls[0]!.req as { entries: Record<string, unknown>[] }).entries[0]).toMatchObject({ spiffe_id: td('/a'), expires_at: 99, x509_svid_ttl: 60 });
    const json = JSON.parse(r.stdout) as { results: { entry: Record<string, unknown>; status: unknown }[] };
    expect(Object.keys(json.results[0]!.entry)).toEqual([...Object.keys(json.results[0]!.entry)].sort());
    expect(json.results[0]!.entry).toMatchObject({ revision_number: '3', created_at: '1700000000', x509_svid_ttl: 0, admin: false });
    expect(json.results[0]!.status).toEqual({ code: 0, message: 'OK' });
    const bad = await run(['entry', 'create', '-selectr', 'x']);
    expect(bad.code).toBe(1);
    expect(bad.stderr.split('\n')[0]).toBe('flag provided but not defined: -selectr (did you mean -selector?)');
    const missing = await run(['entry', 'create', '-spiffeID', 'spiffe://example.org/a']);
    expect(missing).toMatchObject({ code: 1, stderr: 'Error: at least one selector is required (set -selector type:value)\n' });
    expect(calls).toHaveLength(1);
  });

  it('show sends the filter and pages through ListEntries', async () => {
    pages = [{ entries: [ENTRY], next_page_token: 'p2' }, { entries: [{ ...ENTRY, id: 'e0', spiffe_id: td('/a') }], next_page_token: '' }];
    const r = await run(['entry', 'show', '-selector', 'unix:uid:1000', '-matchSelectorsOn', 'exact', '-federatesWith', 'other.org', '-hint', 'h', '-spiffeID', 'spiffe://example.org/web']);
    expect(r.code).toBe(0);
    expect(calls.map((c) => c.method)).toEqual(['ListEntries', 'ListEntries']);
    expect(calls[0]!.req).toMatchObject({
      page_size: 500, page_token: '',
      filter: { by_spiffe_id: td('/web'), by_selectors: { selectors: [{ type: 'unix', value: 'uid:1000' }], match: 'MATCH_EXACT' }, by_federates_with: { trust_domains: ['other.org'], match: 'MATCH_SUPERSET' }, by_hint: { value: 'h' } },
    });
    expect((calls[0]!.req as { filter: { by_downstream: unknown } }).filter.by_downstream).toBeNull();
    expect(calls[1]!.req).toMatchObject({ page_token: 'p2' });
    expect(r.stdout.startsWith('Found 2 entries\nEntry ID                : e0\n')).toBe(true);
    const bad = await run(['entry', 'show', '-selector', 'a:b', '-matchSelectorsOn', 'most']);
    expect(bad.stderr).toBe('Error: match behavior "most" unknown (set -matchSelectorsOn to one of exact, any, superset, subset)\n');
  });

  it('show -entryID reports a missing entry in grpc-go words', async () => {
    const r = await run(['entry', 'show', '-entryID', 'nope']);
    expect(r).toMatchObject({ code: 1, stderr: 'Error: error fetching entry ID nope: rpc error: code = NotFound desc = entry not found\n' });
  });

  it('delete and count print as SPIRE', async () => {
    const d = await run(['entry', 'delete', '-entryID', 'gone']);
    expect(d.code).toBe(1);
    expect(d.stderr).toBe('Failed to delete entry with ID gone (code: NotFound, msg: "entry not found")\nError: failed to delete one or more entries\n');
    expect(d.stdout).toBe('\n\nFailed to delete 1 entries');
    const c = await run(['entry', 'count', '-downstream']);
    expect(c).toMatchObject({ code: 0, stdout: '1 registration entry\n' });
    expect(calls.at(-1)!.req).toEqual({ filter: { by_downstream: { value: true }, by_spiffe_id: null, by_parent_id: null, by_selectors: null, by_federates_with: null, by_hint: null } });
  });
});

describe('agent, token, bundle, mint, healthcheck', () => {
  it('agent count/list filters; ban; token generate', async () => {
    expect(await run(['agent', 'count', '-banned', 'true', '-canReattest', 'maybe', '-attestationType', 'join_token'])).toMatchObject({ code: 0, stdout: '2 attested agents\n' });
    expect(calls[0]!.req).toMatchObject({ filter: { by_banned: { value: true }, by_can_reattest: null, by_attestation_type: 'join_token' } });
    expect((await run(['agent', 'list'])).stdout).toBe('No attested agents found\n');
    expect(calls[1]!.req).toMatchObject({ page_size: 1000 });
    expect(await run(['agent', 'ban', '-spiffeID', 'spiffe://example.org/spire/agent/x'])).toMatchObject({ code: 0, stdout: 'Agent banned successfully\n' });
    expect(calls[2]!.req).toEqual({ id: td('/spire/agent/x') });
    expect(await run(['agent', 'ban'])).toMatchObject({ code: 1, stderr: 'Error: a SPIFFE ID is required (set -spiffeID to the agent ID)\n' });
    expect(await run(['token', 'generate'])).toMatchObject({ code: 0, stdout: 'Token: tok-123\nWarning: Missing SPIFFE ID.\n' });
    expect(calls.at(-1)!.req).toMatchObject({ agent_id: null, ttl: 600 });
  });

  it('bundle count, delete failure', async () => {
    expect(await run(['bundle', 'count'])).toMatchObject({ code: 0, stdout: '1 bundle\n' });
    const d = await run(['bundle', 'delete', '-id', 'spiffe://other.org', '-mode', 'dissociate']);
    expect(calls[0]!.req).toEqual({ mode: 'DISSOCIATE', trust_domains: ['spiffe://other.org'] });
    expect(d).toMatchObject({ code: 1, stderr: 'Error: failed to delete federated bundle "other.org": cannot delete bundle; federated with 1 registration entries\n' });
  });

  it('x509 mint sends a CSR for the ID and writes the files', async () => {
    const out = join(dir, 'out');
    (await import('node:fs')).mkdirSync(out);
    const r = await run(['x509', 'mint', '-spiffeID', 'spiffe://example.org/w', '-dns', 'w.example.org', '-ttl', '1m30s', '-write', out]);
    // The fake server caps the SVID at 60 s.
    expect(r.stderr).toMatch(/^X509-SVID lifetime was capped shorter than specified ttl; expires "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\n$/);
    expect(r.stdout).toBe(`X509-SVID written to ${out}/svid.pem\nPrivate key written to ${out}/key.pem\nRoot CAs written to ${out}/bundle.pem\n`);
    expect(calls[0]!.req).toEqual({ ttl: 90 });
    expect(calls[1]!.req).toMatchObject({ uris: ['spiffe://example.org/w'], dns: ['w.example.org'], valid: true });
    expect(statSync(join(out, 'key.pem')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(out, 'key.pem'), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  });

  it('healthcheck', async () => {
    health = 'SERVING';
    expect(await run(['healthcheck'])).toMatchObject({ code: 0, stdout: 'Server is healthy.\n' });
    health = 'NOT_SERVING';
    expect(await run(['healthcheck'])).toMatchObject({ code: 1, stderr: 'Error: server is unhealthy: server returned status "NOT_SERVING"\n' });
    let stderr = '';
    const code = await main(['healthcheck', '-socketPath', join(dir, 'none.sock'), '-verbose'], { stdout: () => undefined, stderr: (t) => void (stderr += t), readFile: () => '', cwd: dir, env: {} });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^Failed to check health: rpc error: code = Unavailable desc = .*\nError: server is unhealthy: unable to determine health\n$/s);
  });

  it('a relative -socketPath is dialled from the working directory (its first component is not a URI authority)', async () => {
    const io = { stdout: (t: string) => void (out += t), stderr: (t: string) => void (err += t), readFile: () => '', cwd: dirname(dir), env: {} };
    let out = '';
    let err = '';
    const code = await main(['token', 'generate', '-socketPath', join(basename(dir), 'api.sock')], io);
    expect({ code, out, err }).toEqual({ code: 0, out: 'Token: tok-123\nWarning: Missing SPIFFE ID.\n', err: '' });
    out = '';
    health = 'SERVING';
    expect(await main(['healthcheck', '-socketPath', `./${basename(dir)}/api.sock`], io)).toBe(0);
    expect(out).toBe('Server is healthy.\n');
  });

  it('agent show prints the agent and its selectors', async () => {
    const r = await run(['agent', 'show', '-spiffeID', 'spiffe://example.org/spire/agent/x509pop/a']);
    expect(calls[0]!.req).toEqual({ id: td('/spire/agent/x509pop/a'), output_mask: null });
    expect(r.stdout).toBe(
      'Found an attested agent given its SPIFFE ID\n\nSPIFFE ID         : spiffe://example.org/spire/agent/x509pop/a\nAttestation type  : x509pop\nExpiration time   : 1970-01-02 00:00:00 +0000 UTC\nSerial number     : 7\nCan re-attest     : true\n\nSelectors         : x509pop:subject:cn:a\n',
    );
    const bad = await run(['agent', 'show', '-spiffeID', 'example.org/a']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('Error: invalid SPIFFE ID "example.org/a": scheme is missing or invalid: a SPIFFE ID starts with "spiffe://"\n');
  });

  it('names a bad -spiffeID or -parentID once, without the parser repeating it', async () => {
    const create = (spiffeID: string, parentID: string) => run(['entry', 'create', '-spiffeID', spiffeID, '-parentID', parentID, '-selector', 'unix:uid:1']);
    expect(await create('http://example.org/x', 'spiffe://example.org/p')).toMatchObject({
      code: 1,
      stderr: 'Error: invalid SPIFFE ID "http://example.org/x": scheme is missing or invalid: want "spiffe://", got "http://"\n',
    });
    expect(await create('spiffe://example.org/x', 'spiffe://example.org/p/')).toMatchObject({ code: 1, stderr: 'Error: invalid parent ID "spiffe://example.org/p/": path cannot have a trailing slash\n' });
    expect(await run(['entry', 'show', '-parentID', 'http://example.org/p'])).toMatchObject({
      code: 1,
      stderr: 'Error: invalid parent ID "http://example.org/p": scheme is missing or invalid: want "spiffe://", got "http://"\n',
    });
    expect(calls).toEqual([]);
  });

  it('bundle set reads PEM from -path; list prints each bundle under a header', async () => {
    const { pemEncode } = await import('@spire-ts/common');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'b.pem'), pemEncode('CERTIFICATE', caDer));
    expect(await run(['bundle', 'set', '-id', 'spiffe://other.org', '-path', 'b.pem'])).toMatchObject({ code: 0, stdout: 'bundle set.\n' });
    const sent = calls[0]!.req as { bundle: { trust_domain: string; x509_authorities: { asn1: { data: number[] } }[] }[] };
    expect(sent.bundle[0]!.trust_domain).toBe('spiffe://other.org');
    expect(Buffer.from(sent.bundle[0]!.x509_authorities[0]!.asn1.data).equals(Buffer.from(caDer))).toBe(true);
    expect(await run(['bundle', 'set', '-path', 'b.pem'])).toMatchObject({ code: 1, stderr: 'Error: id flag is required (set -id to the trust domain, e.g. spiffe://example.org)\n' });
    const list = await run(['bundle', 'list']);
    const cert = pemEncode('CERTIFICATE', caDer);
    const header = (t: string) => `****************************************\n* ${t}\n****************************************\n`;
    expect(list.stdout).toBe(`${header('a.org')}${cert}\n${header('b.org')}${cert}`);
    const show = await run(['bundle', 'show', '-format', 'spiffe']);
    expect(JSON.parse(show.stdout)).toMatchObject({ keys: [{ use: 'x509-svid' }], spiffe_sequence: 1 });
    expect((await run(['bundle', 'show', '-format', 'der'])).stderr).toBe('Error: invalid format: "der" (use -format pem or -format spiffe)\n');
  });

  it('entry update merges the additional attributes it was not given from the stored entry', async () => {
    const r = await run(['entry', 'update', '-entryID', 'e1', '-spiffeID', 'spiffe://example.org/web', '-parentID', 'spiffe://example.org/p', '-selector', 'unix:uid:1', '-jwtSVIDIncludeJTI']);
    expect(r.code).toBe(0);
    expect(calls.map((c) => c.method)).toEqual(['GetEntry', 'BatchUpdateEntry']);
    expect((calls[1]!.req as { entries: unknown[] }).entries[0]).toMatchObject({ id: 'e1', additional_attributes: { disable_x509_svid_prefetch: true, jwt_svid_include_jti: true } });
    expect(r.stdout).toContain('Revision                : 4\n');
    expect(await run(['entry', 'update', '-spiffeID', 'spiffe://example.org/web'])).toMatchObject({ code: 1, stderr: 'Error: entry ID is required (set -entryID)\n' });
  });

  it('entry show -output json prints the proto-JSON line; a bad -output is a usage error', async () => {
    pages = [{ entries: [ENTRY], next_page_token: '' }];
    const r = await run(['entry', 'show', '-output', 'json']);
    expect(r.stdout.endsWith('}\n')).toBe(true);
    expect(r.stdout.split('\n')).toHaveLength(2);
    const doc = JSON.parse(r.stdout) as { entries: Record<string, unknown>[]; next_page_token: string };
    expect(doc.next_page_token).toBe('');
    expect(doc.entries[0]).toMatchObject({ id: 'e1', revision_number: '3', jwt_svid_ttl: 300, dns_names: ['web.example.org'], spiffe_id: td('/web') });
    const bad = await run(['entry', 'show', '-output', 'yaml']);
    expect(bad.code).toBe(1);
    expect(bad.stderr.split('\n')[0]).toBe('invalid value "yaml" for flag -output: bad formatter flag: unknown format option: "yaml" (use pretty or json)');
    expect(calls).toHaveLength(1);
  });

  it('jwt mint sends the ID, audiences and TTL and prints the token', async () => {
    const r = await run(['jwt', 'mint', '-spiffeID', 'spiffe://example.org/w', '-audience', 'a', '-audience', 'b', '-ttl', '5m']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(calls[0]!.req).toEqual({ id: td('/w'), ttl: 300, audience: ['a', 'b'] });
    expect(r.stdout).toMatch(/^[\w-]+\.[\w-]+\.c2ln\n$/);
    expect(await run(['jwt', 'mint', '-spiffeID', 'spiffe://example.org/w'])).toMatchObject({ code: 1, stderr: 'Error: at least one audience must be specified (set -audience)\n' });
  });

  it('x509 mint prints the SVID, key and roots without -write', async () => {
    const r = await run(['x509', 'mint', '-spiffeID', 'spiffe://example.org/w']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^X509-SVID:\n-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n\nPrivate key:\n-----BEGIN PRIVATE KEY-----\n[\s\S]+\nRoot CAs:\n-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n\n$/);
    const json = await run(['x509', 'mint', '-spiffeID', 'spiffe://example.org/w', '-output', 'json']);
    expect(Object.keys(JSON.parse(json.stdout) as object)).toEqual(['x509_svid', 'private_key', 'root_cas']);
  });

  it('lists a group\'s subcommands when none or an unknown one is given (exit 1)', async () => {
    let err = '';
    const io = { stdout: () => undefined, stderr: (t: string) => void (err += t), readFile: () => '', cwd: dir, env: {} };
    expect(await main(['bundle', 'frob'], io)).toBe(1);
    expect(err).toMatch(/^spire-server bundle: unknown subcommand "frob"\n\nUsage: spire-server bundle <subcommand> \[options\]\n\nAvailable subcommands are:\n {4}count +Count bundles\n/);
    err = '';
    expect(await main(['entry', 'show', '-h'], io)).toBe(0);
    expect(err).toMatch(/^Usage of entry show:\n/);
  });
});
