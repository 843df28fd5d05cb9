/**
 * The `health_checks` listener of a running side, when its configuration
 * enables it: started, registered for stopping, and logged.
 *
 * @module
 */

import { startHealthListener } from '../health/http.js';
import type { HealthListener, HealthListenerOptions } from '../health/http.js';
import type { Logger } from '../log/logger.js';
import type { StopStack } from './stop-stack.js';

/** The `health_checks` settings a side resolved from its configuration. */
export interface HealthChecksSettings {
  readonly listenerEnabled: boolean;
  readonly bindAddress: string;
  readonly bindPort: number;
  readonly livePath: string;
  readonly readyPath: string;
}

/**
 * Starts the health listener if `settings` enable it (else `undefined`),
 * pushes its close onto `stops`, and logs where it serves.
 *
 * @example
 * ```ts
 * const health = await serveHealthChecks(config.healthChecks, () => ({ 'server.ca': { live: true, ready: true } }), stops, log);
 * ```
 */
export async function serveHealthChecks(
  settings: HealthChecksSettings,
  checks: HealthListenerOptions['checks'],
  stops: StopStack,
  log: Logger,
): Promise<HealthListener | undefined> {
  if (!settings.listenerEnabled) return undefined;
  const { bindAddress, bindPort, livePath, readyPath } = settings;
  const health = await startHealthListener({ bindAddress, bindPort, livePath, readyPath, checks });
  stops.push(() => health.close());
  log.info('Serving health checks', { address: `${health.address.address}:${health.address.port}` });
  return health;
}
