// End-to-end harness: real spire-server and spire-agent processes (the built
// CLIs in dist/) in a temporary directory, with their logs collected, and a
// way to run the server CLI against the running server. Every process started
// here is remembered so `killAll()` can end what is still running, whatever
// happened in the tests.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { tempDir } from './workload-fixtures.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
export const SERVER_MAIN = join(repo, 'core/server/dist/cli/main.js');
export const AGENT_MAIN = join(repo, 'core/agent/dist/cli/main.js');
export const TD = 'example.org';

/** A port nothing listens on right now (a throwaway listener on port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** A child process whose stdout and stderr are collected into one log. */
export class Proc {
  readonly child: ChildProcess;
  log = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly #waiters = new Set<() => void>();

  constructor(
    readonly name: string,
    args: string[],
    cwd: string,
    env?: Readonly<Record<string, string>>,
  ) {
    this.child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) });
    const append = (d: Buffer): void => {
      this.log += d.toString();
      for (const w of this.#waiters) w();
    };
    this.child.stdout!.on('data', append);
    this.child.stderr!.on('data', append);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        for (const w of this.#waiters) w();
        resolve(this.exit);
      });
    });
  }

  /** Occurrences of `text` in the log since `from` (a log length). */
  count(text: string, from = 0): number {
    return this.log.slice(from).split(text).length - 1;
  }

  /** Waits until `text` appears in the log after offset `from`; fails on exit or timeout, quoting the log tail. */
  waitFor(text: string, timeoutMs = 15_000, from = 0): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.log.indexOf(text, from) >= 0) done(undefined);
        else if (this.exit) done(new Error(`${this.name} exited (${String(this.exit.code ?? this.exit.signal)}) before logging ${JSON.stringify(text)}:\n${this.tail()}`));
      };
      const timer = setTimeout(() => done(new Error(`${this.name} did not log ${JSON.stringify(text)} within ${timeoutMs} ms:\n${this.tail()}`)), timeoutMs);
      const done = (err: Error | undefined): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (err) reject(err);
        else resolve();
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `timeoutMs`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.exit) return this.exit;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  tail(lines = 40): string {
    return this.log.split('\n').slice(-lines).join('\n');
  }
}

export interface E2eOptions {
  /** Server `default_x509_svid_ttl`. */
  defaultX509SvidTtl?: string;
  /** Agent `experimental { sync_interval }`. */
  agentSyncInterval?: string;
  /** The agent's WorkloadAttestor plugin blocks (default: `WorkloadAttestor "unix" { plugin_data {} }`). */
  workloadAttestors?: string;
  /** Extra environment of the agent process (its plugins inherit it), e.g. HOST_PROC. */
  agentEnv?: Readonly<Record<string, string>>;
}

/** One trust domain: a server and an agent, started and restarted on demand, in one temp directory. */
export class E2eEnv {
  readonly dir = tempDir('spire-e2e-');
  readonly serverSocket = join(this.dir, 'server', 'api.sock');
  readonly agentSocket = join(this.dir, 'public', 'api.sock');
  readonly bundlePath = join(this.dir, 'bundle.pem');
  port = 0;
  server: Proc | undefined;
  agent: Proc | undefined;
  /** Every process ever started, for the logs and for killAll(). */
  readonly procs: Proc[] = [];

  constructor(readonly opts: E2eOptions = {}) {
    mkdirSync(join(this.dir, 'server'), { recursive: true });
  }

  /** Why end-to-end suites cannot run here (undefined = they can); in CI a missing build is an error, never a skip. */
  static check(): string | undefined {
    for (const f of [SERVER_MAIN, AGENT_MAIN]) {
      if (existsSync(f)) continue;
      const why = `${f} is not built (run npx tsc -b core/server core/agent)`;
      if (process.env.CI === 'true') throw new Error(why);
      return why;
    }
    return undefined;
  }

  async startServer(): Promise<Proc> {
    if (this.port === 0) this.port = await freePort();
    const conf = join(this.dir, 'server.conf');
    const ttl = this.opts.defaultX509SvidTtl ? `\n  default_x509_svid_ttl = "${this.opts.defaultX509SvidTtl}"` : '';
    writeFileSync(
      conf,
      `server {
  bind_address = "127.0.0.1"
  bind_port = "${this.port}"
  socket_path = "${this.serverSocket}"
  trust_domain = "${TD}"
  data_dir = "${join(this.dir, 'server', 'data')}"
  log_level = "DEBUG"${ttl}
}
plugins {
  NodeAttestor "join_token" { plugin_data {} }
  DataStore "sql" { plugin_data { database_type = "sqlite3" connection_string = "${join(this.dir, 'server', 'ds.sqlite3')}" } }
  KeyManager "disk" { plugin_data { keys_path = "${join(this.dir, 'server', 'keys.json')}" } }
}
`,
    );
    const p = this.#spawn('spire-server', [SERVER_MAIN, 'run', '-config', conf]);
    this.server = p;
    await p.waitFor('spire-server is ready', 30_000);
    return p;
  }

