#!/usr/bin/env node
/**
 * `npm start`: spire-server, spire-agent and the mTLS demo on this machine.
 * It writes the configs into a data directory, starts the server, registers
 * the demo workloads, starts the agent (attesting with a join token only
 * when it has no valid identity yet), runs the demo server, client and
 * intruder, and keeps running, showing SVID rotations, until Ctrl-C stops
 * every process it started.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import {
  AGENT_MAIN,
  DEMO_CLIENT_MAIN,
  DEMO_INTRUDER_MAIN,
  DEMO_SERVER_MAIN,
  NODE_ALIAS,
  REPO,
  SERVER_MAIN,
  USAGE,
  UsageError,
  WORKLOADS,
  agentConf,
  layout,
  parseOptions,
  serverConf,
  type Layout,
  type Options,
} from './config.js';
import { PreflightError, checkBuilt, checkPort, checkSocketPaths, claimDataDir, clearStaleSockets, releaseDataDir } from './preflight.js';
import { Child, ChildError, describeExit, runningChildren, stopAll } from './proc.js';
import { ensureEntry, generateJoinToken, serverCli, serverKnowsAgent, storedAgentIdentity } from './spire.js';

const say = (msg: string): void => void process.stdout.write(`${msg}\n`);
const step = (n: number, msg: string): void => say(`\n[${n}/6] ${msg}`);
const show = (path: string): string => (path.startsWith(REPO) ? relative(process.cwd(), path) || '.' : path);

let shuttingDown = false;

/**
 * After a signal, how long the children (which got it too when it was sent to
 * the process group, as Ctrl-C is) get to stop on their own before we signal
 * them ourselves.
 */
const SIGNAL_GRACE_MS = 5_000;
/** After our SIGTERM, how long until SIGKILL. */
const KILL_GRACE_MS = 5_000;

/** Stops every child (see {@link stopAll}: demo workloads first, the server last) and exits. */
async function shutdown(l: Layout | undefined, code: number, why: string, signalled = false): Promise<never> {
  if (shuttingDown) return new Promise<never>(() => undefined);
  shuttingDown = true;
  await stopAll(runningChildren().reverse(), { signalled, graceMs: SIGNAL_GRACE_MS, killGraceMs: KILL_GRACE_MS, say, why });
  if (l) {
    releaseDataDir(l);
    say(`all processes stopped. The data directory ${show(l.dataDir)} is kept: the next npm start reuses it (delete it to start over).`);
  }
  process.exit(code);
}

/** Starts a long-running child and waits for its ready line. */
async function startChild(name: string, script: string, args: string[], ready: RegExp | string, opts: ConstructorParameters<typeof Child>[3], timeoutMs = 30_000): Promise<{ child: Child; match: RegExpExecArray }> {
  const child = new Child(name, script, args, opts);
  say(`      started ${name} (pid ${child.pid})`);
  const match = await child.waitFor(ready, timeoutMs);
  return { child, match };
}

/** Exits (after stopping everything) when a long-running child dies on its own. */
function watchUnexpectedExit(l: Layout, child: Child, logFile?: string): void {
  void child.exited.then(async (exit) => {
    // Ctrl-C in a terminal signals the whole process group and the child may
    // exit first: give our own SIGINT handler a moment to run.
    await new Promise((r) => setTimeout(r, 300));
    if (child.stopping || shuttingDown) return;
    if (exit.signal === 'SIGINT' || exit.code === 130) return void shutdown(l, 0, 'SIGINT received', true);
    say(`\n${child.name} (pid ${child.pid}) exited unexpectedly (${describeExit(exit)}). Its last output:\n${child.tail()}`);
    if (logFile) say(`full log: ${show(logFile)}`);
    void shutdown(l, 1, 'failure');
  });
}

