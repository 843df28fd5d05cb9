/** `spire-agent run` once the configuration is valid and the plugins are loaded: start, serve until stopped or the node identity is lost. */
import type { ServeContext } from '@spire-ts/common';
import type { RuntimeConfig } from '../config/runtime.js';
import { startAgent } from './agent.js';

/** Serves until `io.stopSignal` aborts (0) or the agent is banned/evicted (1, saying why). */
export async function serveAgent(ctx: ServeContext<RuntimeConfig>): Promise<number> {
  const { config, catalog, log, io } = ctx;
  const agent = await startAgent({ config, catalog, log, ...(io.version ? { version: io.version } : {}) });
  const signal = io.stopSignal;
  const stopped = new Promise<'signal'>((resolve) => {
    if (!signal) return;
    if (signal.aborted) resolve('signal');
    else signal.addEventListener('abort', () => resolve('signal'), { once: true });
  });
  const outcome = await Promise.race([stopped, agent.terminated]);
  if (outcome === 'signal') {
    log.info('Stopping spire-agent', signal?.reason ? { signal: String(signal.reason) } : undefined);
    await agent.close();
    return 0;
  }
  log.error('Agent stopped serving: its node identity is no longer valid', { error: outcome.message });
  await agent.close();
  if (config.log.file) io.stderr(`spire-agent: ${outcome.message}\n`);
  return 1;
}
