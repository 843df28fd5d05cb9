#!/usr/bin/env node
/**
 * The intruder: a workload with a perfectly valid SVID of the trust domain
 * (spiffe://example.org/intruder) that is not on the demo server's
 * allow-list. It calls the server once and reports how it was refused.
 *
 * Environment: as the client (DEMO_HINT defaults to "intruder").
 * Exit status: 0 when refused (what the demo expects), 1 when let in,
 * 2 when the call failed for another reason or no identity was issued.
 */
import type { X509Source } from '@spire-ts/spiffe';
import { callServer, demoDispatcher } from './call.js';
import { describeSvid, env, openIdentity, say } from './identity.js';

const hint = env('DEMO_HINT', 'intruder');
const url = env('DEMO_SERVER_URL', 'https://127.0.0.1:8443/');
const serverId = env('DEMO_SERVER_ID', 'spiffe://example.org/demo-server');

let source: X509Source;
try {
  source = await openIdentity(hint);
} catch (err) {
  say(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
}
say(`identity: ${describeSvid(source.getX509Svid())}`);
const dispatcher = demoDispatcher(source, serverId);
const r = await callServer(url, dispatcher);
await dispatcher.close();
source.close();
if (r.kind === 'refused') {
  say(r.body.startsWith('refused:') ? r.body : `refused (HTTP ${r.status}): ${r.body}`);
  process.exit(0);
}
if (r.kind === 'ok') {
  say(`let in, which should not happen: ${serverId} answered "${r.body}"`);
  process.exit(1);
}
say(`call to ${url} failed: ${r.message}`);
process.exit(2);
