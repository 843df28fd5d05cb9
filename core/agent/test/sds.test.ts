// Envoy SDS v3 on the Workload API socket: a grpc-js SecretDiscoveryService
// client over the real Unix socket (callers identified by SO_PEERCRED and
// attested in-process from /proc), answered from a StaticWorkloadCache and,
// for rotation, from the real AgentManager. Secrets are decoded with
// protobufjs from Envoy's own .proto files, independently of the encoder.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import type * as Protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger, pemDecode, validateX509Svid, type Bundle } from '@spire-ts/common';
import { createClient, type ServiceClientOf, type discoveryV3 } from '@spire-ts/proto';
import { StaticWorkloadCache, WorkloadApiServer, WorkloadAttestation, buildSdsResponse, SECRET_TYPE_URL } from '../src/workload/index.js';
import { bundleOf, makeCa, makeSvid, procAttestor, tempDir, type TestCa } from './workload-fixtures.js';
import { TD, entry as managerEntry, harness, type Harness } from './manager-support.js';

// ---- independent decoding of the secrets ------------------------------------------------
const require = createRequire(import.meta.url);
const protobuf = require('protobufjs') as typeof Protobuf;
const root = new protobuf.Root();
const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../proto');
root.resolvePath = (_o, t) => (t.startsWith('google/protobuf/') ? t : join(PROTO_DIR, t));
root.loadSync(['envoy/extensions/transport_sockets/tls/v3/secret.proto', 'envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config.proto', 'envoy/config/core/v3/extension.proto'], { keepCase: true });
const SecretMsg = root.lookupType('envoy.extensions.transport_sockets.tls.v3.Secret');
const ValidatorMsg = root.lookupType('envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig');

interface DataSource {
  inline_bytes?: Buffer;
}
interface DecodedSecret {
  name: string;
  tls_certificate?: { certificate_chain: DataSource; private_key: DataSource };
  validation_context?: {
    trusted_ca?: DataSource;
    custom_validator_config?: { name: string; typed_config: { type_url: string; value: Buffer } };
  };
}
interface SpiffeValidator {
  trust_domains: { name: string; trust_bundle: DataSource }[];
}

function decode(any: { type_url: string; value: Buffer }): DecodedSecret {
  expect(any.type_url).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret');
  return SecretMsg.toObject(SecretMsg.decode(any.value), { defaults: false }) as DecodedSecret;
}

function validator(s: DecodedSecret): { name: string; pem: string }[] {
  const custom = s.validation_context?.custom_validator_config;
  expect(custom?.name).toBe('envoy.tls.cert_validator.spiffe');
  expect(custom?.typed_config.type_url).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig');
  const cfg = ValidatorMsg.toObject(ValidatorMsg.decode(custom!.typed_config.value)) as SpiffeValidator;
  return cfg.trust_domains.map((t) => ({ name: t.name, pem: Buffer.from(t.trust_bundle.inline_bytes ?? []).toString('ascii') }));
}

const pemOf = (ders: readonly Uint8Array[]): string => ders.map((d) => new X509Certificate(d).toString()).join('');
const bundlePem = (b: Bundle): string => pemOf(b.x509Authorities);

