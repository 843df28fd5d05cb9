/**
 * Driving a TPM through tpm2-tools (the `tpm2_*` commands of the tpm2-tools
 * package, 5.x): every call is an execFile (no shell) with a timeout and
 * bounded output, against an explicit TCTI (`device:/dev/tpmrm0`,
 * `swtpm:host=…,port=…`, …), in a private 0700 scratch directory that is
 * removed afterwards.
 *
 * Object hygiene. A tool that loads an object from a context file leaves the
 * loaded copy in the TPM when it exits; behind a resource manager
 * (/dev/tpmrm0) the kernel flushes it when the connection closes, but a TPM
 * used directly (swtpm, /dev/tpm0) keeps it, and a TPM only has room for a
 * handful of transient objects. So each call is bracketed: the transient
 * handles present before the call are listed, and whatever the call left
 * loaded is flushed afterwards. Objects persist between calls only as
 * context files. Calls are serialised per TCTI so that the bracketing sees
 * only our own objects (a TPM without a resource manager is single-user
 * anyway).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How long a single tpm2-tools command may run. */
export const TOOL_TIMEOUT_MS = 30_000;
const MAX_OUTPUT = 1 << 20;
/** The most bytes read back from a file a tool wrote. */
const MAX_FILE = 1 << 16;

export class TpmToolError extends Error {
  constructor(
    message: string,
    readonly tool: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'TpmToolError';
  }
}

/** The last meaningful stderr lines of a tool (tpm2-tools prints its error chain there). */
function stderrSummary(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('WARN: Tool optionally uses SAPI'));
  const text = lines.slice(-6).join('; ');
  return text.length > 800 ? `${text.slice(0, 800)}…` : text;
}

function exec(tool: string, args: readonly string[], tcti: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      tool,
      args,
      {
        timeout: timeoutMs,
        maxBuffer: MAX_OUTPUT,
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TPM2TOOLS_TCTI: tcti, ...(process.env.LD_LIBRARY_PATH ? { LD_LIBRARY_PATH: process.env.LD_LIBRARY_PATH } : {}) },
        windowsHide: true,
      },
      (err, stdout, stderr) => {
        if (!err) {
          resolve(stdout);
          return;
        }
        const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null; code?: number | string | null };
        if (e.code === 'ENOENT') {
          reject(new TpmToolError(`${tool} not found in PATH: install tpm2-tools (5.x)`, tool, ''));
          return;
        }
        if (e.killed || e.signal) {
          reject(new TpmToolError(`${tool} did not finish within ${timeoutMs} ms (TCTI ${tcti})`, tool, stderr));
          return;
        }
        const why = stderrSummary(stderr) || `exit code ${String(e.code)}`;
        reject(new TpmToolError(`${tool} failed: ${why}`, tool, stderr));
      },
    );
  });
}

const locks = new Map<string, Promise<void>>();

/** Runs `fn` with exclusive use of the TPM behind `tcti` (within this process). */
export async function withTpmLock<T>(tcti: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(tcti) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const chained = prev.then(() => mine);
  locks.set(tcti, chained);
  await prev;
  try {
    return await fn();
  } finally {
    release();
    if (locks.get(tcti) === chained) locks.delete(tcti);
  }
}

const HANDLE_LINE = /^- (0x[0-9a-f]+)$/i;

const SCRATCH_PREFIX = 'spire-tpm-devid-';
const SCRATCH_NAME = /^spire-tpm-devid-(\d+)-[A-Za-z0-9]{6}$/;
let sweeping: Promise<void> | undefined;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes scratch directories that a killed plugin process left behind
 * (they may hold auth files): ours by name and owner, whose process is gone.
 * Runs once per process.
 */
async function sweepStale(): Promise<void> {
  const base = tmpdir();
  const uid = process.getuid?.();
  for (const name of await readdir(base)) {
    const m = SCRATCH_NAME.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || alive(pid)) continue;
    const path = join(base, name);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
    await rm(path, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** A scratch directory and a TCTI: the context of one TPM conversation. */
export class Tpm2Tools {
  private constructor(
    readonly tcti: string,
    readonly dir: string,
    private readonly timeoutMs: number,
  ) {}

  static async open(tcti: string, timeoutMs = TOOL_TIMEOUT_MS): Promise<Tpm2Tools> {
    sweeping ??= sweepStale().catch(() => undefined);
    await sweeping;
    const dir = await mkdtemp(join(tmpdir(), `${SCRATCH_PREFIX}${process.pid}-`));
    // mkdtemp creates the directory 0700.
    return new Tpm2Tools(tcti, dir, timeoutMs);
  }

  /** A path in the scratch directory. */
  path(name: string): string {
    return join(this.dir, name);
  }

  async writeFile(name: string, data: Uint8Array | string): Promise<string> {
    const p = this.path(name);
    await writeFile(p, data, { mode: 0o600 });
    return p;
  }

  async readFile(name: string): Promise<Buffer> {
    const data = await readFile(this.path(name));
    if (data.length > MAX_FILE) throw new Error(`${name} written by tpm2-tools is ${data.length} bytes, more than ${MAX_FILE}`);
    return data;
  }

  /**
   * An auth value argument: empty passwords are omitted; others go through
   * a file so they never appear on a command line.
   */
  async auth(name: string, password: string): Promise<string | undefined> {
    if (password === '') return undefined;
    return `file:${await this.writeFile(`${name}.auth`, password)}`;
  }

  /** The transient object handles currently loaded (as this connection sees them). */
  async transientHandles(): Promise<Set<string>> {
    const out = await exec('tpm2_getcap', ['handles-transient'], this.tcti, this.timeoutMs);
    const set = new Set<string>();
    for (const line of out.split('\n')) {
      const m = HANDLE_LINE.exec(line.trim());
      if (m) set.add(m[1]!.toLowerCase());
    }
    return set;
  }

  /** Runs one tool; flushes any transient object it left loaded. Returns its stdout. */
  async run(tool: string, args: readonly string[]): Promise<string> {
    const before = await this.transientHandles();
    let out: string;
    try {
      out = await exec(tool, args, this.tcti, this.timeoutMs);
    } catch (err) {
      // The tool's error is the one worth reporting; a failed clean-up must not hide it.
      await this.flushNew(before).catch(() => undefined);
      throw err;
    }
    await this.flushNew(before);
    return out;
  }

  /** Runs a tool that leaves nothing loaded (no bracketing). */
  runPlain(tool: string, args: readonly string[]): Promise<string> {
    return exec(tool, args, this.tcti, this.timeoutMs);
  }

  private async flushNew(before: Set<string>): Promise<void> {
    const after = await this.transientHandles();
    for (const h of after) {
      if (before.has(h)) continue;
      await exec('tpm2_flushcontext', [h], this.tcti, this.timeoutMs);
    }
  }

  /** Removes the scratch directory (context files, blobs, auth files). */
  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** `args` with `[flag, value]` appended when value is defined. */
export function opt(args: string[], flag: string, value: string | undefined): string[] {
  if (value !== undefined) args.push(flag, value);
  return args;
}
