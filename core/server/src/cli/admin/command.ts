/**
 * The frame every admin command runs in, as SPIRE's command adapter: the
 * command's flags plus `-socketPath` and `-instance`, the connection, and
 * `Error: <message>` with exit 1 when the command fails.
 *
 * @module
 */

import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { OUTPUT_FLAG, runCliFrame } from '@spire-ts/common';
import type { CliFlag, CliFlagSet, CliIO, OutputFormat } from '@spire-ts/common';
import { AdminConnection, DEFAULT_SOCKET_PATH, socketPathFor } from './client.js';

/**
 * What the admin commands may touch beyond {@link CliIO}: stdin (for
 * `-data -`), files they write (`x509 mint -write`), and the clock.
 * Each defaults to the real process.
 *
 * @example
 * ```ts
 * const io: AdminIO = { ...cliIO, readStdin: () => '{"entries":[]}', now: () => 1_700_000_000_000 };
 * ```
 */
export interface AdminIO extends CliIO {
  readonly readStdin?: () => string;
  readonly writeFile?: (path: string, data: string, mode: number) => void;
  readonly now?: () => number;
}

export type { OutputFormat };

/**
 * What a running command gets.
 *
 * @example
 * ```ts
 * const n = await ctx.conn.call('spire.api.server.bundle.v1.Bundle', 'CountBundles', {});
 * ```
 */
export interface AdminContext {
  readonly flags: CliFlagSet;
  readonly output: OutputFormat;
  readonly conn: AdminConnection;
  readonly io: AdminIO;
  /** Reads a file relative to the working directory, or stdin for `-`. */
  readonly read: (path: string) => string;
  /** Writes a file (relative to the working directory) with `mode`. */
  readonly write: (path: string, data: string, mode: number) => string;
  readonly now: () => number;
}

/**
 * One admin command (`entry create`, `healthcheck`, ...).
 *
 * @example
 * ```ts
 * const count: AdminCommand = { name: 'bundle count', synopsis: 'Count bundles', flags: [], run: async (ctx) => 0 };
 * ```
 */
export interface AdminCommand {
  readonly name: string;
  readonly synopsis: string;
  readonly flags: readonly CliFlag[];
  /** Whether the command takes `-output` (all but `healthcheck`). */
  readonly noOutputFlag?: boolean;
  /** Runs the command; throws `AdminError` (or any Error) to fail with exit 1. */
  readonly run: (ctx: AdminContext) => Promise<number>;
}

const COMMON_FLAGS: readonly CliFlag[] = [
  { name: 'socketPath', kind: 'string', usage: 'Path to the SPIRE Server API socket', default: DEFAULT_SOCKET_PATH },
  { name: 'instance', kind: 'string', usage: 'Instance name to substitute into socket templates (env SPIRE_SERVER_PRIVATE_SOCKET_TEMPLATE).' },
];

/** The flags `command` accepts, with the common ones. */
export function commandFlags(command: AdminCommand): CliFlag[] {
  return [...COMMON_FLAGS, ...command.flags, ...(command.noOutputFlag ? [] : [OUTPUT_FLAG])];
}

/**
 * Runs an admin command with its arguments and resolves with the exit code.
 *
 * @example
 * ```ts
 * await runAdminCommand(entryCount, ['-socketPath', '/tmp/api.sock'], io); // prints "2 registration entries", 0
 * ```
 */
export async function runAdminCommand(command: AdminCommand, args: readonly string[], io: AdminIO): Promise<number> {
  return runCliFrame(
    {
      name: command.name,
      specs: commandFlags(command),
      errorPrefix: 'Error: ',
      // A relative -socketPath is taken from the working directory, as SPIRE dials it.
      socketPath: (flags) => resolve(io.cwd, socketPathFor({ socketPath: flags.str('socketPath'), instance: flags.str('instance') }, io.env ?? {})),
      run: async (flags, output, socketPath) => {
        const conn = new AdminConnection(socketPath);
        try {
          return await command.run(contextOf(flags, output, conn, io));
        } finally {
          conn.close();
        }
      },
    },
    args,
    io,
  );
}

function contextOf(flags: CliFlagSet, output: OutputFormat, conn: AdminConnection, io: AdminIO): AdminContext {
  const path = (p: string): string => resolve(io.cwd, p);
  return {
    flags,
    output,
    conn,
    io,
    read: (p) => (p === '-' ? (io.readStdin ? io.readStdin() : readFileSync(0, 'utf8')) : io.readFile(path(p))),
    write: (p, data, mode) => {
      const full = path(p);
      if (io.writeFile) io.writeFile(full, data, mode);
      else {
        writeFileSync(full, data, { mode });
        chmodSync(full, mode);
      }
      return p;
    },
    now: io.now ?? Date.now,
  };
}
