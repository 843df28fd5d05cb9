/**
 * The spire-agent side of the agent bench: `spire-agent run` as a child
 * process (join_token NodeAttestor, memory KeyManager, unix
 * WorkloadAttestor), with the moments of its first sync taken from its log
 * as the lines arrive, and CPU readings of the agent and its plugin processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, TD } from './server-lib.js';

export const AGENT_MAIN = fileURLToPath(new URL('../../core/agent/dist/cli/main.js', import.meta.url));

export interface AgentOptions {
  dir: string;
  serverPort: number;
  bundlePath: string;
  joinToken: string;
  /** `x509_svid_cache_max_size`: as many as the entries, so every SVID is prefetched. */
  svidCacheSize: number;
  /** `experimental.sync_interval`, e.g. "5s". */
  syncInterval: string;
  nodeArgs?: string[];
  /** Extra environment (e.g. NODE_OPTIONS, which the plugin processes inherit too). */
  env?: NodeJS.ProcessEnv;
  /** Also append every line of the agent's output to this file (e.g. for `--trace-gc`). */
  logFile?: string;
}

/** Performance.now() when a log line containing the marker first arrived (undefined: not yet). */
export interface AgentMarks {
  spawned: number;
  nodeIdentityReady?: number;
  firstCreatingSvid?: number;
  lastCreatingSvid?: number;
  creatingSvids: number;
  ready?: number;
}

export interface AgentChild {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly socketPath: string;
  readonly marks: AgentMarks;
  /** The last ~200 KB of the log (the "Creating X509-SVID" lines are counted, not kept). */
  tail(): string;
  /** Resolves once "spire-agent is ready" is logged; rejects on exit or after `timeoutMs`. */
  whenReady(timeoutMs: number): Promise<void>;
  stop(): Promise<number | null>;
}

export function startAgentChild(o: AgentOptions): AgentChild {
  const socketPath = join(o.dir, 'public', 'api.sock');
  const conf = join(o.dir, 'agent.conf');
  writeFileSync(
    conf,
    `agent {
  data_dir = "${join(o.dir, 'agent-data')}"
  log_level = "INFO"
  server_address = "127.0.0.1"
  server_port = "${o.serverPort}"
  socket_path = "${socketPath}"
  trust_bundle_path = "${o.bundlePath}"
  trust_domain = "${TD}"
  join_token = "${o.joinToken}"
  x509_svid_cache_max_size = ${o.svidCacheSize}
  experimental { sync_interval = "${o.syncInterval}" }
}
plugins {
  NodeAttestor "join_token" { plugin_data {} }
  KeyManager "memory" { plugin_data {} }
  WorkloadAttestor "unix" { plugin_data {} }
}
`,
  );
  const marks: AgentMarks = { spawned: performance.now(), creatingSvids: 0 };
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), AGENT_MAIN, 'run', '-config', conf], {
    cwd: o.dir,
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let kept = '';
  let partial = '';
  const waiters = new Set<() => void>();
  const onData = (b: Buffer): void => {
    const now = performance.now();
    if (o.logFile) appendFileSync(o.logFile, b);
    const lines = (partial + b.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.includes('Creating X509-SVID')) {
        marks.creatingSvids++;
        marks.firstCreatingSvid ??= now;
        marks.lastCreatingSvid = now;
        continue;
      }
      if (line.includes('Node identity ready')) marks.nodeIdentityReady ??= now;
      if (line.includes('spire-agent is ready')) marks.ready ??= now;
      kept += `${line}\n`;
    }
    if (kept.length > 400_000) kept = kept.slice(-200_000);
    for (const w of waiters) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      exitCode = code;
      for (const w of waiters) w();
      r(code);
    }),
  );
  return {
    child,
    pid: child.pid!,
    socketPath,
    marks,
    tail: () => kept + partial,
    whenReady: (timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (marks.ready !== undefined) done();
          else if (exitCode !== undefined) done(new Error(`spire-agent exited (${String(exitCode)}) before it was ready:\n${kept.slice(-4000)}`));
        };
        const timer = setTimeout(() => done(new Error(`spire-agent was not ready within ${timeoutMs} ms:\n${kept.slice(-4000)}`)), timeoutMs);
        const done = (err?: Error): void => {
          clearTimeout(timer);
          waiters.delete(check);
          if (err) reject(err);
          else resolve();
        };
        waiters.add(check);
        check();
      }),
    stop: async () => {
      if (exitCode === undefined) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Direct children of `pid` labelled by plugin package (e.g. `agent-workloadattestor-unix`). */
export function pluginChildren(pid: number): { pid: number; label: string }[] {
  const out: { pid: number; label: string }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== pid) continue;
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      const m = /((?:agent|server)-[a-z0-9-]+)\/dist\//.exec(cmd) ?? /plugins\/([a-z0-9-]+)/.exec(cmd);
      out.push({ pid: Number(d), label: m?.[1] ?? cmd.slice(-40) });
    } catch {
      // gone
    }
  }
  return out;
}

/** CPU seconds of the agent (`agent`) and of each plugin process, by label. */
export function agentCpu(agentPid: number): Map<string, number> {
  const m = new Map<string, number>([['agent', cpuSeconds(agentPid)]]);
  for (const p of pluginChildren(agentPid)) {
    try {
      m.set(p.label, (m.get(p.label) ?? 0) + cpuSeconds(p.pid));
    } catch {
      // exited between listing and reading
    }
  }
  return m;
}
