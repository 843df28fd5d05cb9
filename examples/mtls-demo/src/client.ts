#!/usr/bin/env node
/**
 * The demo client: gets its identity from the agent, calls the demo server
 * over SPIFFE mTLS, accepting the server only if its SPIFFE ID is exactly
 * DEMO_SERVER_ID, and prints the answer. With DEMO_INTERVAL_MS it keeps
 * calling on one keep-alive connection pool, through SVID rotations.
 *
 * Environment: SPIFFE_ENDPOINT_SOCKET (the agent), DEMO_HINT (demo-client),
 * DEMO_SERVER_URL (https://127.0.0.1:8443/), DEMO_SERVER_ID
 * (spiffe://example.org/demo-server), DEMO_INTERVAL_MS (0: call once and exit).
 * Exit status: 0 when every call succeeded, 1 otherwise.
 */
import type { X509Source } from '@spire-ts/spiffe';
import { callServer, demoDispatcher } from './call.js';
import { describeSvid, env, fail, onShutdown, openIdentity, reportRotations, say } from './identity.js';

const hint = env('DEMO_HINT', 'demo-client');
const url = env('DEMO_SERVER_URL', 'https://127.0.0.1:8443/');
const serverId = env('DEMO_SERVER_ID', 'spiffe://example.org/demo-server');
const intervalMs = Number(env('DEMO_INTERVAL_MS', '0'));

let source: X509Source;
try {
  if (!Number.isFinite(intervalMs) || intervalMs < 0) throw new Error(`DEMO_INTERVAL_MS must be a number of milliseconds, not ${JSON.stringify(process.env.DEMO_INTERVAL_MS)}`);
  source = await openIdentity(hint);
} catch (err) {
  fail(err);
}
say(`identity: ${describeSvid(source.getX509Svid())}`);
reportRotations(source);
const dispatcher = demoDispatcher(source, serverId);

async function callOnce(): Promise<boolean> {
  const r = await callServer(url, dispatcher);
  if (r.kind === 'ok') say(`mTLS ok: ${serverId} answered "${r.body}"`);
  else if (r.kind === 'refused') say(`refused by ${serverId} (HTTP ${r.status}): ${r.body}`);
  else say(`call to ${url} failed: ${r.message}`);
  return r.kind === 'ok';
}

let timer: NodeJS.Timeout | undefined;
onShutdown(async () => {
  if (timer) clearTimeout(timer);
  await dispatcher.close();
  source.close();
});

const ok = await callOnce();
if (intervalMs === 0) {
  await dispatcher.close();
  source.close();
  process.exit(ok ? 0 : 1);
}
const loop = (): void => {
  timer = setTimeout(() => void callOnce().then(loop), intervalMs);
};
loop();