async function run(opts: Options, l: Layout): Promise<void> {
  const uid = process.getuid?.() ?? 0;
  const workloadEnv = { SPIFFE_ENDPOINT_SOCKET: `unix://${l.agentSocket}` };
  say(`spire-ts quickstart: trust domain example.org, data directory ${show(l.dataDir)}`);

  step(1, 'checking the build, the port and the data directory');
  checkBuilt();
  checkSocketPaths(l);
  claimDataDir(l);
  for (const s of await clearStaleSockets(l)) say(`      removed a stale socket left by an earlier run: ${show(s)}`);
  await checkPort(opts.port);
  writeFileSync(l.serverConf, serverConf(l, opts.port));
  say(`      wrote ${show(l.serverConf)} (DataStore "sql" on SQLite, KeyManager "disk")`);

  step(2, `starting spire-server on 127.0.0.1:${opts.port} (log: ${show(l.serverLog)})`);
  const { child: server } = await startChild('spire-server', SERVER_MAIN, ['run', '-config', l.serverConf], 'spire-server is ready', { logFile: l.serverLog, cwd: l.dataDir });
  watchUnexpectedExit(l, server, l.serverLog);
  say('      spire-server is ready');
  writeFileSync(l.bundle, await serverCli(l, 'bundle', 'show'));
  say(`      wrote the trust bundle for the agent's bootstrap: ${show(l.bundle)}`);

  step(3, `registering the demo workloads (selector unix:uid:${uid}, X.509-SVID TTL ${opts.svidTtl} s)`);
  for (const w of WORKLOADS) {
    const r = await ensureEntry(l, w, uid, opts.svidTtl);
    const verb = r.action === 'found' ? 'found existing entry' : r.action === 'updated' ? 'updated the TTL of entry' : 'created entry';
    say(`      ${verb} ${r.entryId}: ${w.spiffeId} (parent ${NODE_ALIAS}, hint "${w.name}")`);
  }

  step(4, `starting spire-agent (log: ${show(l.agentLog)})`);
  let token: string | undefined;
  const stored = storedAgentIdentity(l);
  if (stored && stored.notAfter.getTime() > Date.now() + 30_000 && (await serverKnowsAgent(l, stored.spiffeId))) {
    say(`      the agent already has an identity: ${stored.spiffeId} (valid until ${stored.notAfter.toISOString()}); no join token, no re-attestation`);
  } else {
    if (!stored) say('      first run: the agent has no identity yet');
    else if (stored.notAfter.getTime() <= Date.now() + 30_000) say(`      the agent's SVID expired at ${stored.notAfter.toISOString()} (it was stopped longer than its TTL): attesting again`);
    else {
      say(`      the server does not know the agent ${stored.spiffeId} (its data was reset?): discarding the agent's identity and attesting again`);
      rmSync(l.agentData, { recursive: true, force: true });
    }
    token = await generateJoinToken(l);
    say(`      generated a join token (spire-server token generate -spiffeID ${NODE_ALIAS}); the agent attests with it once`);
  }
  writeFileSync(l.agentConf, agentConf(l, opts.port, token));
  say(`      wrote ${show(l.agentConf)} (NodeAttestor "join_token", KeyManager "disk", WorkloadAttestor "unix")`);
  const { child: agent } = await startChild('spire-agent', AGENT_MAIN, ['run', '-config', l.agentConf], 'spire-agent is ready', { logFile: l.agentLog, cwd: l.dataDir });
  watchUnexpectedExit(l, agent, l.agentLog);
  const attested = /Node attestation was successful/.test(agent.output);
  const agentId = /spire-agent is ready.*?(spiffe:\/\/[^\s"',}]+)/.exec(agent.output)?.[1] ?? stored?.spiffeId ?? '?';
  say(`      spire-agent is ready as ${agentId} (${attested ? 'attested with the join token' : 'reused its persisted SVID, no re-attestation'})`);
  say(`      Workload API: unix://${l.agentSocket}`);

  step(5, 'starting the demo workloads (each shows the identity it received)');
  const demoServer = await startChild('demo-server', DEMO_SERVER_MAIN, [], /listening on (https:\/\/\S+)/, { echo: true, env: { ...workloadEnv, DEMO_PORT: '0' } });
  watchUnexpectedExit(l, demoServer.child);
  const url = demoServer.match[1]!;
  const client = await startChild('demo-client', DEMO_CLIENT_MAIN, [], /mTLS ok|refused|failed|error:/, { echo: true, env: { ...workloadEnv, DEMO_SERVER_URL: url, DEMO_INTERVAL_MS: String(opts.callIntervalMs) } });
  watchUnexpectedExit(l, client.child);
  if (client.match[0] !== 'mTLS ok') throw new ChildError(client.child, 'the demo client could not call the demo server over mTLS');
  const intruder = new Child('intruder', DEMO_INTRUDER_MAIN, [], { echo: true, env: { ...workloadEnv, DEMO_SERVER_URL: url } });
  say(`      started intruder (pid ${intruder.pid})`);
  const iexit = await intruder.exited;
  if (iexit.code !== 0) throw new ChildError(intruder, `the intruder was not refused as expected (${describeExit(iexit)})`);
  say('      the intruder was refused, as it should be: it has a valid SVID, but its ID is not on the server\'s allow-list');

  step(6, `running. SVIDs live ${opts.svidTtl} s and rotate at about half of that: watch for "rotated:" lines. The client calls every ${opts.callIntervalMs / 1000} s. Ctrl-C stops everything.`);
}

async function main(): Promise<void> {
  let opts: Options;
  try {
    opts = parseOptions(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(err.message ? `${err.message}\n\n${USAGE}` : USAGE);
      process.exit(err.message ? 2 : 0);
    }
    throw err;
  }
  const l = layout(opts.dataDir);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => void shutdown(l, 0, `${sig} received`, true));
  // Output to a closed pipe must not kill us before the children are stopped.
  process.stdout.on('error', () => undefined);
  // Last resort against orphans if we die some other way (an uncaught error).
  process.on('exit', () => {
    for (const c of runningChildren()) c.proc.kill('SIGKILL');
  });
  try {
    await run(opts, l);
  } catch (err) {
    if (shuttingDown) return;
    if (err instanceof PreflightError) {
      say(`\nerror: ${err.message}\nfix: ${err.fix}`);
      releaseDataDir(l);
      process.exit(1);
    }
    say(`\nerror: ${err instanceof Error ? err.message : String(err)}`);
    if (err instanceof ChildError && !err.child.opts.echo) {
      say(`its last output:\n${err.child.tail()}`);
      if (err.child.opts.logFile) say(`full log: ${show(err.child.opts.logFile)}`);
    }
    say(`if the data directory is from an incompatible run, delete it and try again: rm -rf ${show(l.dataDir)}`);
    await shutdown(l, 1, 'failure');
  }
}

await main();
