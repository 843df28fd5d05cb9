/**
 * The agent's Unix sockets checked before anything depends on them: a
 * `socket_path` or `admin_socket_path` the agent cannot serve on should
 * stop it before node attestation spends a join token, and `spire-agent
 * validate` should say so too. Messages name the key.
 *
 * @module
 */

import type { Logger } from '@spire-ts/common';
import type { RuntimeConfig } from '../config/runtime.js';
import { probeSocketPath } from '../workload/index.js';

/** The sockets the configuration serves: key, path, what is served. */
function socketsOf(config: Pick<RuntimeConfig, 'socketPath' | 'adminSocketPath' | 'workloadApi'>): { key: string; path: string; what: string }[] {
  const out: { key: string; path: string; what: string }[] = [];
  if (!config.workloadApi.disabled) out.push({ key: 'socket_path', path: config.socketPath, what: 'Workload API' });
  if (config.adminSocketPath) out.push({ key: 'admin_socket_path', path: config.adminSocketPath, what: 'admin API' });
  return out;
}

/**
 * Checks each socket the agent will serve (see `probeSocketPath`); with
 * `prepare`, also makes the directories and removes stale sockets as
 * serving does. Resolves with the problems, each naming its key:
 * `socket_path "/proc/api.sock": cannot create the Workload API socket there: EACCES: permission denied`.
 *
 * @example
 * ```ts
 * const problems = await checkAgentSockets(config, { prepare: false, log });
 * ```
 */
export async function checkAgentSockets(
  config: Pick<RuntimeConfig, 'socketPath' | 'adminSocketPath' | 'workloadApi'>,
  o: { readonly prepare: boolean; readonly log: Logger },
): Promise<string[]> {
  const problems: string[] = [];
  for (const s of socketsOf(config)) {
    try {
      await probeSocketPath(s.path, { what: s.what, prepare: o.prepare, log: o.log });
    } catch (err) {
      problems.push(`${s.key} ${JSON.stringify(s.path)}: ${(err as Error).message}`);
    }
  }
  return problems;
}