  /** Runs `spire-server <args> -socketPath <socket>`; rejects with the output on a non-zero exit. */
  serverCli(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(process.execPath, [SERVER_MAIN, ...args, '-socketPath', this.serverSocket], { cwd: this.dir, timeout: 20_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`spire-server ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
        else resolve(stdout);
      });
    });
  }

  /** Writes the bootstrap bundle, generates a join token and writes agent.conf. */
  async prepareAgent(): Promise<void> {
    writeFileSync(this.bundlePath, await this.serverCli('bundle', 'show'));
    const out = await this.serverCli('token', 'generate', '-spiffeID', `spiffe://${TD}/host`);
    const token = /Token:\s*(\S+)/.exec(out)?.[1];
    if (!token) throw new Error(`no token in: ${out}`);
    const sync = this.opts.agentSyncInterval ? `\n  experimental { sync_interval = "${this.opts.agentSyncInterval}" }` : '';
    writeFileSync(
      join(this.dir, 'agent.conf'),
      `agent {
  data_dir = "${join(this.dir, 'agent')}"
  log_level = "DEBUG"
  server_address = "127.0.0.1"
  server_port = "${this.port}"
  socket_path = "${this.agentSocket}"
  trust_bundle_path = "${this.bundlePath}"
  trust_domain = "${TD}"
  join_token = "${token}"${sync}
}
plugins {
  NodeAttestor "join_token" { plugin_data {} }
  KeyManager "memory" { plugin_data {} }
  ${this.opts.workloadAttestors ?? 'WorkloadAttestor "unix" { plugin_data {} }'}
}
`,
    );
  }

  async startAgent(): Promise<Proc> {
    const p = this.#spawn('spire-agent', [AGENT_MAIN, 'run', '-config', join(this.dir, 'agent.conf')], this.opts.agentEnv);
    this.agent = p;
    await p.waitFor('spire-agent is ready', 30_000);
    return p;
  }

  #spawn(name: string, args: string[], env?: Readonly<Record<string, string>>): Proc {
    const p = new Proc(name, args, this.dir, env);
    this.procs.push(p);
    return p;
  }

  /** All logs, for a failure report. */
  logs(): string {
    return this.procs.map((p, i) => `==== ${p.name} #${i} (pid ${String(p.child.pid)}, exit ${JSON.stringify(p.exit ?? null)}) ====\n${p.tail(60)}`).join('\n');
  }

  /** Kills every process still running (SIGTERM, then SIGKILL) and removes the directory unless `keep`. */
  async killAll(keep = false): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop('SIGTERM', 3_000).catch(() => undefined)));
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** What the one-shot Workload API client (fixtures/workload-client.mjs) printed: the SVIDs' IDs, or the error. */
export interface ClientAnswer {
  svids?: string[];
  code?: number;
  details?: string;
}

const WORKLOAD_CLIENT = fileURLToPath(new URL('./fixtures/workload-client.mjs', import.meta.url));

/**
 * Runs the Workload API client as a new process against `socketPath`;
 * `onSpawn` gets its pid at once (before Node has even started in the
 * child), e.g. to write a fake /proc entry for it. Resolves with its answer.
 */
export async function fetchAsNewProcess(socketPath: string, onSpawn: (pid: number) => void): Promise<ClientAnswer> {
  const child = spawn(process.execPath, [WORKLOAD_CLIENT, socketPath], { stdio: ['ignore', 'pipe', 'pipe'], cwd: fileURLToPath(new URL('.', import.meta.url)) });
  onSpawn(child.pid!);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`client exited (${String(code)}) without output: ${stderr}`)));
  });
  return JSON.parse(line) as ClientAnswer;
}

/** Calls `fn` until `done` accepts its answer or `ms` pass (the agent syncs new entries within its interval); returns the last answer. */
export async function eventually<T>(fn: () => Promise<T>, done: (v: T) => boolean, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (done(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 300));
  }
}
