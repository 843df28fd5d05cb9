// Shared pieces of the Workload API tests: a real CA and SVIDs, a JWT key
// that signs through the memory KeyManager's digest signer, an in-process
// attestor that reads /proc, and a typed client.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync, randomUUID, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import {
  buildCertificate,
  caTemplate,
  keyObjectSigner,
  parseCertificate,
  jwtSvidSigningInput,
  signJwtSvid,
  x509SvidTemplate,
  type Bundle,
  type Certificate,
} from '@spire-ts/common';
import { createClient, type ServiceClientOf, type workload } from '@spire-ts/proto';
import type { JwtSvidMinter, Selector, WorkloadAttestor, WorkloadEntry, X509SvidMaterial } from '../src/workload/index.js';

export const NOBODY = 65534;
export const isRoot = process.getuid?.() === 0;

export interface TestCa {
  trustDomain: string;
  cert: Certificate;
  key: KeyObject;
}

const spki = (k: KeyObject): Uint8Array => new Uint8Array(k.export({ type: 'spki', format: 'der' }));

export async function makeCa(trustDomain: string): Promise<TestCa> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = await buildCertificate(caTemplate({ trustDomain, now: new Date(), ttlMs: 86_400_000 }), {
    publicKeyDer: spki(publicKey),
    signer: keyObjectSigner(privateKey),
  });
  return { trustDomain, cert: parseCertificate(der), key: privateKey };
}

export async function makeSvid(ca: TestCa, spiffeId: string, ttlMs = 3_600_000): Promise<X509SvidMaterial> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = await buildCertificate(x509SvidTemplate({ spiffeId, issuer: ca.cert, now: new Date(), ttlMs }), {
    publicKeyDer: spki(publicKey),
    issuer: ca.cert,
    signer: keyObjectSigner(ca.key),
  });
  return {
    certChainDer: [der],
    privateKeyPkcs8Der: new Uint8Array(privateKey.export({ type: 'pkcs8', format: 'der' })),
    expiresAt: parseCertificate(der).notAfter,
  };
}

export interface JwtKey {
  kid: string;
  privateKey: KeyObject;
  publicKeyDer: Uint8Array;
}

export function makeJwtKey(): Promise<JwtKey> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return Promise.resolve({ kid: randomUUID().replaceAll('-', ''), privateKey, publicKeyDer: spki(publicKey) });
}

export function bundleOf(ca: TestCa, jwtKeys: JwtKey[] = []): Bundle {
  return {
    trustDomain: ca.trustDomain,
    x509Authorities: [ca.cert.der],
    jwtAuthorities: jwtKeys.map((k) => ({ keyId: k.kid, publicKeyDer: k.publicKeyDer, expiresAt: 0 })),
    refreshHint: 0,
    sequenceNumber: 1,
  };
}

/** Mints ES256 JWT-SVIDs with `key`, as the server's CA would. */
export function jwtMinter(key: JwtKey, ttlMs = 300_000, minted: string[] = []): JwtSvidMinter {
  return async (entry, audience) => {
    const issuedAt = new Date();
    const expiresAt = new Date(issuedAt.getTime() + ttlMs);
    const params = { spiffeId: entry.spiffeId, audience, issuedAt, expiresAt, kid: key.kid, alg: 'ES256' as const };
    // Node signs messages, not digests: sign the JWS signing input itself, after
    // checking it is what the digest was made from (a KeyManager signs the digest).
    const input = Buffer.from(jwtSvidSigningInput(params), 'ascii');
    const token = await signJwtSvid({
      ...params,
      sign: (digest) => {
        if (!createHash('sha256').update(input).digest().equals(digest)) throw new Error('digest is not SHA-256 of the signing input');
        return cryptoSign('sha256', input, { key: key.privateKey, dsaEncoding: 'der' });
      },
    });
    minted.push(entry.entryId);
    return { token, expiresAt };
  };
}

