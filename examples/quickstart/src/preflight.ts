/**
 * Checks before anything starts, each failing with what is wrong and how to
 * fix it: the build, another quickstart on the same data directory, the
 * server's port, and sockets left behind by a run that did not stop cleanly.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { dirname } from 'node:path';
import { AGENT_MAIN, DEMO_CLIENT_MAIN, DEMO_INTRUDER_MAIN, DEMO_SERVER_MAIN, SERVER_MAIN, type Layout } from './config.js';

/** A problem the user can fix; `fix` says how. */
export class PreflightError extends Error {
  override readonly name = 'PreflightError';
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

export function checkBuilt(): void {
  const missing = [SERVER_MAIN, AGENT_MAIN, DEMO_SERVER_MAIN, DEMO_CLIENT_MAIN, DEMO_INTRUDER_MAIN].filter((f) => !existsSync(f));
  if (missing.length > 0) throw new PreflightError(`not built: ${missing.join(', ')}`, 'run `npm run build` (npm start does it for you)');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Creates the data directory and claims it with a pid file; fails while another live quickstart holds it. */
export function claimDataDir(l: Layout): void {
  for (const d of [l.dataDir, l.logs, dirname(l.serverSocket), dirname(l.agentSocket)]) mkdirSync(d, { recursive: true, mode: 0o700 });
  if (existsSync(l.pidFile)) {
    const pid = Number(readFileSync(l.pidFile, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      throw new PreflightError(
        `another quickstart (pid ${pid}) is running with the data directory ${l.dataDir}`,
        `stop it (Ctrl-C in its terminal, or kill ${pid}), or use another directory with SPIRE_TS_QUICKSTART_DIR`,
      );
    }
  }
  writeFileSync(l.pidFile, `${process.pid}\n`);
}

/** Removes the pid file if it is still ours. */
export function releaseDataDir(l: Layout): void {
  try {
    if (readFileSync(l.pidFile, 'utf8').trim() === String(process.pid)) rmSync(l.pidFile, { force: true });
  } catch {
    // already gone
  }
}

/** Unix socket paths are limited to 107 bytes on Linux (103 on macOS). */
export function checkSocketPaths(l: Layout): void {
  for (const s of [l.serverSocket, l.agentSocket]) {
    if (Buffer.byteLength(s) > 103) {
      throw new PreflightError(`the socket path ${s} is ${Buffer.byteLength(s)} bytes; unix sockets allow about 104`, 'use a shorter data directory: SPIRE_TS_QUICKSTART_DIR=/tmp/spire-ts-quickstart npm start');
    }
  }
}

function probeSocket(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * A socket file from an earlier run: removed when nothing answers on it
 * (returned in the list), an error when something does.
 */
export async function clearStaleSockets(l: Layout): Promise<string[]> {
  const removed: string[] = [];
  for (const [path, owner] of [
    [l.serverSocket, 'spire-server'],
    [l.agentSocket, 'spire-agent'],
  ] as const) {
    let isSocket = false;
    try {
      isSocket = statSync(path).isSocket();
    } catch {
      continue;
    }
    if (isSocket && (await probeSocket(path))) {
      throw new PreflightError(`a ${owner} is still running on ${path} (left over from an earlier quickstart?)`, `stop that ${owner} (look for it with \`ps aux | grep ${owner}\`), then run npm start again`);
    }
    rmSync(path, { force: true });
    removed.push(path);
  }
  return removed;
}

/** Fails when something already listens on 127.0.0.1:`port`. */
export function checkPort(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(
          new PreflightError(
            `port ${port} is in use (spire-server needs it)`,
            `stop the other spire-server (or whatever listens there: \`ss -ltnp 'sport = :${port}'\`), or pick another port: SPIRE_TS_QUICKSTART_PORT=${port + 1} npm start`,
          ),
        );
      } else reject(new PreflightError(`cannot listen on 127.0.0.1:${port}: ${err.message}`, 'pick another port with SPIRE_TS_QUICKSTART_PORT'));
    });
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve()));
  });
}
