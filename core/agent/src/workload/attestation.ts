/**
 * Workload attestation of a Workload API caller (SPIRE's
 * pkg/agent/attestor/workload and endpoints/peertracker.go): every
 * WorkloadAttestor runs in parallel on the caller's pid, under a time limit;
 * selectors of the attestors that succeed are kept when others fail, and all
 * failing is an error. Afterwards the caller is checked: the process
 * must still exist with the start time, uid and gid recorded when its
 * connection was accepted, else the selectors could describe another process
 * that was given the same pid.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import type { Logger } from '@spire-ts/common';
import { processStartTime } from '@spire-ts/peercred';
import type { Selector } from './cache.js';
import type { WorkloadAttestor } from './attestor-v1.js';

/** The caller as the kernel reported it when its connection was accepted. */
export interface CallerProcess {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  /** `/proc/<pid>/stat` start time at accept (see `processStartTime`). */
  readonly startTime: number;
}

/**
 * What {@link WorkloadAttestation.attest} needs of an `AbortSignal` (which
 * is one); a call's cancellation can provide it without allocating a signal.
 */
export interface CancelSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export type WorkloadAttestationErrorReason = 'timeout' | 'cancelled' | 'attestors-failed' | 'caller-gone';

/** Why a caller could not be attested; the Workload API answers UNAVAILABLE "workload attestation failed". */
export class WorkloadAttestationError extends Error {
  readonly reason: WorkloadAttestationErrorReason;

  constructor(reason: WorkloadAttestationErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WorkloadAttestationError';
    this.reason = reason;
  }
}

export interface WorkloadAttestationOptions {
  attestors: readonly WorkloadAttestor[];
  log: Logger;
  /** Longest the attestors may take together; default 30 s. */
  timeoutMs?: number;
  /** Where procfs is (SPIRE's HOST_PROC); default `/proc`. Only used for the state, uid and gid re-check. */
  procRoot?: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;

function gone(pid: number, why: string, cause?: unknown): WorkloadAttestationError {
  return new WorkloadAttestationError('caller-gone', `could not verify existence of the original caller (pid ${pid}): ${why}`, { cause });
}

/**
 * Throws {@link WorkloadAttestationError} `caller-gone` unless `caller.pid`
 * still names the process that connected: same start time, not a zombie,
 * `/proc/<pid>` still owned by the uid and gid the kernel reported at
 * `connect(2)` (SPIRE's watcher checks the same three things).
 *
 * @example
 * ```ts
 * const selectors = await runAttestors(caller.pid);
 * verifyCaller(caller); // the pid was not reused meanwhile
 * ```
 */
export function verifyCaller(caller: CallerProcess, procRoot = '/proc'): void {
  const { pid } = caller;
  // With the real procfs, one read of /proc/<pid>/stat gives both the start
  // time and the state (this runs twice per Workload API call).
  // The owner of /proc/<pid>/stat is the owner of /proc/<pid> (the kernel gives
  // every file of a process directory the process's dump owner), so one
  // open, read and fstat answer all three questions.
  const fast = procRoot === '/proc' && process.platform === 'linux';
  let stat: string | undefined;
  let owner: { uid: number; gid: number } | undefined;
  let now: number;
  try {
    if (fast) {
      ({ text: stat, owner } = readProcFile(`/proc/${pid}/stat`));
      now = parseStartTime(stat, pid);
    } else {
      now = processStartTime(pid);
    }
  } catch (err) {
    throw gone(pid, `failed to get starttime: ${(err as Error).message}`, err);
  }
  if (now !== caller.startTime) {
    throw gone(pid, `new process detected: process starttime ${now} does not match original caller ${caller.startTime}`);
  }
  try {
    stat ??= readFileSync(`${procRoot}/${pid}/stat`, 'latin1');
    owner ??= statSync(`${procRoot}/${pid}`);
  } catch (err) {
    throw gone(pid, `caller exit suspected: ${(err as Error).message}`, err);
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  if (state === 'Z' || state === 'X' || state === 'x') throw gone(pid, `caller has exited (process state ${state})`);
  if (owner.uid !== caller.uid) throw gone(pid, `new process detected: process uid ${owner.uid} does not match original caller ${caller.uid}`);
  if (owner.gid !== caller.gid) throw gone(pid, `new process detected: process gid ${owner.gid} does not match original caller ${caller.gid}`);
}

/** Reused by {@link readProcFile} (synchronous, so never shared between two reads). */
const procBuf = Buffer.allocUnsafe(4096);

/**
 * The text of a small procfs file and its owner. readFileSync allocates
 * 64 KiB per read for files that report size 0, as procfs files do; this
 * reads into one reused buffer.
 */
function readProcFile(path: string): { text: string; owner: { uid: number; gid: number } } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') throw new Error(`process ${path.split('/')[2]} does not exist`, { cause: err });
    throw err;
  }
  try {
    let n = 0;
    let text: string;
    for (;;) {
      const r = readSync(fd, procBuf, n, procBuf.length - n, null);
      n += r;
      // procfs renders the file whole on a read from its start: a newline-terminated read with
      // room to spare is all of it (no second read to see the end).
      if (r === 0 || (n < procBuf.length && procBuf[n - 1] === 0x0a)) {
        text = procBuf.toString('latin1', 0, n);
        break;
      }
      // Longer than any stat line: read the rest the ordinary way.
      if (n === procBuf.length) {
        text = procBuf.toString('latin1', 0, n) + readFileSync(fd, 'latin1');
        break;
      }
    }
    const { uid, gid } = fstatSync(fd);
    return { text, owner: { uid, gid } };
  } finally {
    closeSync(fd);
  }
}

