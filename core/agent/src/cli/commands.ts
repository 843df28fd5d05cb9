/**
 * The `spire-agent` command line: `run` and `validate`, and the client verbs
 * over a running agent's Workload API socket (`api fetch x509|jwt`,
 * `api validate jwt`, `api watch`, `healthcheck`; see ./api), with SPIRE's
 * flags, output and exit codes. The process (output streams, files, environment)
 * is passed in, so tests can run commands in-process too.
 *
 * @module
 */

import { sideCli } from '@spire-ts/common';
import { flagsUsage, parseFlags } from '../config/flags.js';
import type { FlagValues } from '../config/flags.js';
import { loadConfig } from '../config/load.js';
import type { RuntimeConfig } from '../config/runtime.js';
import { isBuiltIntoAgent, validatePlugins } from '../catalog/validate.js';
import { serveAgent } from '../run/command.js';
import { checkAgentSockets } from '../run/sockets.js';
import { CLIENT_COMMANDS, CLIENT_SYNOPSES, clientMain } from './api/index.js';
import type { ApiIO } from './api/index.js';

export { EXIT_NO_COMMAND } from '@spire-ts/common';
export type { CliIO } from '@spire-ts/common';
export type { ApiIO } from './api/index.js';

/** What `run` reports once the configuration and plugins are up. */
export const NOT_BUILT_YET =
  'the configuration is valid and the plugins loaded and stopped again, but the rest of spire-agent ' +
  '(node attestation, the SVID cache, the Workload API) is not built yet: there is no agent to run';

/**
 * The configurations loaded, by their plugin list: `validate` hands that
 * list to `validatePlugins`, which then also checks the sockets the
 * configuration would serve (socket_path, admin_socket_path).
 */
const loadedByPlugins = new WeakMap<object, RuntimeConfig>();

const cli = sideCli<FlagValues, RuntimeConfig>({
  side: 'agent',
  notBuiltYet: NOT_BUILT_YET,
  serve: serveAgent,
  parseFlags,
  flagsUsage,
  loadConfig: (flags, io) => {
    const r = loadConfig(flags, io);
    if (r.ok) loadedByPlugins.set(r.config.plugins, r.config);
    return r;
  },
  validatePlugins: async (decls, opts) => {
    const results = await validatePlugins(decls, opts);
    const config = loadedByPlugins.get(decls);
    // Nothing is created but a socket bound and removed where nothing was; a missing directory is only checked as makeable.
    const problems = config ? await checkAgentSockets(config, { prepare: false, log: opts.log }) : [];
    return problems.length ? [...results, { id: 'agent', notes: problems }] : results;
  },
  startFields: (config) => ({ trust_domain: config.trustDomain, config: config.configPath, data_dir: config.dataDir, server: `${config.serverAddress}:${config.serverPort}` }),
  // NodeAttestor "join_token" is part of the agent, not a plugin process.
  launched: (config) => config.plugins.filter((d) => !isBuiltIntoAgent(d)),
  moreCommands: CLIENT_SYNOPSES,
});

/**
 * Runs `spire-agent <args>` and resolves with the exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await main(['validate', '-config', 'agent.conf'], io);
 * process.exitCode = await main(['api', 'fetch', 'x509', '-write', 'certs'], io);
 * ```
 */
export async function main(args: readonly string[], io: ApiIO): Promise<number> {
  const first = args[0];
  if (first !== undefined && CLIENT_COMMANDS.has(first)) return clientMain(args, io);
  return cli.main(args, io);
}

/** `spire-agent validate`: checks the configuration and each plugin's plugin_data, without starting anything else. */
export const validateCommand = cli.validateCommand;

/**
 * `spire-agent run`: loads and checks the configuration, then starts the
 * plugin catalog. The rest of the agent is not built yet, so it then stops
 * the plugins and exits 1 saying so.
 */
export const runCommand = cli.runCommand;
