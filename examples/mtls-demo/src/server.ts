#!/usr/bin/env node
/**
 * The demo server: an HTTPS service doing SPIFFE mTLS. The TLS handshake
 * accepts any client with an SVID of our trust domain (authentication); each
 * request is then authorised by the caller's SPIFFE ID against an allow-list,
 * and a caller not on it gets a 403 saying so.
 *
 * Environment: SPIFFE_ENDPOINT_SOCKET (the agent), DEMO_HINT (demo-server),
 * DEMO_HOST (127.0.0.1), DEMO_PORT (8443; 0 picks a free port),
 * DEMO_ALLOW (comma-separated SPIFFE IDs; spiffe://example.org/demo-client).
 */
import type { AddressInfo } from 'node:net';
import { AuthorizationError, authorizeMemberOf, authorizeOneOf, createHttpsServer, requestSpiffeId, type X509Source } from '@spire-ts/spiffe';
import { describeSvid, env, fail, onShutdown, openIdentity, reportRotations, say, serialOf } from './identity.js';

const hint = env('DEMO_HINT', 'demo-server');
const host = env('DEMO_HOST', '127.0.0.1');
const port = Number(env('DEMO_PORT', '8443'));
const allowList = env('DEMO_ALLOW', 'spiffe://example.org/demo-client')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '');

let source: X509Source;
try {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`DEMO_PORT must be a port number, not ${JSON.stringify(process.env.DEMO_PORT)}`);
  source = await openIdentity(hint);
} catch (err) {
  fail(err);
}
const self = source.getX509Svid().id;
const allowed = authorizeOneOf(allowList);
say(`identity: ${describeSvid(source.getX509Svid())}`);
reportRotations(source);

const server = createHttpsServer(source, authorizeMemberOf(self.trustDomain), (req, res) => {
  const caller = requestSpiffeId(req, source);
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  if (!caller) {
    res.statusCode = 401;
    res.end('no verified client SVID\n');
    return;
  }
  try {
    allowed(caller);
  } catch (err) {
    if (!(err instanceof AuthorizationError)) throw err;
    const why = `refused: ${caller.toString()} is not allowed to call ${self.toString()}`;
    say(why);
    res.statusCode = 403;
    res.end(`${why}\n`);
    return;
  }
  say(`served ${caller.toString()}`);
  res.end(`hello ${caller.toString()}, this is ${self.toString()} (serial ${serialOf(source.getX509Svid())})\n`);
});
server.on('tlsClientError', (err: Error) => say(`TLS connection refused: ${err.message}`));
server.once('error', (err: NodeJS.ErrnoException) => {
  const hintText = err.code === 'EADDRINUSE' ? `: port ${port} is in use; set DEMO_PORT to another port (0 picks a free one)` : '';
  fail(new Error(`cannot listen on ${host}:${port}: ${err.message}${hintText}`));
});
server.listen(port, host, () => {
  const addr = server.address() as AddressInfo;
  say(`listening on https://${host}:${addr.port}/ (callers allowed: ${allowList.join(', ')})`);
});

onShutdown(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  source.close();
});