/** An in-process attestor: `proc:uid:<euid>` and `proc:gid:<egid>` from /proc/<pid>/status. */
export function procAttestor(name = 'proc', hook?: (pid: number) => Promise<void>): WorkloadAttestor {
  return {
    name,
    async attest(pid: number): Promise<Selector[]> {
      await hook?.(pid);
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const uid = /^Uid:\t\d+\t(\d+)/m.exec(status)?.[1];
      const gid = /^Gid:\t\d+\t(\d+)/m.exec(status)?.[1];
      if (uid === undefined || gid === undefined) throw new Error(`cannot read ids of ${pid}`);
      return [
        { type: name, value: `uid:${uid}` },
        { type: name, value: `gid:${gid}` },
      ];
    },
  };
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

export type WorkloadClient = ServiceClientOf<'SpiffeWorkloadAPI'>;

export function workloadClient(socketPath: string): WorkloadClient {
  return createClient('SpiffeWorkloadAPI', `unix://${socketPath}`, grpc.credentials.createInsecure());
}

export function header(extra: Record<string, string> = {}, withHeader = true): grpc.Metadata {
  const md = new grpc.Metadata();
  if (withHeader) md.set('workload.spiffe.io', 'true');
  for (const [k, v] of Object.entries(extra)) md.set(k, v);
  return md;
}

/** The first message of a stream, or its error. */
export function firstMessage<T>(stream: grpc.ClientReadableStream<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    stream.once('data', resolve);
    stream.once('error', reject);
  });
}

/** Collects messages of an open stream; `next()` waits for the n-th. */
export function collect<T>(stream: grpc.ClientReadableStream<T>): { messages: T[]; errors: grpc.ServiceError[]; next(n: number, timeoutMs?: number): Promise<T> } {
  const messages: T[] = [];
  const errors: grpc.ServiceError[] = [];
  const waiters: Array<() => void> = [];
  stream.on('data', (m: T) => {
    messages.push(m);
    for (const w of waiters.splice(0)) w();
  });
  stream.on('error', (e: grpc.ServiceError) => {
    errors.push(e);
    for (const w of waiters.splice(0)) w();
  });
  return {
    messages,
    errors,
    next(n, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message #${n} within ${timeoutMs} ms (got ${messages.length}, errors ${errors.map((e) => e.message).join('; ')})`)), timeoutMs);
        const check = (): void => {
          if (messages.length >= n) {
            clearTimeout(timer);
            resolve(messages[n - 1]!);
          } else if (errors.length > 0) {
            clearTimeout(timer);
            reject(errors[0]!);
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}

export function fetchJwtSvid(c: WorkloadClient, req: workload.JWTSVIDRequest, md: grpc.Metadata): Promise<workload.JWTSVIDResponse__Output> {
  return new Promise((resolve, reject) => c.FetchJWTSVID(req, md, (err, res) => (err ? reject(err) : resolve(res!))));
}

export function validateJwtSvid(c: WorkloadClient, req: workload.ValidateJWTSVIDRequest, md: grpc.Metadata): Promise<workload.ValidateJWTSVIDResponse__Output> {
  return new Promise((resolve, reject) => c.ValidateJWTSVID(req, md, (err, res) => (err ? reject(err) : resolve(res!))));
}

export interface ChildClient {
  child: ChildProcess;
  firstLine: Promise<Record<string, unknown>>;
}

/** Runs fixtures/workload-client.mjs (optionally as another user). */
export function runClient(socketPath: string, ids?: { uid: number; gid: number }): ChildClient {
  const script = fileURLToPath(new URL('./fixtures/workload-client.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, socketPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: fileURLToPath(new URL('.', import.meta.url)),
    ...(ids ?? {}),
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout! });
  const firstLine = new Promise<Record<string, unknown>>((resolve, reject) => {
    lines.once('line', (line) => resolve(JSON.parse(line) as Record<string, unknown>));
    child.once('exit', (code, signal) => reject(new Error(`client exited (${String(code ?? signal)}) before printing: ${stderr}`)));
  });
  firstLine.catch(() => {});
  return { child, firstLine };
}

/** A registration entry with one `unix:<value>` selector. */
export const unixEntry = (id: string, spiffeId: string, value: string, extra: Partial<WorkloadEntry> = {}): WorkloadEntry => ({
  entryId: id,
  spiffeId,
  selectors: [{ type: 'unix', value }],
  hint: '',
  federatesWith: [],
  createdAt: 1,
  ...extra,
});
