/**
 * Workload X.509-SVID issuance: a fresh key per SVID generated in the agent's
 * memory (workload keys are handed to workloads, so, as in SPIRE, they never
 * live in the KeyManager), a CSR with the SPIFFE ID as URI SAN, and one
 * BatchNewX509SVID call per batch. Each returned chain is checked against the
 * request before it is accepted.
 *
 * Memory: a sync of ten thousand entries mints ten thousand SVIDs, so what a
 * mint leaves behind matters more than what it keeps. Keys are generated and
 * their CSRs signed a slice at a time, and each key leaves the slice as DER
 * bytes only: a KeyObject (an OpenSSL key of a few kilobytes outside the
 * JavaScript heap) that lived on across the server call would be promoted to
 * V8's old generation and freed only by a full collection, which a sync may
 * not see. EC keys are generated synchronously in small slices, which costs
 * less than the thread pool's round trip and keeps OpenSSL's allocations in
 * the main thread's malloc arena; RSA keys take too long for that and come
 * from the thread pool, as DER. The SVIDs of a batch are stored in one byte
 * slab (chains and keys side by side), so ten thousand SVIDs are a few dozen
 * allocations rather than twenty thousand small ones that fragment the heap.
 * A slab is freed when the last of its SVIDs is dropped; as every SVID is
 * renewed before it expires, an SVID dropped early (its entry changed or
 * went away) keeps its few hundred bytes for at most one SVID lifetime.
 */
import { createPrivateKey, generateKeyPair, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { buildCSR, parseCertificate, type KeyType } from '@spire-ts/common';
import type { AgentServerApi, X509SvidResult } from '../node/server-api.js';
import type { DueSvid } from './identity-cache.js';

/** SPIRE signs at most this many CSRs per BatchNewX509SVID call from one agent (limits.SignLimitPerIP). */
export const MAX_X509_BATCH = 500;

/**
 * Keys generated and CSRs signed per turn of the event loop. An EC P-256 key
 * and its CSR take a few hundred microseconds, so a slice keeps the Workload
 * API waiting for a few milliseconds at most.
 */
export const KEYGEN_SLICE = 16;

const genKeyPair = promisify(generateKeyPair);

/** A new private key of `type`. */
export async function generateWorkloadKey(type: KeyType): Promise<KeyObject> {
  switch (type) {
    case 'ec-p256':
      return (await genKeyPair('ec', { namedCurve: 'P-256' })).privateKey;
    case 'ec-p384':
      return (await genKeyPair('ec', { namedCurve: 'P-384' })).privateKey;
    case 'rsa-2048':
      return (await genKeyPair('rsa', { modulusLength: 2048 })).privateKey;
    case 'rsa-4096':
      return (await genKeyPair('rsa', { modulusLength: 4096 })).privateKey;
    default:
      throw new RangeError(`unsupported workload key type ${JSON.stringify(type as string)}`);
  }
}

const DER_SPKI = { type: 'spki', format: 'der' } as const;
const DER_PKCS8 = { type: 'pkcs8', format: 'der' } as const;

/** A workload key pair as DER, with the CSR for one SPIFFE ID. */
interface KeyedCsr {
  readonly spki: Uint8Array;
  readonly pkcs8: Buffer;
  readonly csr: Uint8Array;
}

/** An EC key (synchronous: well under a millisecond) and its CSR, leaving no KeyObject behind. */
function ecKeyedCsr(namedCurve: 'P-256' | 'P-384', spiffeId: string): KeyedCsr {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve });
  return { spki: publicKey.export(DER_SPKI), pkcs8: privateKey.export(DER_PKCS8), csr: buildCSR(privateKey, { uris: [spiffeId] }) };
}

/** An RSA key from the thread pool (seconds of CPU at worst: not on the event loop) and its CSR. */
async function rsaKeyedCsr(modulusLength: number, spiffeId: string): Promise<KeyedCsr> {
  const { publicKey: spki, privateKey: pkcs8 } = await genKeyPair('rsa', { modulusLength, publicKeyEncoding: DER_SPKI, privateKeyEncoding: DER_PKCS8 });
  return { spki, pkcs8, csr: buildCSR(createPrivateKey({ key: pkcs8, ...DER_PKCS8 }), { uris: [spiffeId] }) };
}

