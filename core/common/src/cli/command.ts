/**
 * The frame a CLI command runs in, as SPIRE's command adapter: parse the
 * flags (help on `-h`, the error and the help on a bad flag), check
 * `-output`, pick the socket, run, and print a failure on stderr with
 * exit 1. spire-server's admin commands and spire-agent's `api` commands
 * both run in it.
 *
 * @module
 */

import type { CliIO } from '../config/cli.js';
import { cliFlagsUsage, parseCliFlags } from './flags.js';
import type { CliFlag, CliFlagSet } from './flags.js';

/** The output format chosen with `-output`. */
export type OutputFormat = 'pretty' | 'json';

/** SPIRE's `-output` flag. */
export const OUTPUT_FLAG: CliFlag = { name: 'output', kind: 'string', usage: 'Desired output format (pretty, json); default: pretty.' };

/** The flags of SPIRE's `healthcheck` commands (spire-server's and spire-agent's). */
export const HEALTHCHECK_FLAGS: readonly CliFlag[] = [
  { name: 'shallow', kind: 'bool', usage: 'Perform a less stringent health check' },
  { name: 'verbose', kind: 'bool', usage: 'Print verbose information' },
];

/**
 * `-output`'s value: pretty (also `prettyprint`, or empty) or json, case-insensitive.
 *
 * @example
 * ```ts
 * outputFormat('JSON'); // 'json'
 * ```
 */
export function outputFormat(value: string): OutputFormat | undefined {
  const v = value.toLowerCase();
  if (v === '' || v === 'pretty' || v === 'prettyprint') return 'pretty';
  if (v === 'json') return 'json';
  return undefined;
}

/**
 * One command run in the frame.
 *
 * @example
 * ```ts
 * await runCliFrame({ name: 'bundle count', specs, errorPrefix: 'Error: ', socketPath: (f) => f.str('socketPath'), run: async () => 0 }, args, io);
 * ```
 */
export interface CliFrame {
  /** The command's name in its help (`entry show`). */
  readonly name: string;
  /** Every flag it takes (`-output` among them if it has one). */
  readonly specs: readonly CliFlag[];
  /** Printed before a failure's message (`Error: ` for spire-server, nothing for spire-agent). */
  readonly errorPrefix: string;
  /** The socket to dial; throws an Error worded for the user. */
  readonly socketPath: (flags: CliFlagSet) => string;
  /** Runs the command; throws (any Error, worded for the user) to fail with exit 1. */
  readonly run: (flags: CliFlagSet, output: OutputFormat, socketPath: string) => Promise<number>;
}

/**
 * Runs `frame` with its arguments and resolves with the exit code.
 *
 * @example
 * ```ts
 * await runCliFrame(frame, ['-socketPath', '/tmp/api.sock', '-output', 'json'], io); // 0
 * ```
 */
export async function runCliFrame(frame: CliFrame, args: readonly string[], io: CliIO): Promise<number> {
  const parsed = parseCliFlags(args, frame.specs);
  if (parsed.kind === 'help') {
    io.stderr(cliFlagsUsage(frame.name, frame.specs));
    return 0;
  }
  if (parsed.kind === 'error') {
    io.stderr(`${parsed.message}\n${cliFlagsUsage(frame.name, frame.specs)}`);
    return 1;
  }
  const flags = parsed.flags;
  const output = outputFormat(flags.str('output'));
  if (!output) {
    const v = JSON.stringify(flags.str('output'));
    io.stderr(`invalid value ${v} for flag -output: bad formatter flag: unknown format option: ${v} (use pretty or json)\n${cliFlagsUsage(frame.name, frame.specs)}`);
    return 1;
  }
  try {
    const socketPath = frame.socketPath(flags);
    return await frame.run(flags, output, socketPath);
  } catch (err) {
    io.stderr(`${frame.errorPrefix}${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