/** Field 22 (start time, clock ticks since boot) of a /proc/<pid>/stat text, as `processStartTime` reads it. */
function parseStartTime(stat: string, pid: number): number {
  // comm (field 2) is parenthesised and may itself hold spaces and ')'.
  // Fields after it are single-space separated: skip to field 22 without splitting the line (this runs on every call).
  let at = stat.lastIndexOf(')') + 2;
  for (let field = 3; field < 22 && at > 0; field++) at = stat.indexOf(' ', at) + 1;
  const end = stat.indexOf(' ', at);
  const value = at > 0 ? Number(stat.slice(at, end < 0 ? undefined : end)) : NaN;
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`cannot parse the start time in /proc/${pid}/stat`);
  return value;
}

/**
 * @example
 * ```ts
 * const attestation = new WorkloadAttestation({ attestors: [unix], log });
 * const selectors = await attestation.attest(caller);
 * ```
 */
export class WorkloadAttestation {
  readonly #attestors: readonly WorkloadAttestor[];
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #procRoot: string;

  constructor(options: WorkloadAttestationOptions) {
    const names = new Set<string>();
    for (const a of options.attestors) {
      if (names.has(a.name)) throw new TypeError(`two workload attestors are named ${JSON.stringify(a.name)}`);
      names.add(a.name);
    }
    this.#attestors = [...options.attestors];
    this.#log = options.log;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(this.#timeoutMs > 0)) throw new TypeError(`timeoutMs must be positive, got ${String(options.timeoutMs)}`);
    this.#procRoot = options.procRoot ?? '/proc';
  }

  /**
   * The caller's selectors from every attestor, in attestor order, then the
   * re-check of {@link verifyCaller}. `signal` aborts the wait (the client
   * went away).
   *
   * @throws WorkloadAttestationError
   */
  async attest(caller: CallerProcess, signal?: CancelSignal): Promise<Selector[]> {
    // As SPIRE's PeerTrackerAttestor: the caller is checked once, after the
    // attestors. A pid reused before or during attestation has another start
    // time, so that one check covers both (a check before would only fail faster).
    const results = await this.#runAll(caller.pid, signal);
    const selectors: Selector[] = [];
    const errors: string[] = [];
    for (const [i, r] of results.entries()) {
      if (r.status === 'fulfilled') selectors.push(...r.value);
      else errors.push(`workload attestor ${JSON.stringify(this.#attestors[i]!.name)} failed: ${(r.reason as Error).message ?? String(r.reason)}`);
    }
    if (errors.length > 0) {
      if (errors.length === results.length) throw new WorkloadAttestationError('attestors-failed', errors.join('; '));
      this.#log.error('Failed to collect all selectors', { pid: caller.pid, error: errors.join('; ') });
    }
    verifyCaller(caller, this.#procRoot);
    return selectors;
  }

  /**
   * Every attestor's outcome, in attestor order, unless the time limit passes
   * or the caller goes away first. Hand-rolled rather than allSettled plus a
   * race: this runs on every Workload API call.
   */
  #runAll(pid: number, signal: CancelSignal | undefined): Promise<PromiseSettledResult<Selector[]>[]> {
    if (signal?.aborted) return Promise.reject(new WorkloadAttestationError('cancelled', 'the caller went away before attestation'));
    const attestors = this.#attestors;
    return new Promise((resolve, reject) => {
      const results: PromiseSettledResult<Selector[]>[] = new Array<PromiseSettledResult<Selector[]>>(attestors.length);
      let left = attestors.length;
      let settled = false;
      const settle = (err?: WorkloadAttestationError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(results);
      };
      const onAbort = (): void => settle(new WorkloadAttestationError('cancelled', 'the caller went away during attestation'));
      const timer = setTimeout(() => {
        const err = new WorkloadAttestationError('timeout', `workload attestors did not finish within ${this.#timeoutMs} ms`);
        this.#log.error('Timed out collecting selectors', { pid, error: err.message });
        settle(err);
      }, this.#timeoutMs);
      signal?.addEventListener('abort', onAbort);
      if (left === 0) settle();
      const opts = { deadlineMs: this.#timeoutMs };
      for (let i = 0; i < attestors.length; i++) {
        const a = attestors[i]!;
        let pending: Promise<Selector[]>;
        try {
          pending = a.attest(pid, opts);
        } catch (err) {
          pending = Promise.reject(err);
        }
        pending.then(
          (value) => {
            results[i] = { status: 'fulfilled', value };
            if (--left === 0) settle();
          },
          (reason: unknown) => {
            this.#log.error(`workload attestor ${JSON.stringify(a.name)} failed`, { pid, error: (reason as Error).message ?? String(reason) });
            results[i] = { status: 'rejected', reason };
            if (--left === 0) settle();
          },
        );
      }
    });
  }
}
