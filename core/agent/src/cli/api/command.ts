/**
 * The frame every `spire-agent api ...` command and `healthcheck` runs in,
 * as SPIRE's command adapter: the command's flags plus `-socketPath` and
 * `-instance` (and `-timeout`, `-output` where SPIRE has them), the socket
 * resolved, the connection, and the error printed on stderr with exit 1
 * when the command fails.
 *
 * @module
 */

import { chmodSync, closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { OUTPUT_FLAG, runCliFrame } from '@spire-ts/common';
import type { CliFlag, CliFlagSet, CliIO, OutputFormat } from '@spire-ts/common';
import { DEFAULT_SOCKET_PATH, WorkloadConnection, agentSocketPath } from './client.js';

/**
 * What the agent's client commands may touch beyond {@link CliIO}: files
 * they write (`fetch x509 -write`) and the clock. Each defaults to the real
 * process. `stopSignal` ends `api watch`.
 *
 * @example
 * ```ts
 * const io: ApiIO = { ...cliIO, stopSignal: AbortSignal.timeout(10_000) };
 * ```
 */
export interface ApiIO extends CliIO {
  readonly writeFile?: (path: string, data: string, mode: number) => void;
  readonly now?: () => number;
}

export type { OutputFormat };

/** What a running command gets. */
export interface ApiContext {
  readonly flags: CliFlagSet;
  readonly output: OutputFormat;
  readonly socketPath: string;
  readonly io: ApiIO;
  /** The Workload API connection (made on first use, closed after the command). */
  readonly conn: () => WorkloadConnection;
  /** Writes a file (relative to the working directory) atomically with `mode`. */
  readonly write: (path: string, data: string, mode: number) => void;
  readonly now: () => number;
}

/**
 * One command (`fetch x509`, `watch`, `healthcheck`, ...).
 *
 * @example
 * ```ts
 * const cmd: ApiCommand = { name: 'fetch jwt', synopsis: 'Fetches a JWT SVID from the Workload API', flags: [], timeout: true, output: true, run: async (ctx) => 0 };
 * ```
 */
export interface ApiCommand {
  readonly name: string;
  readonly synopsis: string;
  readonly flags: readonly CliFlag[];
  /** Whether the command takes `-timeout` (SPIRE's adapted commands do). */
  readonly timeout?: boolean;
  /** Whether the command takes `-output` (pretty or json). */
  readonly output?: boolean;
  /** The socket flag's help text. */
  readonly socketUsage?: string;
  /** Runs the command; throws `ApiCliError` (or any Error) to fail with exit 1. */
  readonly run: (ctx: ApiContext) => Promise<number>;
}

/** SPIRE's default per-call timeout of the api commands. */
export const DEFAULT_TIMEOUT_MS = 5000;

/** The flags `command` accepts. */
export function commandFlags(command: ApiCommand): CliFlag[] {
  return [
    { name: 'socketPath', kind: 'string', usage: command.socketUsage ?? 'Path to the SPIRE Agent API Unix domain socket', default: DEFAULT_SOCKET_PATH },
    { name: 'instance', kind: 'string', usage: 'Instance name to substitute into socket templates (env SPIRE_AGENT_PUBLIC_SOCKET_TEMPLATE).' },
    ...(command.timeout ? [{ name: 'timeout', kind: 'duration', typeName: 'value', usage: 'Time to wait for a response', default: DEFAULT_TIMEOUT_MS } as const] : []),
    ...command.flags,
    ...(command.output ? [OUTPUT_FLAG] : []),
  ];
}

/** Writes `data` to a temporary file beside `path`, syncs it, and renames it over `path`. */
export function atomicWrite(path: string, data: string, mode: number): void {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Runs a command with its arguments and resolves with the exit code.
 *
 * @example
 * ```ts
 * await runApiCommand(fetchX509, ['-socketPath', '/tmp/api.sock', '-write', 'out'], io);
 * ```
 */
export async function runApiCommand(command: ApiCommand, args: readonly string[], io: ApiIO): Promise<number> {
  return runCliFrame(
    {
      name: command.name,
      specs: commandFlags(command),
      errorPrefix: '',
      socketPath: (flags) =>
        agentSocketPath({ socketPath: flags.given.has('socketPath') ? flags.str('socketPath') : '', instance: flags.str('instance') }, io.env ?? {}, io.cwd),
      run: async (flags, output, socketPath) => {
        let conn: WorkloadConnection | undefined;
        const ctx: ApiContext = {
          flags,
          output,
          socketPath,
          io,
          conn: () => (conn ??= new WorkloadConnection(socketPath, command.timeout ? flags.ms('timeout') : 0)),
          write: (p, data, mode) => {
            const full = resolve(io.cwd, p);
            if (io.writeFile) io.writeFile(full, data, mode);
            else atomicWrite(full, data, mode);
          },
          now: io.now ?? Date.now,
        };
        try {
          return await command.run(ctx);
        } finally {
          conn?.close();
        }
      },
    },
    args,
    io,
  );
}
