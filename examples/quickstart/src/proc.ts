/**
 * The quickstart's child processes: each one's output goes to a log file
 * (and, for the demo workloads, to our stdout prefixed with its name), can be
 * waited on for a line, and is stopped with SIGTERM, then SIGKILL. Every
 * child ever started is registered so shutdown can stop all of them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ChildOptions {
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Appends the output here. */
  logFile?: string;
  /** Echoes each output line to stdout as `  <name> | <line>`. */
  echo?: boolean;
  cwd?: string;
}

const children = new Set<Child>();

/** Every child started and not yet exited. */
export function runningChildren(): Child[] {
  return [...children].filter((c) => c.exit === undefined);
}

/** A node child process running `script` with `args`. */
export class Child {
  readonly proc: ChildProcess;
  readonly pid: number;
  output = '';
  exit: ExitStatus | undefined;
  readonly exited: Promise<ExitStatus>;
  /** Set when we asked it to stop (an exit is then expected). */
  stopping = false;
  readonly #waiters = new Set<() => void>();
  #partial = '';

  constructor(
    readonly name: string,
    script: string,
    args: readonly string[],
    readonly opts: ChildOptions = {},
  ) {
    this.proc = spawn(process.execPath, [script, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (this.proc.pid === undefined) throw new Error(`cannot start ${name}: ${process.execPath} ${script}`);
    this.pid = this.proc.pid;
    children.add(this);
    this.proc.stdout!.on('data', (d: Buffer) => this.#append(d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => this.#append(d.toString()));
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        if (this.#partial !== '') this.#append('\n');
        this.exit = { code, signal };
        for (const w of this.#waiters) w();
        resolve(this.exit);
      });
    });
    // A child that fails to spawn emits 'error' and no 'exit'.
    this.proc.once('error', (err) => {
      if (this.exit) return;
      this.#append(`${err.message}\n`);
      this.exit = { code: 127, signal: null };
      for (const w of this.#waiters) w();
    });
  }

  #append(text: string): void {
    this.output += text;
    if (this.opts.logFile) appendFileSync(this.opts.logFile, text);
    if (this.opts.echo) {
      const lines = (this.#partial + text).split('\n');
      this.#partial = lines.pop()!;
      for (const l of lines) process.stdout.write(`  ${this.name.padEnd(11)} | ${l}\n`);
    }
    for (const w of this.#waiters) w();
  }

  /**
   * Resolves with the first match of `pattern` in the output after offset
   * `from`; rejects when the child exits first or after `timeoutMs`.
   */
  waitFor(pattern: RegExp | string, timeoutMs: number, from = 0): Promise<RegExpExecArray> {
    const re = typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : pattern;
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const m = re.exec(this.output.slice(from));
        if (m) done(() => resolve(m));
        else if (this.exit) done(() => reject(new ChildError(this, `${this.name} exited (${describeExit(this.exit!)}) before it was ready`)));
      };
      const timer = setTimeout(() => done(() => reject(new ChildError(this, `${this.name} was not ready within ${timeoutMs / 1000} s`))), timeoutMs);
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        settle();
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  async stop(graceMs = 5_000): Promise<ExitStatus> {
    this.stopping = true;
    if (this.exit) return this.exit;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
      children.delete(this);
    }
  }

  /** The last `n` lines of output. */
  tail(n = 15): string {
    return this.output.trimEnd().split('\n').slice(-n).join('\n');
  }
}

export interface StopAllOptions {
  /**
   * Stopping because we got a signal: the children most likely got it too
   * (Ctrl-C in a terminal, `timeout` and systemd's KillMode=control-group
   * signal the whole process group), so they are first given `graceMs` to
   * exit by themselves rather than being signalled a second time.
   */
  readonly signalled: boolean;
  /** With `signalled`: how long to wait before sending SIGTERM ourselves. */
  readonly graceMs: number;
  /** After our SIGTERM, how long until SIGKILL. */
  readonly killGraceMs: number;
  /** Where progress lines go. */
  readonly say: (line: string) => void;
  /** What started the stop, for the first line ("SIGINT received"). */
  readonly why: string;
}

const names = (kids: readonly Child[]): string => kids.map((c) => `${c.name} (pid ${c.pid})`).join(', ');

/**
 * Stops `kids` (in the order given) and resolves once all exited. After a
 * signal, first waits up to `graceMs` for them to exit on their own; then
 * (or at once when not `signalled`) stops those left one by one: SIGTERM,
 * then SIGKILL after `killGraceMs`. Each child gets at most one signal from
 * us, so a signal the process group already delivered is never repeated
 * early: spire-server and spire-agent take a late second signal as "stop
 * waiting" and exit without stopping their plugins.
 */
export async function stopAll(kids: readonly Child[], opts: StopAllOptions): Promise<void> {
  const reported = new Set<Child>();
  const report = (c: Child, exit: ExitStatus): void => {
    if (reported.has(c)) return;
    reported.add(c);
    opts.say(`  stopped ${c.name} (pid ${c.pid}, ${describeExit(exit)})`);
  };
  const running = kids.filter((c) => c.exit === undefined);
  if (running.length === 0) {
    opts.say(`\n${opts.why}: stopping nothing (no process running)`);
    return;
  }
  if (opts.signalled) {
    opts.say(`\n${opts.why}: waiting up to ${opts.graceMs / 1000} s for ${names(running)} to stop (the signal reached them too when it was sent to the process group, as Ctrl-C is)`);
    for (const c of running) {
      c.stopping = true;
      void c.exited.then((exit) => report(c, exit));
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(running.map((c) => c.exited)), new Promise((r) => (timer = setTimeout(r, opts.graceMs)))]);
    clearTimeout(timer);
  }
  const left = running.filter((c) => c.exit === undefined);
  if (left.length === 0) return;
  opts.say(opts.signalled ? `  still running after ${opts.graceMs / 1000} s: stopping ${names(left)} (SIGTERM)` : `\n${opts.why}: stopping ${names(left)}`);
  for (const c of left) report(c, await c.stop(opts.killGraceMs));
}

/** A child failure, with its output tail for the report. */
export class ChildError extends Error {
  override readonly name = 'ChildError';
  constructor(
    readonly child: Child,
    message: string,
  ) {
    super(message);
  }
}

export function describeExit(e: ExitStatus): string {
  return e.signal ? `signal ${e.signal}` : `status ${String(e.code)}`;
}

/** Runs `script args` to completion; resolves with its output or rejects with it. */
export async function runToEnd(name: string, script: string, args: readonly string[], opts: ChildOptions & { timeoutMs?: number } = {}): Promise<string> {
  const c = new Child(name, script, args, opts);
  const timer = setTimeout(() => void c.stop(1_000), opts.timeoutMs ?? 30_000);
  const exit = await c.exited;
  clearTimeout(timer);
  children.delete(c);
  if (exit.code !== 0) throw new ChildError(c, `${name} failed (${describeExit(exit)}): ${c.output.trim()}`);
  return c.output;
}