function keyedCsrs(due: readonly DueSvid[], type: KeyType): KeyedCsr[] | Promise<KeyedCsr[]> {
  switch (type) {
    case 'ec-p256':
      return due.map((d) => ecKeyedCsr('P-256', d.spiffeId));
    case 'ec-p384':
      return due.map((d) => ecKeyedCsr('P-384', d.spiffeId));
    case 'rsa-2048':
      return Promise.all(due.map((d) => rsaKeyedCsr(2048, d.spiffeId)));
    case 'rsa-4096':
      return Promise.all(due.map((d) => rsaKeyedCsr(4096, d.spiffeId)));
    default:
      throw new RangeError(`unsupported workload key type ${JSON.stringify(type as string)}`);
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The keys and CSRs of a batch, packed in one buffer: for each SVID its
 * SPKI, PKCS#8 key and CSR, one after the other. A batch waits for the
 * server's answer with them, long enough for V8 to promote what it holds to
 * the old generation; one buffer there, rather than three small ones per
 * SVID, is one allocation to free after the batch.
 */
class CsrBatch {
  #bytes: Uint8Array;
  #length = 0;
  /** End offset of each part: SPKI, key and CSR of SVID i at 3i, 3i+1, 3i+2. */
  readonly #ends: Uint32Array;

  constructor(readonly count: number, estimate: number) {
    this.#bytes = new Uint8Array(estimate);
    this.#ends = new Uint32Array(count * 3);
  }

  /** Appends the parts of the next SVID, clearing the key's own copy. */
  add(i: number, k: KeyedCsr): void {
    this.#put(3 * i, k.spki);
    this.#put(3 * i + 1, k.pkcs8);
    this.#put(3 * i + 2, k.csr);
    k.pkcs8.fill(0);
  }

  #put(part: number, bytes: Uint8Array): void {
    if (this.#length + bytes.length > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(2 * this.#bytes.length, this.#length + bytes.length));
      grown.set(this.#bytes.subarray(0, this.#length));
      this.#bytes.fill(0);
      this.#bytes = grown;
    }
    this.#bytes.set(bytes, this.#length);
    this.#length += bytes.length;
    this.#ends[part] = this.#length;
  }

  #part(part: number): Uint8Array {
    return this.#bytes.subarray(part === 0 ? 0 : (this.#ends[part - 1] as number), this.#ends[part]);
  }

  spki(i: number): Uint8Array {
    return this.#part(3 * i);
  }

  pkcs8(i: number): Uint8Array {
    return this.#part(3 * i + 1);
  }

  csr(i: number): Uint8Array {
    return this.#part(3 * i + 2);
  }

  /** Clears the private keys (the buffer is garbage once the batch is stored, but holds keys). */
  wipe(): void {
    this.#bytes.fill(0);
  }
}

/** Bytes of an SPKI, key and CSR of `type` besides the SPIFFE ID (a generous estimate; the buffer grows if needed). */
const CSR_BATCH_ESTIMATE: Readonly<Record<string, number>> = { 'ec-p256': 512, 'ec-p384': 640, 'rsa-2048': 2048, 'rsa-4096': 4096 };

/** Keys and CSRs for `due`, {@link KEYGEN_SLICE} at a time, yielding to the event loop between slices. */
async function prepareCsrs(due: readonly DueSvid[], type: KeyType): Promise<CsrBatch> {
  const per = CSR_BATCH_ESTIMATE[type] ?? 4096;
  const batch = new CsrBatch(due.length, due.reduce((n, d) => n + per + d.spiffeId.length, 0));
  try {
    for (let i = 0; i < due.length; i += KEYGEN_SLICE) {
      if (i > 0) await nextTurn();
      const keyed = await keyedCsrs(due.slice(i, i + KEYGEN_SLICE), type);
      keyed.forEach((k, j) => batch.add(i + j, k));
    }
  } catch (err) {
    batch.wipe();
    throw err;
  }
  return batch;
}

export type MintOutcome =
  | {
      readonly ok: true;
      readonly due: DueSvid;
      /** Views of the batch's slab: the receiver keeps them as they are. */
      readonly certChainDer: readonly Uint8Array[];
      readonly privateKeyPkcs8Der: Uint8Array;
      readonly notBefore: Date;
      readonly notAfter: Date;
    }
  | { readonly ok: false; readonly due: DueSvid; readonly code: number; readonly message: string };

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));

