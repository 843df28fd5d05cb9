/**
 * Stage 2 of the configuration pipeline: the command-line flags of
 * `spire-server run` (and `validate`, which takes the same ones), parsed with
 * Go's `flag` package rules as SPIRE uses them: `-name value`,
 * `-name=value`, `--name`, booleans as `-name` or `-name=false`, parsing
 * stops at the first non-flag argument or `--`, and the last occurrence wins.
 *
 * @module
 */

import { goFlagsUsage, parseGoFlags } from '@spire-ts/common';
import type { GoFlagSpec, GoFlagsResult } from '@spire-ts/common';
import { checkLogFormat, checkLogLevel, checkTrustDomain } from './values.js';

/** The default `-config`. */
export const DEFAULT_CONFIG_PATH = 'conf/server/server.conf';

/**
 * The flags given on the command line (only those given).
 *
 * @example
 * ```ts
 * const flags: FlagValues = { config: 'server.conf', trustDomain: 'example.org', serverPort: 9081 };
 * ```
 */
export interface FlagValues {
  config?: string;
  expandEnv?: boolean;
  bindAddress?: string;
  serverPort?: number;
  socketPath?: string;
  trustDomain?: string;
  dataDir?: string;
  logFile?: string;
  logFormat?: string;
  logLevel?: string;
  logSourceLocation?: boolean;
}

/** One flag: its name, kind and help text. */
export type FlagSpec = GoFlagSpec<keyof FlagValues>;

/** The flags of `spire-server run` and `spire-server validate`, sorted by name as Go prints them. */
export const SERVER_FLAGS: readonly FlagSpec[] = [
  { name: 'bindAddress', kind: 'string', usage: 'IP address or DNS name the SPIRE server listens on' },
  { name: 'config', kind: 'string', usage: 'Path to a SPIRE server config file', default: DEFAULT_CONFIG_PATH },
  { name: 'dataDir', kind: 'string', usage: 'Directory for the server to keep its runtime data in' },
  { name: 'expandEnv', kind: 'bool', usage: 'Expand $VARIABLES and ${VARIABLES} in the config file from the environment' },
  { name: 'logFile', kind: 'string', usage: 'File to write logs to' },
  { name: 'logFormat', kind: 'string', usage: "'text' or 'json'", check: checkLogFormat },
  { name: 'logLevel', kind: 'string', usage: "'debug', 'info', 'warn', or 'error'", check: checkLogLevel },
  { name: 'logSourceLocation', kind: 'bool', usage: 'Include the source file, line and function in log lines' },
  { name: 'serverPort', kind: 'int', usage: 'Port number the SPIRE server listens on' },
  { name: 'socketPath', kind: 'string', usage: 'Path of the Unix socket the SPIRE server API (for the local CLI) is served on' },
  { name: 'trustDomain', kind: 'string', usage: 'The trust domain this server belongs to (at most 255 characters)', check: checkTrustDomain },
];

/**
 * The outcome of {@link parseFlags}: the flags; a request for help (`-h`,
 * `-help`); or an error message in Go's wording (`flag provided but not
 * defined: -foo`).
 *
 * @example
 * ```ts
 * const r: FlagsResult = parseFlags(['-config', 'server.conf']);
 * if (r.kind === 'ok') r.flags.config; // 'server.conf'
 * ```
 */
export type FlagsResult = GoFlagsResult<FlagValues>;

/**
 * Parses `run` / `validate` arguments. Values are checked where they enter:
 * `-serverPort` must be a port number, `-trustDomain`, `-logLevel` and
 * `-logFormat` must be valid. A positional argument is refused (SPIRE would
 * silently ignore it and read the default config file).
 *
 * @example
 * ```ts
 * parseFlags(['-config=server.conf', '-expandEnv']); // { kind: 'ok', flags: { config: 'server.conf', expandEnv: true } }
 * parseFlags(['-confg', 'x']);                        // { kind: 'error', message: 'flag provided but not defined: -confg (did you mean -config?)' }
 * ```
 */
export function parseFlags(args: readonly string[]): FlagsResult {
  return parseGoFlags<FlagValues>(args, SERVER_FLAGS);
}

/**
 * The help text of a command taking the server flags, in the layout of Go's
 * `flag.PrintDefaults`.
 *
 * @example
 * ```ts
 * flagsUsage('run'); // 'Usage of run:\n  -bindAddress string\n    \tIP address or DNS name ...'
 * ```
 */
export function flagsUsage(command: string): string {
  return goFlagsUsage(command, SERVER_FLAGS);
}
