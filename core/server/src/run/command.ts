/** `spire-server run` once the configuration is valid and the plugins are loaded: start, serve until stopped, stop. */
import type { ServeContext } from '@spire-ts/common';
import type { RuntimeConfig } from '../config/runtime.js';
import type { ServerHostServices } from '../hostservice/agentstore.js';
import { startServer } from './server.js';

/** Serves until `io.stopSignal` aborts (SIGINT/SIGTERM); 0 after a clean stop. */
export async function serveServer(ctx: ServeContext<RuntimeConfig, ServerHostServices>): Promise<number> {
  const { config, catalog, log, io, hostServices } = ctx;
  const server = await startServer({ config, catalog, log, ...(hostServices ? { hostServices } : {}) });
  const signal = io.stopSignal;
  await new Promise<void>((resolve) => {
    if (!signal) return; // No way to be stopped: serve for as long as the process lives.
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  log.info('Stopping spire-server', signal?.reason ? { signal: String(signal.reason) } : undefined);
  await server.close();
  return 0;
}