/** Why `chain` is not an acceptable SVID for `due` with key `spki`, or its validity period if it is. */
function checkChain(chain: readonly Uint8Array[], due: DueSvid, spki: Uint8Array, now: Date): string | { notBefore: Date; notAfter: Date } {
  if (!Array.isArray(chain) || chain.length === 0) return 'the server returned an empty certificate chain';
  let leaf;
  try {
    leaf = parseCertificate(chain[0] as Uint8Array);
  } catch (err) {
    return `the server returned an unparsable X.509-SVID: ${(err as Error).message}`;
  }
  const uris = leaf.extensions.subjectAltName?.uris ?? [];
  if (uris.length !== 1 || uris[0] !== due.spiffeId) return `the server returned an X.509-SVID for ${JSON.stringify(uris)}, expected ${due.spiffeId}`;
  if (!sameBytes(leaf.publicKey.der, spki)) return 'the server returned an X.509-SVID for another public key';
  if (leaf.notAfter.getTime() <= now.getTime()) return `the server returned an X.509-SVID that expired at ${leaf.notAfter.toISOString()}`;
  return { notBefore: leaf.notBefore, notAfter: leaf.notAfter };
}

/**
 * Issues SVIDs for up to {@link MAX_X509_BATCH} entries in one call. Rejects
 * when the call itself fails (or answers with the wrong number of results);
 * a per-entry failure is an `ok: false` outcome.
 */
export async function mintX509Batch(api: AgentServerApi, due: readonly DueSvid[], keyType: KeyType, now: () => Date): Promise<MintOutcome[]> {
  if (due.length === 0) return [];
  if (due.length > MAX_X509_BATCH) throw new RangeError(`at most ${MAX_X509_BATCH} CSRs per batch, got ${due.length}`);
  const batch = await prepareCsrs(due, keyType);
  try {
    return mintPrepared(await api.batchNewX509Svid(due.map((d, i) => ({ entryId: d.entryId, csr: batch.csr(i) }))), due, batch, now());
  } finally {
    batch.wipe();
  }
}

function mintPrepared(results: readonly X509SvidResult[], due: readonly DueSvid[], batch: CsrBatch, at: Date): MintOutcome[] {
  if (!Array.isArray(results) || results.length !== due.length) {
    throw new Error(`BatchNewX509SVID returned ${Array.isArray(results) ? results.length : 'no'} results for ${due.length} requests`);
  }
  const checked = results.map((r, i): { chain: readonly Uint8Array[]; notBefore: Date; notAfter: Date } | { code: number; message: string } => {
    const d = due[i] as DueSvid;
    if (r.entryId !== d.entryId) return { code: 13, message: `result ${i} is for entry ${JSON.stringify(r.entryId)}, expected ${JSON.stringify(d.entryId)}` };
    if (!r.ok) return { code: r.code, message: r.message };
    const c = checkChain(r.certChain, d, batch.spki(i), at);
    return typeof c === 'string' ? { code: 13, message: c } : { chain: r.certChain, ...c };
  });
  // One slab for the batch's chains and keys: what the cache keeps.
  let size = 0;
  checked.forEach((c, i) => {
    if ('chain' in c) size += c.chain.reduce((n, der) => n + der.length, batch.pkcs8(i).length);
  });
  const slab = new Uint8Array(size);
  let end = 0;
  const place = (der: Uint8Array): Uint8Array => {
    slab.set(der, end);
    end += der.length;
    return slab.subarray(end - der.length, end);
  };
  return checked.map((c, i): MintOutcome => {
    const d = due[i] as DueSvid;
    if (!('chain' in c)) return { ok: false, due: d, code: c.code, message: c.message };
    return {
      ok: true,
      due: d,
      certChainDer: Object.freeze(c.chain.map(place)),
      privateKeyPkcs8Der: place(batch.pkcs8(i)),
      notBefore: c.notBefore,
      notAfter: c.notAfter,
    };
  });
}