/** The leaf of a tls_certificate secret, checked against its key and the bundle. */
function tlsLeaf(s: DecodedSecret, roots: readonly Uint8Array[]): X509Certificate {
  const tls = s.tls_certificate;
  expect(tls).toBeDefined();
  const chain = pemDecode(Buffer.from(tls!.certificate_chain.inline_bytes!).toString('ascii'), 'CERTIFICATE');
  const keyPem = Buffer.from(tls!.private_key.inline_bytes!).toString('ascii');
  expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  const leaf = new X509Certificate(chain[0]!);
  expect(leaf.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
  validateX509Svid(chain[0]!, chain.slice(1), roots, new Date());
  return leaf;
}

// ---- client helpers ---------------------------------------------------------------------
type SdsClient = ServiceClientOf<'envoy.service.secret.v3.SecretDiscoveryService'>;
type Request = discoveryV3.DiscoveryRequest;
type Response = discoveryV3.DiscoveryResponse__Output;

const clients: SdsClient[] = [];
function sdsClient(socketPath: string): SdsClient {
  const c = createClient('envoy.service.secret.v3.SecretDiscoveryService', `unix://${socketPath}`, grpc.credentials.createInsecure());
  clients.push(c);
  return c;
}

function fetchSecrets(c: SdsClient, req: Request): Promise<Response> {
  return new Promise((resolve, reject) => c.FetchSecrets(req, (err, res) => (err ? reject(err) : resolve(res!))));
}

/** A StreamSecrets call: `next()` waits for the n-th response, `quiet()` checks none arrives. */
function openStream(c: SdsClient) {
  const call = c.StreamSecrets();
  const messages: Response[] = [];
  const errors: grpc.ServiceError[] = [];
  let wake: (() => void) | undefined;
  call.on('data', (m: Response) => {
    messages.push(m);
    wake?.();
  });
  call.on('error', (e: grpc.ServiceError) => {
    errors.push(e);
    wake?.();
  });
  return {
    call,
    messages,
    errors,
    send(req: Request): void {
      call.write({ type_url: SECRET_TYPE_URL, ...req });
    },
    async next(n: number, timeoutMs = 5000): Promise<Response> {
      const end = Date.now() + timeoutMs;
      while (messages.length < n) {
        if (errors.length > 0) throw errors[0];
        const left = end - Date.now();
        if (left <= 0) throw new Error(`no response #${n} within ${timeoutMs} ms (got ${messages.length})`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
      return messages[n - 1]!;
    },
    async failure(timeoutMs = 5000): Promise<grpc.ServiceError> {
      const end = Date.now() + timeoutMs;
      while (errors.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      if (errors.length === 0) throw new Error('the stream did not fail');
      return errors[0]!;
    },
    async quiet(count: number, ms = 300): Promise<void> {
      await new Promise((r) => setTimeout(r, ms));
      expect(errors).toEqual([]);
      expect(messages).toHaveLength(count);
    },
  };
}

const oldEnvoy = { user_agent_build_version: { version: { major_number: 1, minor_number: 17, patch: 0 } } };
const newEnvoy = { user_agent_build_version: { version: { major_number: 1, minor_number: 30, patch: 2 } } };

// ---- the static-cache server ------------------------------------------------------------
const myUid = process.geteuid!();
const myGid = process.getegid!();
const FED = 'federated.test';
const ALPHA = 'alpha.test';
const WEB = `spiffe://${TD}/web`;
const DB = `spiffe://${TD}/db`;

let dir: string;
let socketPath: string;
let emptySocketPath: string;
let noSdsSocketPath: string;
let cache: StaticWorkloadCache;
let empty: StaticWorkloadCache;
let server: WorkloadApiServer;
let emptyServer: WorkloadApiServer;
let noSdsServer: WorkloadApiServer;
let ca: TestCa;
let fedCa: TestCa;
let alphaCa: TestCa;
const log = memoryLogger();

beforeAll(async () => {
  [ca, fedCa, alphaCa] = await Promise.all([makeCa(TD), makeCa(FED), makeCa(ALPHA)]);
  cache = new StaticWorkloadCache({ trustDomain: TD });
  for (const c of [ca, fedCa, alphaCa]) cache.setBundle(bundleOf(c));
  const base = { selectors: [], hint: '', federatesWith: [] as string[] };
  cache.setEntry({ ...base, entryId: 'web', spiffeId: WEB, selectors: [{ type: 'proc', value: `uid:${myUid}` }], federatesWith: [FED, ALPHA], createdAt: 1 }, await makeSvid(ca, WEB));
  cache.setEntry({ ...base, entryId: 'db', spiffeId: DB, selectors: [{ type: 'proc', value: `gid:${myGid}` }], createdAt: 2 }, await makeSvid(ca, DB));
  cache.setEntry({ ...base, entryId: 'other', spiffeId: `spiffe://${TD}/other`, selectors: [{ type: 'proc', value: 'uid:4242' }], createdAt: 3 }, await makeSvid(ca, `spiffe://${TD}/other`));

  dir = tempDir('sds-');
  socketPath = join(dir, 'api.sock');
  server = new WorkloadApiServer({ cache, attestation: new WorkloadAttestation({ attestors: [procAttestor()], log }), trustDomain: TD, log, shutdownGraceMs: 500 });
  await server.start(socketPath);

  // A caller no entry matches: only the bundle is there for it.
  empty = new StaticWorkloadCache({ trustDomain: TD });
  empty.setBundle(bundleOf(ca));
  emptySocketPath = join(dir, 'empty.sock');
  emptyServer = new WorkloadApiServer({ cache: empty, attestation: new WorkloadAttestation({ attestors: [procAttestor()], log }), trustDomain: TD, log, shutdownGraceMs: 500 });
  await emptyServer.start(emptySocketPath);

  noSdsSocketPath = join(dir, 'nosds.sock');
  noSdsServer = new WorkloadApiServer({ cache, attestation: new WorkloadAttestation({ attestors: [procAttestor()], log }), trustDomain: TD, log, sds: false, shutdownGraceMs: 500 });
  await noSdsServer.start(noSdsSocketPath);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([server?.close(), emptyServer?.close(), noSdsServer?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('SDS FetchSecrets', () => {
  it('without names returns every bundle and SVID, needing no workload.spiffe.io header', async () => {
    const res = await fetchSecrets(sdsClient(socketPath), { type_url: SECRET_TYPE_URL, node: newEnvoy });
    expect(res.version_info).toBe('');
    expect(res.nonce).toBe('');
    expect(res.type_url).toBe(SECRET_TYPE_URL);
    const secrets = res.resources.map(decode);
    expect(secrets.map((s) => s.name)).toEqual([`spiffe://${TD}`, `spiffe://${ALPHA}`, `spiffe://${FED}`, WEB, DB]);
    expect(validator(secrets[0]!)).toEqual([{ name: TD, pem: bundlePem(bundleOf(ca)) }]);
    expect(validator(secrets[2]!)).toEqual([{ name: FED, pem: bundlePem(bundleOf(fedCa)) }]);
    expect(tlsLeaf(secrets[3]!, [ca.cert.der]).subjectAltName).toBe(`URI:${WEB}`);
    expect(tlsLeaf(secrets[4]!, [ca.cert.der]).subjectAltName).toBe(`URI:${DB}`);
  });

  it('"default" is the first SVID, under that name; a SPIFFE ID selects that SVID', async () => {
    const c = sdsClient(socketPath);
    const res = await fetchSecrets(c, { resource_names: ['default', DB] });
    const secrets = res.resources.map(decode);
    expect(secrets.map((s) => s.name)).toEqual(['default', DB]);
    expect(tlsLeaf(secrets[0]!, [ca.cert.der]).subjectAltName).toBe(`URI:${WEB}`);
    expect(tlsLeaf(secrets[1]!, [ca.cert.der]).subjectAltName).toBe(`URI:${DB}`);
  });

  it('ROOTCA is the own bundle: SPIFFE validator for Envoy 1.18+ (or unknown), trusted_ca for older ones', async () => {
    const c = sdsClient(socketPath);
    const modern = (await fetchSecrets(c, { resource_names: ['ROOTCA'] })).resources.map(decode);
    expect(modern.map((s) => s.name)).toEqual(['ROOTCA']);
    expect(validator(modern[0]!)).toEqual([{ name: TD, pem: bundlePem(bundleOf(ca)) }]);
    const old = (await fetchSecrets(c, { resource_names: ['ROOTCA', `spiffe://${FED}`], node: oldEnvoy })).resources.map(decode);
    expect(old.map((s) => s.name)).toEqual(['ROOTCA', `spiffe://${FED}`]);
    expect(old[0]!.validation_context?.custom_validator_config).toBeUndefined();
    expect(Buffer.from(old[0]!.validation_context!.trusted_ca!.inline_bytes!).toString('ascii')).toBe(bundlePem(bundleOf(ca)));
    expect(Buffer.from(old[1]!.validation_context!.trusted_ca!.inline_bytes!).toString('ascii')).toBe(bundlePem(bundleOf(fedCa)));
  });

  it('ALL is one SPIFFE validator with every trust domain, sorted; INTERNAL when the validator cannot be used', async () => {
    const c = sdsClient(socketPath);
    const res = (await fetchSecrets(c, { resource_names: ['ALL'], node: newEnvoy })).resources.map(decode);
    expect(res.map((s) => s.name)).toEqual(['ALL']);
    expect(validator(res[0]!)).toEqual([
      { name: ALPHA, pem: bundlePem(bundleOf(alphaCa)) },
      { name: TD, pem: bundlePem(bundleOf(ca)) },
      { name: FED, pem: bundlePem(bundleOf(fedCa)) },
    ]);
    await expect(fetchSecrets(c, { resource_names: ['ALL'], node: oldEnvoy })).rejects.toMatchObject({
      code: grpc.status.INTERNAL,
      details: 'unable to use "SPIFFE validator" on Envoy below 1.17',
    });
    // Envoy's node metadata can turn the validator off (bool or Go-style boolean string).
    for (const value of [{ boolValue: true }, { stringValue: 'True' }]) {
      const node = { metadata: { fields: { disable_spiffe_cert_validation: value } } };
      await expect(fetchSecrets(c, { resource_names: ['ALL'], node })).rejects.toMatchObject({ code: grpc.status.INTERNAL });
      const rootCa = (await fetchSecrets(c, { resource_names: ['ROOTCA'], node })).resources.map(decode);
      expect(rootCa[0]!.validation_context?.trusted_ca).toBeDefined();
    }
    // An unparsable value is ignored.
    const node = { metadata: { fields: { disable_spiffe_cert_validation: { stringValue: 'yes please' } } } };
    expect(validator((await fetchSecrets(c, { resource_names: ['ALL'], node })).resources.map(decode)[0]!)).toHaveLength(3);
  });

  it('names the workload is not entitled to are INVALID_ARGUMENT, listed sorted', async () => {
    const c = sdsClient(socketPath);
    await expect(fetchSecrets(c, { resource_names: [WEB, `spiffe://${TD}/other`, 'spiffe://nowhere.test', ''] })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: `workload is not authorized for the requested identities ["spiffe://${TD}/other" "spiffe://nowhere.test"]`,
    });
    // As in SPIRE, only one name of the own trust domain's bundle is served per request.
    await expect(fetchSecrets(c, { resource_names: ['ROOTCA', 'ALL'] })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'workload is not authorized for the requested identities ["ALL"]' });
  });

  it('a caller no entry matches gets the bundle only, and INVALID_ARGUMENT for an SVID', async () => {
    const c = sdsClient(emptySocketPath);
    const res = (await fetchSecrets(c, {})).resources.map(decode);
    expect(res.map((s) => s.name)).toEqual([`spiffe://${TD}`]);
    await expect(fetchSecrets(c, { resource_names: ['default'] })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'workload is not authorized for the requested identities ["default"]' });
  });

  it('DeltaSecrets is UNIMPLEMENTED; sds: false serves no SDS at all', async () => {
    const delta = sdsClient(socketPath).DeltaSecrets();
    const err = await new Promise<grpc.ServiceError>((resolve) => delta.on('error', resolve));
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
    await expect(fetchSecrets(sdsClient(noSdsSocketPath), {})).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED });
  });
});

describe('SDS StreamSecrets', () => {
  it('versions, nonces, ACK, NACK, stale nonces, name changes and pushes on rotation and bundle change', async () => {
    const s = openStream(sdsClient(socketPath));
    s.send({ resource_names: ['default', 'ROOTCA'], node: newEnvoy });
    const r1 = await s.next(1);
    expect(r1.version_info).toBe('1');
    expect(r1.nonce).toMatch(/^[0-9a-f]{8}$/);
    const first = r1.resources.map(decode);
    expect(first.map((x) => x.name)).toEqual(['ROOTCA', 'default']);
    const serial1 = tlsLeaf(first[1]!, [ca.cert.der]).serialNumber;

    // ACK: nothing new to say.
    s.send({ resource_names: ['default', 'ROOTCA'], version_info: '1', response_nonce: r1.nonce });
    await s.quiet(1);

    // Rotation: pushed with the next version.
    cache.setX509Svid('web', await makeSvid(ca, WEB));
    const r2 = await s.next(2);
    expect(r2.version_info).toBe('2');
    expect(r2.nonce).not.toBe(r1.nonce);
    const serial2 = tlsLeaf(decode(r2.resources[1]!), [ca.cert.der]).serialNumber;
    expect(serial2).not.toBe(serial1);

    // NACK (same names): logged, not answered.
    const before = log.lines.length;
    s.send({ resource_names: ['default', 'ROOTCA'], version_info: '1', response_nonce: r2.nonce, error_detail: { code: 13, message: 'bad cert' } });
    await s.quiet(2);
    const nackLogs = log.lines.slice(before);
    expect(nackLogs).toContainEqual(expect.objectContaining({ level: 'error', msg: 'Envoy reported errors applying secrets', fields: expect.objectContaining({ error: 'bad cert' }) }));
    expect(nackLogs).toContainEqual(expect.objectContaining({ level: 'error', msg: 'Client rejected expected version and rolled back', fields: expect.objectContaining({ version_info: '1', expect: '2' }) }));

    // A stale nonce is ignored, even with new names.
    s.send({ resource_names: [DB], version_info: '2', response_nonce: r1.nonce });
    await s.quiet(2);
    expect(log.lines.slice(before)).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'Received unexpected nonce; ignoring request' }));

    // New names with the right nonce: answered at the same version.
    s.send({ resource_names: [DB, 'ALL'], version_info: '2', response_nonce: r2.nonce });
    const r3 = await s.next(3);
    expect(r3.version_info).toBe('2');
    const third = r3.resources.map(decode);
    expect(third.map((x) => x.name)).toEqual(['ALL', DB]);
    // The node of the first request still applies (Envoy sends it once): ALL works.
    expect(validator(third[0]!).map((t) => t.name)).toEqual([ALPHA, TD, FED]);

    // Bundle change: the new CA shows up in the next version.
    const extra = await makeCa(TD);
    cache.setBundle({ ...bundleOf(ca), x509Authorities: [ca.cert.der, extra.cert.der] });
    const r4 = await s.next(4);
    expect(r4.version_info).toBe('3');
    expect(validator(decode(r4.resources[0]!)).find((t) => t.name === TD)?.pem).toBe(pemOf([ca.cert.der, extra.cert.der]));
    cache.setBundle(bundleOf(ca));
    await s.next(5);
    s.call.end();
    await new Promise<void>((resolve) => s.call.on('status', () => resolve()));
    expect(s.errors).toEqual([]);
  });

  it('an empty name list streams everything; a name the workload does not hold ends the stream INVALID_ARGUMENT', async () => {
    const s = openStream(sdsClient(socketPath));
    s.send({});
    const r1 = await s.next(1);
    expect(r1.resources.map(decode).map((x) => x.name)).toEqual([`spiffe://${TD}`, `spiffe://${ALPHA}`, `spiffe://${FED}`, WEB, DB]);
    s.send({ resource_names: [`spiffe://${TD}/other`], version_info: r1.version_info, response_nonce: r1.nonce });
    const err = await s.failure();
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toBe(`workload is not authorized for the requested identities ["spiffe://${TD}/other"]`);
  });

  it('a caller with no entries is streamed the bundle', async () => {
    const s = openStream(sdsClient(emptySocketPath));
    s.send({ resource_names: [`spiffe://${TD}`], node: oldEnvoy });
    const r1 = await s.next(1);
    const secret = decode(r1.resources[0]!);
    expect(Buffer.from(secret.validation_context!.trusted_ca!.inline_bytes!).toString('ascii')).toBe(bundlePem(bundleOf(ca)));
    s.call.cancel();
  });

  it('the server closing ends open streams UNAVAILABLE', async () => {
    const path = join(dir, 'closing.sock');
    const closing = new WorkloadApiServer({ cache, attestation: new WorkloadAttestation({ attestors: [procAttestor()], log }), trustDomain: TD, log, shutdownGraceMs: 500 });
    await closing.start(path);
    const s = openStream(sdsClient(path));
    s.send({ resource_names: ['default'] });
    await s.next(1);
    await closing.close();
    expect((await s.failure()).code).toBe(grpc.status.UNAVAILABLE);
  });
});

