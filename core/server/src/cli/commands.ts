/**
 * The `spire-server` command line: `run` and `validate`, and the admin
 * verbs over the server's private API socket (`entry`, `agent`, `bundle`,
 * `token`, `x509`, `jwt`, `healthcheck`; see ./admin), with SPIRE's flags,
 * output and exit codes. The process (output streams, files, environment)
 * is passed in, so tests can run commands in-process too.
 *
 * @module
 */

import { isBuiltInComponent, sideCli } from '@spire-ts/common';
import { flagsUsage, parseFlags } from '../config/flags.js';
import type { FlagValues } from '../config/flags.js';
import { loadConfig } from '../config/load.js';
import type { RuntimeConfig } from '../config/runtime.js';
import { validatePlugins } from '../catalog/validate.js';
import { serveServer } from '../run/command.js';
import { ServerHostServices } from '../hostservice/agentstore.js';
import { ADMIN_GROUPS, ADMIN_SYNOPSES, adminMain } from './admin/index.js';
import type { AdminIO } from './admin/index.js';

export { EXIT_NO_COMMAND } from '@spire-ts/common';
export type { CliIO } from '@spire-ts/common';
export type { AdminIO } from './admin/index.js';

/** What `run` reports once the configuration and plugins are up. */
export const NOT_BUILT_YET =
  'the configuration is valid and the plugins loaded and stopped again, but the rest of spire-server ' +
  '(the CA, the server APIs, agent attestation) is not built yet: there is no server to run';

const cli = sideCli<FlagValues, RuntimeConfig, ServerHostServices>({
  side: 'server',
  hostServices: () => new ServerHostServices(),
  notBuiltYet: NOT_BUILT_YET,
  serve: serveServer,
  parseFlags,
  flagsUsage,
  loadConfig,
  validatePlugins,
  startFields: (config) => ({ trust_domain: config.trustDomain, config: config.configPath, data_dir: config.dataDir }),
  // NodeAttestor "join_token" is part of the server, not a plugin process.
  launched: (config) => config.plugins.filter((d) => !isBuiltInComponent(d)),
  moreCommands: ADMIN_SYNOPSES,
});

/**
 * Runs `spire-server <args>` and resolves with the exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await main(['validate', '-config', 'server.conf'], io);
 * process.exitCode = await main(['entry', 'show', '-socketPath', '/tmp/api.sock'], io);
 * ```
 */
export async function main(args: readonly string[], io: AdminIO): Promise<number> {
  const first = args[0];
  if (first !== undefined && ADMIN_GROUPS.has(first)) return adminMain(args, io);
  return cli.main(args, io);
}

/** `spire-server validate`: checks the configuration and each plugin's plugin_data, without starting anything else. */
export const validateCommand = cli.validateCommand;

/**
 * `spire-server run`: loads and checks the configuration, then starts the
 * plugin catalog. The rest of the server is not built yet, so it then stops
 * the plugins and exits 1 saying so.
 */
export const runCommand = cli.runCommand;
