/**
 * The client verbs of `spire-agent`: `api fetch [x509]`, `api fetch jwt`,
 * `api validate jwt`, `api watch` and `healthcheck`, talking to a running
 * agent's Workload API socket, dispatched by their words as SPIRE's
 * command line does.
 *
 * @module
 */

import { runApiCommand } from './command.js';
import type { ApiCommand, ApiIO } from './command.js';
import { fetchJwt, fetchX509, validateJwt } from './fetch.js';
import { healthcheck } from './healthcheck.js';
import { watch } from './watch.js';

export type { ApiIO } from './command.js';
export { endpointSocketPath, agentSocketPath, DEFAULT_SOCKET_PATH } from './client.js';

/** The `api` commands by their words after `api` (`fetch` alone is `fetch x509`). */
const API_COMMANDS: ReadonlyMap<string, ApiCommand> = new Map([
  ['fetch x509', fetchX509],
  ['fetch jwt', fetchJwt],
  ['validate jwt', validateJwt],
  ['watch', watch],
]);

/** The top-level words this module answers. */
export const CLIENT_COMMANDS: ReadonlySet<string> = new Set(['api', 'healthcheck']);

/** Synopses for the top-level help. */
export const CLIENT_SYNOPSES: Readonly<Record<string, string>> = {
  api: 'Interacts with the Workload API of a running agent (fetch x509, fetch jwt, validate jwt, watch)',
  healthcheck: healthcheck.synopsis,
};

function apiUsage(): string {
  const lines = [...API_COMMANDS].map(([words, c]) => `    ${words.padEnd(16)}${c.synopsis}`);
  return `Usage: spire-agent api <subcommand> [options]\n\nAvailable subcommands are:\n${lines.join('\n')}\n`;
}

/**
 * Runs `spire-agent api ...` or `spire-agent healthcheck ...` and resolves
 * with the exit code; an unknown or missing `api` subcommand lists them and exits 1.
 *
 * @example
 * ```ts
 * await clientMain(['api', 'fetch', 'jwt', '-audience', 'db', '-socketPath', '/tmp/api.sock'], io);
 * ```
 */
export async function clientMain(args: readonly string[], io: ApiIO): Promise<number> {
  if (args[0] === 'healthcheck') return runApiCommand(healthcheck, args.slice(1), io);
  const [, first, second] = args;
  const two = first !== undefined && second !== undefined ? API_COMMANDS.get(`${first} ${second}`) : undefined;
  if (two) return runApiCommand(two, args.slice(3), io);
  if (first === 'fetch') return runApiCommand(fetchX509, args.slice(2), io);
  const one = first === undefined ? undefined : API_COMMANDS.get(first);
  if (one) return runApiCommand(one, args.slice(2), io);
  if (first === '-h' || first === '-help' || first === '--help') {
    io.stderr(apiUsage());
    return 0;
  }
  const what = first === undefined ? 'a subcommand is required' : `unknown subcommand ${JSON.stringify([first, second].filter((w) => w !== undefined && !w.startsWith('-')).join(' '))}`;
  io.stderr(`spire-agent api: ${what}\n\n${apiUsage()}`);
  return 1;
}
