/**
 * CSR checks for SVID issuance on worker threads. Issuing an X.509-SVID costs
 * the server three expensive things per CSR: importing the CSR's public key
 * into OpenSSL (~35–45 µs for P-256, and it must happen on the calling
 * thread), verifying the CSR signature (~40 µs) and the CA signature (in the
 * KeyManager plugin). On the event loop the first two made the server's main
 * thread the bottleneck of BatchNewX509SVID; here the main thread only
 * parses the CSR (a few µs, with every structural check) and worker threads
 * verify the signature (csr-verify.ts: P-256 through the @spire-ts/ecverify
 * addon, without the key import), batched per event-loop turn.
 *
 * Nothing is trusted from a worker but a boolean about bytes the main thread
 * chose. A worker that dies fails nothing: its jobs are re-checked on the
 * main thread and a new worker is started on demand (after repeated deaths
 * the pool stays on the main thread and says so).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { SwapQueue } from '@spire-ts/plugin-sdk';
import { verifyCsrSignature } from './csr-verify.js';
import {
  X509Error,
  parseCSRUnchecked,
  type CertificateRequest,
  type Logger,
  type UncheckedCertificateRequest,
  type VerifyAlgorithm,
} from '@spire-ts/common';

/** One CSR to check: its SPKI, CertificationRequestInfo and signature laid end to end in the request's bytes. */
export interface CheckJob {
  id: number;
  alg: VerifyAlgorithm;
  start: number;
  /** Ends of the SPKI, the info and the signature. */
  ends: [number, number, number];
}

/** Main thread → worker: one batch. `bytes` is transferred, not copied. */
export interface CheckRequest {
  bytes: ArrayBuffer;
  jobs: CheckJob[];
}

export type CheckResult = { id: number; valid: boolean } | { id: number; error: string };

/** Worker → main thread. */
export interface CheckResponse {
  results: CheckResult[];
}

interface Job {
  id: number;
  csr: UncheckedCertificateRequest;
  resolve(value: CertificateRequest): void;
  reject(err: unknown): void;
}

interface Slot {
  worker: Worker | undefined;
  /** Sent to the worker, not answered yet. */
  inFlight: JobFifo;
  /** Waiting for this turn's flush. */
  readonly queued: SwapQueue<Job>;
}

/**
 * The jobs sent to a worker, in the order sent, which is the order its
 * answers come in. The pool lives as long as the server, so V8 soon holds it
 * in its old generation; a `Map` by job id rebuilt its table every few jobs,
 * and the replaced tables, left in the old generation still pointing at
 * their jobs, kept every job's request message alive until a full
 * collection. Here a job's slot is cleared when it is answered and the array
 * is emptied in place once all are.
 */
class JobFifo {
  #items: Array<Job | undefined> = [];
  #head = 0;

  get size(): number {
    return this.#items.length - this.#head;
  }

  push(job: Job): void {
    this.#items.push(job);
  }

  /** Removes and returns the job with `id` (normally the oldest). */
  take(id: number): Job | undefined {
    const items = this.#items;
    for (let i = this.#head; i < items.length; i++) {
      const job = items[i];
      if (job?.id !== id) continue;
      items[i] = undefined;
      while (this.#head < items.length && items[this.#head] === undefined) this.#head++;
      if (this.#head === items.length) {
        items.length = 0;
        this.#head = 0;
      }
      return job;
    }
    return undefined;
  }

  /** Removes and returns every job still in flight, oldest first. */
  takeAll(): Job[] {
    const out = this.#items.slice(this.#head).filter((j): j is Job => j !== undefined);
    this.#items.length = 0;
    this.#head = 0;
    return out;
  }
}

export interface CsrCheckPoolOptions {
  /** Worker threads; 0 checks on the calling thread. Default: one per core beyond the first, at most 4. */
  threads?: number;
  log?: Logger;
}

/** A worker dying this many times within {@link DEATH_WINDOW_MS} leaves the pool on the main thread. */
const MAX_DEATHS = 3;
const DEATH_WINDOW_MS = 60_000;
// The compiled worker beside this module; when this module runs from its
// TypeScript source (the tests), the compiled one in dist/.
const WORKER_URL = import.meta.url.endsWith('.ts')
  ? new URL('../../dist/api/csr-check-worker.js', import.meta.url)
  : new URL('./csr-check-worker.js', import.meta.url);

/** The default worker count: every core but the one the event loop runs on, at most 4. */
export function defaultCsrCheckThreads(): number {
  return Math.max(0, Math.min(4, availableParallelism() - 1));
}

/** Same outcome as `parseCSRAsync` for a parsed CSR: verdict, or the key OpenSSL refused. */
async function checkInline(csr: UncheckedCertificateRequest): Promise<CertificateRequest> {
  return { ...csr, signatureValid: await verifyCsrSignature(csr.signatureAlgorithm, csr.publicKey, csr.info, csr.signature) };
}

/**
 * @example
 * ```ts
 * const pool = new CsrCheckPool({ log });
 * const csr = await pool.check(der); // throws X509Error like parseCSRAsync
 * if (!csr.signatureValid) throw invalidArgument('invalid CSR signature');
 * ```
 */
export class CsrCheckPool {
  readonly #slots: Slot[];
  readonly #log: Logger | undefined;
  #next = 0;
  #nextId = 1;
  #flushScheduled = false;
  #deaths: number[] = [];
  /** Too many worker deaths, or closed: everything is checked inline. */
  #inline: boolean;