describe('SDS caller attestation and SVID readiness', () => {
  it('a failed workload attestation is UNAVAILABLE for both RPCs', async () => {
    const path = join(dir, 'failing.sock');
    const failing = { name: 'proc', attest: (): Promise<never> => Promise.reject(new Error('attestor exploded')) };
    const srv = new WorkloadApiServer({ cache, attestation: new WorkloadAttestation({ attestors: [failing], log }), trustDomain: TD, log, shutdownGraceMs: 500 });
    await srv.start(path);
    try {
      const c = sdsClient(path);
      await expect(fetchSecrets(c, {})).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE, details: 'workload attestation failed' });
      const s = openStream(c);
      s.send({});
      expect(await s.failure()).toMatchObject({ code: grpc.status.UNAVAILABLE, details: 'workload attestation failed' });
      expect(s.messages).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  it('a stream waits for the SVID of a matching entry that has none yet, then answers with version 1', async () => {
    const id = `spiffe://${TD}/late`;
    empty.setEntry({ entryId: 'late', spiffeId: id, selectors: [{ type: 'proc', value: `uid:${myUid}` }], hint: '', federatesWith: [], createdAt: 1 });
    try {
      const s = openStream(sdsClient(emptySocketPath));
      s.send({ resource_names: ['default'] });
      await s.quiet(0);
      empty.setX509Svid('late', await makeSvid(ca, id));
      const r1 = await s.next(1);
      expect(r1.version_info).toBe('1');
      expect(tlsLeaf(decode(r1.resources[0]!), [ca.cert.der]).subjectAltName).toBe(`URI:${id}`);
      s.call.cancel();
    } finally {
      empty.removeEntry('late');
    }
  });
});

describe('buildSdsResponse options', () => {
  it('honours renamed resources and disable_spiffe_cert_validation, with node metadata overriding config', async () => {
    const update = cache.fetchWorkloadUpdate([{ type: 'proc', value: `uid:${myUid}` }]);
    const opts = { defaultSvidName: 'svid', defaultBundleName: 'bundle', defaultAllBundlesName: 'everything', disableSpiffeCertValidation: true };
    const res = buildSdsResponse(opts, '7', { resource_names: ['svid', 'bundle'], type_url: SECRET_TYPE_URL, node: null }, update);
    expect(res.version_info).toBe('7');
    const secrets = res.resources.map(decode);
    expect(secrets.map((x) => x.name)).toEqual(['bundle', 'svid']);
    expect(secrets[0]!.validation_context?.trusted_ca).toBeDefined();
    expect(() => buildSdsResponse(opts, '7', { resource_names: ['everything'], type_url: SECRET_TYPE_URL, node: null }, update)).toThrow(/SPIFFE validator/);
    expect(() => buildSdsResponse(opts, '7', { resource_names: ['default'], type_url: SECRET_TYPE_URL, node: null }, update)).toThrow(/not authorized/);
    const optIn = { metadata: { fields: { disable_spiffe_cert_validation: { kind: 'boolValue' as const, boolValue: false } } } } as unknown as Parameters<typeof buildSdsResponse>[2]['node'];
    const all = buildSdsResponse(opts, '7', { resource_names: ['everything'], type_url: SECRET_TYPE_URL, node: optIn }, update).resources.map(decode);
    expect(validator(all[0]!).map((t) => t.name)).toEqual([ALPHA, TD, FED]);
  });
});

describe('SDS with the agent manager as the cache', () => {
  let h: Harness;
  let mgrDir: string;
  let mgrServer: WorkloadApiServer;

  beforeAll(async () => {
    h = await harness({ syncIntervalMs: 60_000 }, 60 * 60_000, Date.now());
    h.server.put(managerEntry('web', '/web', [`proc:uid:${myUid}`]));
    await h.manager.start();
    mgrDir = tempDir('sds-mgr-');
    mgrServer = new WorkloadApiServer({ cache: h.manager, attestation: new WorkloadAttestation({ attestors: [procAttestor()], log: h.log }), trustDomain: TD, log: h.log, shutdownGraceMs: 500 });
    await mgrServer.start(join(mgrDir, 'api.sock'));
  });

  afterAll(async () => {
    await mgrServer?.close();
    await h?.manager.stop();
    if (mgrDir) rmSync(mgrDir, { recursive: true, force: true });
  });

  it('streams the minted SVID and pushes the rotated one with a new version', async () => {
    const s = openStream(sdsClient(join(mgrDir, 'api.sock')));
    s.send({ resource_names: ['default', 'ROOTCA'], node: oldEnvoy });
    const r1 = await s.next(1);
    expect(r1.version_info).toBe('1');
    const [bundle1, svid1] = r1.resources.map(decode);
    const roots = pemDecode(Buffer.from(bundle1!.validation_context!.trusted_ca!.inline_bytes!).toString('ascii'), 'CERTIFICATE');
    const leaf1 = tlsLeaf(svid1!, roots);
    expect(leaf1.subjectAltName).toBe(`URI:${WEB}`);
    s.send({ resource_names: ['default', 'ROOTCA'], version_info: '1', response_nonce: r1.nonce });

    await h.runFor(35 * 60_000);
    const r2 = await s.next(2);
    expect(Number(r2.version_info)).toBeGreaterThan(1);
    const svid2 = decode(r2.resources[1]!);
    const chain = pemDecode(Buffer.from(svid2.tls_certificate!.certificate_chain.inline_bytes!).toString('ascii'), 'CERTIFICATE');
    expect(new X509Certificate(chain[0]!).serialNumber).not.toBe(leaf1.serialNumber);
    expect(validateX509Svid(chain[0]!, chain.slice(1), roots, h.time.now()).spiffeId.toString()).toBe(WEB);
    s.call.cancel();
  });
});
