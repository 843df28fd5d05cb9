/**
 * The frame every admin command runs in, as SPIRE's command adapter: the
 * command's flags plus `-socketPath` and `-instance`, the connection, and
 * `Error: <message>` with exit 1 when the command fails.
 *
 * @module
 */

import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CliIO } from '@spire-ts/common';
import { AdminConnection, AdminError, DEFAULT_SOCKET_PATH, socketPathFor } from './client.js';
import { adminFlagsUsage, parseAdminFlags } from './flags.js';
import type { AdminFlag, AdminFlagSet } from './flags.js';

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

/** The output format chosen with `-output`. */
export type OutputFormat = 'pretty' | 'json';

/**
 * What a running command gets.
 *
 * @example
 * ```ts
 * const n = await ctx.conn.call('spire.api.server.bundle.v1.Bundle', 'CountBundles', {});
 * ```
 */
export interface AdminContext {
  readonly flags: AdminFlagSet;
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
  readonly flags: readonly AdminFlag[];
  /** Whether the command takes `-output` (all but `healthcheck`). */
  readonly noOutputFlag?: boolean;
  /** Runs the command; throws {@link AdminError} (or any Error) to fail with exit 1. */
  readonly run: (ctx: AdminContext) => Promise<number>;
}

const COMMON_FLAGS: readonly AdminFlag[] = [
  { name: 'socketPath', kind: 'string', usage: 'Path to the SPIRE Server API socket', default: DEFAULT_SOCKET_PATH },
  { name: 'instance', kind: 'string', usage: 'Instance name to substitute into socket templates (env SPIRE_SERVER_PRIVATE_SOCKET_TEMPLATE).' },
];

const OUTPUT_FLAG: AdminFlag = { name: 'output', kind: 'string', usage: 'Desired output format (pretty, json); default: pretty.' };

/** The flags `command` accepts, with the common ones. */
export function commandFlags(command: AdminCommand): AdminFlag[] {
  return [...COMMON_FLAGS, ...command.flags, ...(command.noOutputFlag ? [] : [OUTPUT_FLAG])];
}

/** `-output`'s value: pretty (also `prettyprint`) or json, case-insensitive. */
export function outputFormat(value: string): OutputFormat | undefined {
  const v = value.toLowerCase();
  if (v === '' || v === 'pretty' || v === 'prettyprint') return 'pretty';
  if (v === 'json') return 'json';
  return undefined;
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
  const specs = commandFlags(command);
  const parsed = parseAdminFlags(args, specs);
  if (parsed.kind === 'help') {
    io.stderr(adminFlagsUsage(command.name, specs));
    return 0;
  }
  if (parsed.kind === 'error') {
    io.stderr(`${parsed.message}\n${adminFlagsUsage(command.name, specs)}`);
    return 1;
  }
  const flags = parsed.flags;
  const output = outputFormat(flags.str('output'));
  if (!output) {
    io.stderr(`invalid value ${JSON.stringify(flags.str('output'))} for flag -output: bad formatter flag: unknown format option: ${JSON.stringify(flags.str('output'))} (use pretty or json)\n${adminFlagsUsage(command.name, specs)}`);
    return 1;
  }
  let socketPath: string;
  try {
    socketPath = socketPathFor({ socketPath: flags.str('socketPath'), instance: flags.str('instance') }, io.env ?? {});
  } catch (err) {
    io.stderr(`Error: ${(err as Error).message}\n`);
    return 1;
  }
  const conn = new AdminConnection(socketPath);
  const path = (p: string): string => resolve(io.cwd, p);
  const ctx: AdminContext = {
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
  try {
    return await command.run(ctx);
  } catch (err) {
    const message = err instanceof AdminError || err instanceof Error ? err.message : String(err);
    io.stderr(`Error: ${message}\n`);
    return 1;
  } finally {
    conn.close();
  }
}