  constructor(o: CsrCheckPoolOptions = {}) {
    const threads = o.threads ?? defaultCsrCheckThreads();
    if (!Number.isInteger(threads) || threads < 0) throw new RangeError(`threads must be a non-negative integer, got ${String(threads)}`);
    this.#slots = Array.from({ length: threads }, () => ({ worker: undefined, inFlight: new JobFifo(), queued: new SwapQueue<Job>() }));
    this.#log = o.log;
    this.#inline = threads === 0;
  }

  /** Worker threads currently running. */
  get runningThreads(): number {
    return this.#slots.filter((s) => s.worker !== undefined).length;
  }

  /**
   * Parses `der` (synchronously, throwing X509Error on a malformed CSR, as a
   * rejected promise) and checks its signature with its own key.
   */
  check(der: Uint8Array): Promise<CertificateRequest> {
    let csr: UncheckedCertificateRequest;
    try {
      csr = parseCSRUnchecked(der);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#inline) return checkInline(csr);
    return new Promise<CertificateRequest>((resolve, reject) => {
      const slot = this.#slots[this.#next]!;
      this.#next = (this.#next + 1) % this.#slots.length;
      slot.queued.push({ id: this.#nextId++, csr, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        // A batch's CSRs are all queued in the same turn: one message per worker for all of them.
        queueMicrotask(() => this.#flush());
      }
    });
  }

  /** Stops the workers; checks still queued or in flight finish on the main thread. */
  async close(): Promise<void> {
    this.#inline = true;
    await Promise.all(this.#slots.map((s) => this.#retire(s)));
  }

  #flush(): void {
    this.#flushScheduled = false;
    for (const slot of this.#slots) {
      slot.queued.drain((jobs) => {
        if (this.#inline) for (const j of jobs) checkInline(j.csr).then(j.resolve, j.reject);
        else this.#send(slot, jobs);
      });
    }
  }

  #send(slot: Slot, jobs: readonly Job[]): void {
    let size = 0;
    for (const j of jobs) size += j.csr.publicKeyDer.length + j.csr.info.length + j.csr.signature.length;
    // The CSR fields are views of the whole request message: copy just them into one buffer to transfer.
    const bytes = new Uint8Array(size);
    const meta: CheckJob[] = [];
    let at = 0;
    for (const j of jobs) {
      const start = at;
      bytes.set(j.csr.publicKeyDer, at);
      at += j.csr.publicKeyDer.length;
      const spkiEnd = at;
      bytes.set(j.csr.info, at);
      at += j.csr.info.length;
      const infoEnd = at;
      bytes.set(j.csr.signature, at);
      at += j.csr.signature.length;
      meta.push({ id: j.id, alg: j.csr.signatureAlgorithm, start, ends: [spkiEnd, infoEnd, at] });
      slot.inFlight.push(j);
    }
    let worker: Worker;
    try {
      worker = slot.worker ?? this.#start(slot);
    } catch (err) {
      this.#log?.warn('CSR check worker could not start; checking CSRs on the main thread', { error: (err as Error).message });
      this.#died();
      this.#failOver(slot);
      return;
    }
    const request: CheckRequest = { bytes: bytes.buffer, jobs: meta };
    worker.postMessage(request, [bytes.buffer]);
    // Checks in flight keep the process alive; an idle worker does not.
    worker.ref();
  }

  #start(slot: Slot): Worker {
    const worker = new Worker(WORKER_URL);
    slot.worker = worker;
    worker.on('message', (msg: CheckResponse) => {
      for (const r of msg.results) {
        const job = slot.inFlight.take(r.id);
        if (!job) continue;
        if ('error' in r) job.reject(new X509Error('ERR_X509_PARSE', r.error));
        else job.resolve({ ...job.csr, signatureValid: r.valid });
      }
      if (slot.inFlight.size === 0) worker.unref();
    });
    worker.on('error', (err) => {
      this.#log?.warn('CSR check worker failed; its checks are redone on the main thread', { error: err.message });
    });
    worker.on('exit', (code) => {
      if (slot.worker !== worker) return;
      slot.worker = undefined;
      if (!this.#inline) {
        this.#log?.warn('CSR check worker exited; its checks are redone on the main thread', { code });
        this.#died();
      }
      this.#failOver(slot);
    });
    // Idle, never what keeps the process alive (after the listeners: adding a 'message' listener refs the port again).
    worker.unref();
    return worker;
  }

  /** Records a worker death; too many recently and the pool stops using workers. */
  #died(): void {
    const now = Date.now();
    this.#deaths = [...this.#deaths.filter((t) => now - t < DEATH_WINDOW_MS), now];
    if (this.#deaths.length >= MAX_DEATHS && !this.#inline) {
      this.#inline = true;
      this.#log?.error('CSR check workers keep failing; checking CSRs on the main thread from now on', { deaths: this.#deaths.length });
      for (const s of this.#slots) void this.#retire(s);
    }
  }

  /** Re-checks everything a slot had sent or queued on the main thread. */
  #failOver(slot: Slot): void {
    const jobs = slot.inFlight.takeAll();
    slot.queued.drain((queued) => jobs.push(...queued));
    for (const j of jobs) checkInline(j.csr).then(j.resolve, j.reject);
  }

  async #retire(slot: Slot): Promise<void> {
    const worker = slot.worker;
    slot.worker = undefined;
    this.#failOver(slot);
    if (worker) await worker.terminate();
  }
}

let shared: CsrCheckPool | undefined;

/** The process's pool (workers start on first use). */
export function sharedCsrCheckPool(log?: Logger): CsrCheckPool {
  shared ??= new CsrCheckPool(log ? { log } : {});
  return shared;
}
