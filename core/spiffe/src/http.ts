/**
 * SPIFFE mTLS for HTTP: node:https servers and agents, node:http2 servers
 * and sessions, and an undici dispatcher (for undici's `request` and for
 * `fetch`).
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import { isIP, type Socket } from 'node:net';
import * as tls from 'node:tls';
import { Agent as UndiciAgent, type buildConnector } from 'undici';
import type { Authorizer } from './authorize.js';
import type { SpiffeId } from './spiffeid.js';
import { keepServerCurrent, peerSpiffeId, tlsClientOptions, tlsServerOptions, type X509TlsSource } from './tls.js';

/**
 * An HTTPS server doing SPIFFE mTLS: only clients `authorizer` accepts get
 * through; the served SVID follows rotations.
 *
 * @example
 * ```ts
 * const server = createHttpsServer(source, authorizeId('spiffe://example.org/web'), (req, res) => {
 *   res.end(`hello ${requestSpiffeId(req, source)?.toString()}`);
 * });
 * server.listen(8443);
 * ```
 */
export function createHttpsServer(source: X509TlsSource, authorizer: Authorizer, listener?: RequestListener, options: https.ServerOptions = {}): https.Server {
  const server = https.createServer({ ...options, ...tlsServerOptions(source) }, listener);
  keepServerCurrent(server, source, authorizer);
  return server;
}

/** An HTTP/2 secure server doing SPIFFE mTLS (see {@link createHttpsServer}). */
export function createHttp2SecureServer(
  source: X509TlsSource,
  authorizer: Authorizer,
  listener?: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
  options: http2.SecureServerOptions = {},
): http2.Http2SecureServer {
  const server = http2.createSecureServer({ ...options, ...tlsServerOptions(source) }, listener);
  keepServerCurrent(server, source, authorizer);
  return server;
}

/** The verified SPIFFE ID of the client of an HTTPS or HTTP/2 request. */
export function requestSpiffeId(req: IncomingMessage | http2.Http2ServerRequest, source: X509TlsSource): SpiffeId | undefined {
  const socket = req.socket as Socket;
  return socket instanceof tls.TLSSocket ? peerSpiffeId(socket, source) : undefined;
}

/**
 * An `https.Agent` whose every new connection presents the source's current
 * SVID and accepts only servers `authorizer` accepts. Connections stay pooled
 * (keep-alive) across rotations; TLS session resumption is off so every
 * connection is verified.
 *
 * @example
 * ```ts
 * const agent = spiffeHttpsAgent(source, authorizeId('spiffe://example.org/api'), { keepAlive: true });
 * https.get('https://10.0.0.5:8443/', { agent }, (res) => ...);
 * ```
 */
export function spiffeHttpsAgent(source: X509TlsSource, authorizer: Authorizer, options: https.AgentOptions = {}): https.Agent {
  class SpiffeAgent extends https.Agent {
    override createConnection(opts: https.RequestOptions, cb?: (err: Error | null, socket: Socket) => void): Socket {
      const create = https.Agent.prototype.createConnection as (this: https.Agent, o: object, c?: (err: Error | null, socket: Socket) => void) => Socket;
      return create.call(this, { ...opts, ...tlsClientOptions(source, authorizer) }, cb);
    }
  }
  return new SpiffeAgent({ ...options, maxCachedSessions: 0 });
}

/**
 * Connects an HTTP/2 session with SPIFFE mTLS.
 *
 * @example
 * ```ts
 * const session = connectHttp2('https://10.0.0.5:8443', source, authorizeMemberOf('example.org'));
 * ```
 */
export function connectHttp2(authority: string | URL, source: X509TlsSource, authorizer: Authorizer, options: http2.SecureClientSessionOptions = {}): http2.ClientHttp2Session {
  return http2.connect(authority, { ...options, ...tlsClientOptions(source, authorizer) });
}

/** Options of {@link spiffeDispatcher}: undici Agent options except `connect`. */
export type SpiffeDispatcherOptions = Omit<UndiciAgent.Options, 'connect'> & { connectTimeoutMs?: number };

/**
 * An undici dispatcher (an `Agent`) that opens every connection with SPIFFE
 * mTLS: the current SVID, the current bundles, the server authorised by
 * SPIFFE ID. Use it with undici's `request`/`fetch`, or Node's global fetch
 * (`fetch(url, { dispatcher })`). Plain `http:` URLs are refused.
 *
 * @example
 * ```ts
 * import { request } from 'undici';
 * const dispatcher = spiffeDispatcher(source, authorizeId('spiffe://example.org/api'));
 * const res = await request('https://10.0.0.5:8443/hello', { dispatcher });
 * ```
 */
export function spiffeDispatcher(source: X509TlsSource, authorizer: Authorizer, options: SpiffeDispatcherOptions = {}): UndiciAgent {
  const { connectTimeoutMs = 10_000, ...agentOptions } = options;
  const connect: buildConnector.connector = (o, cb) => {
    if (o.protocol !== 'https:') {
      cb(new Error(`spiffe: refusing a ${o.protocol} connection to ${o.hostname}: SPIFFE mTLS needs https:`), null);
      return;
    }
    const host = o.hostname.replace(/^\[|\]$/g, '');
    let settled = false;
    const socket = tls.connect({
      ...tlsClientOptions(source, authorizer),
      host,
      port: Number(o.port) || 443,
      servername: o.servername || (isIP(host) ? undefined : host),
      ALPNProtocols: ['http/1.1'],
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    });
    socket.setNoDelay(true);
    const timer = setTimeout(() => finish(new Error(`spiffe: TLS connection to ${o.hostname}:${o.port} timed out after ${connectTimeoutMs} ms`)), connectTimeoutMs);
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('error', finish);
      if (err) {
        socket.destroy();
        cb(err, null);
      } else cb(null, socket);
    };
    socket.once('secureConnect', () => finish());
    socket.once('error', finish);
  };
  return new UndiciAgent({ ...agentOptions, connect });
}

/** Writes a 401 with a `WWW-Authenticate: Bearer` challenge (RFC 6750). */
export function sendBearerChallenge(res: ServerResponse, error: string, description: string): void {
  res.statusCode = 401;
  res.setHeader('www-authenticate', `Bearer error="${error}", error_description="${description.replace(/["\\]/g, "'")}"`);
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end(`${description}\n`);
}
