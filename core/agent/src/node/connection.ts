/**
 * The agent's gRPC connection to the SPIRE server: TLS to
 * `server_address:server_port`, the server authenticated as
 * `spiffe://<td>/spire/server` by an SVID that verifies against the current
 * trust bundle (OpenSSL checks the chain against the bundle roots; then
 * {@link validateX509Svid} checks the SPIFFE rules and the ID), the agent
 * authenticated by its SVID once it has one. New credentials (SVID or bundle
 * rotation) get a new channel; the old channel is closed once the calls in
 * flight on it have finished.
 *
 * As SPIRE's agent client releases a connection a call failed on and dials
 * again for the next call, a channel a call could not reach the server on is
 * replaced for the next call: a server back from an outage is reached by the
 * agent's next attempt, not when grpc-js's reconnect backoff (up to two
 * minutes by default) ends. That backoff is also capped near the agent's own
 * retry schedule, for the channel of calls in flight.
 */
import type { DetailedPeerCertificate, PeerCertificate } from 'node:tls';
import type { KeyObject } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { pemEncode, serverId, validateX509Svid, type Logger } from '@spire-ts/common';
import { createClient, type ServiceClientOf, type ServiceName } from '@spire-ts/proto';
import { NodeIdentityError, explainTransportFailure, isGrpcError, isTransportFailure, lastConnectionError } from './errors.js';

export interface ConnectionCredentials {
  /** The bundle's X.509 authorities; undefined = insecure bootstrap (server not verified). */
  roots: readonly Uint8Array[] | undefined;
  /** Where the roots came from, for messages ("trust_bundle_path /x", "the server's bundle"). */
  rootsSource: string;
  /** The agent SVID and key; undefined before attestation. */
  svid?: { chain: readonly Uint8Array[]; key: KeyObject };
}

interface Generation {
  id: number;
  channel: grpc.Channel;
  clients: Map<string, grpc.Client>;
  inflight: number;
  retired: boolean;
  creds: ConnectionCredentials;
  /** Why the last TLS handshake on this channel was refused, if it was. */
  authError: string | undefined;
  /** A call could not reach the server over this channel: the next call gets a new one. */
  failed: boolean;
}

/** Default deadline of one unary call. */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;
/** grpc-js's first reconnect delay on a channel. */
export const RECONNECT_BACKOFF_INITIAL_MS = 1_000;
/** grpc-js's longest reconnect delay on a channel: the agent's retry interval (grpc-js's default is 120 s). */
export const RECONNECT_BACKOFF_MAX_MS = 5_000;

export class ServerConnection {
  readonly target: string;
  private gen: Generation | undefined;
  private nextId = 1;
  private closed = false;
  private readonly expectedId: string;

  constructor(
    private readonly opts: { address: string; port: number; trustDomain: string; log: Logger },
  ) {
    const host = opts.address.includes(':') && !opts.address.startsWith('[') ? `[${opts.address}]` : opts.address;
    this.target = `${host}:${opts.port}`;
    this.expectedId = serverId(opts.trustDomain).toString();
  }

  /** Switches to new credentials: later calls use a new channel; the previous one closes when idle. */
  setCredentials(creds: ConnectionCredentials): void {
    if (this.closed) throw new Error('the server connection is closed');
    this.open(creds, false);
  }

  private open(creds: ConnectionCredentials, redial: boolean): Generation {
    const old = this.gen;
    const gen: Generation = { id: this.nextId++, channel: undefined as unknown as grpc.Channel, clients: new Map(), inflight: 0, retired: false, creds, authError: undefined, failed: false };
    gen.channel = new grpc.Channel(this.target, this.channelCredentials(gen, redial), {
      'grpc.ssl_target_name_override': 'spire-server',
      'grpc.default_authority': this.target,
      'grpc.use_local_subchannel_pool': 1,
      'grpc.initial_reconnect_backoff_ms': RECONNECT_BACKOFF_INITIAL_MS,
      'grpc.max_reconnect_backoff_ms': RECONNECT_BACKOFF_MAX_MS,
    });
    this.gen = gen;
    if (old) this.retire(old);
    return gen;
  }

  get credentials(): ConnectionCredentials | undefined {
    return this.gen?.creds;
  }

  private channelCredentials(gen: Generation, redial: boolean): grpc.ChannelCredentials {
    const { roots, svid } = gen.creds;
    const key = svid ? Buffer.from(svid.key.export({ type: 'pkcs8', format: 'pem' }) as string) : null;
    const chain = svid ? Buffer.from(svid.chain.map((c) => pemEncode('CERTIFICATE', c)).join('')) : null;
    if (!roots) {
      if (!redial) this.opts.log.warn('Insecure bootstrap enabled: the SPIRE server is not authenticated on this connection', { server: this.target });
      return grpc.credentials.createSsl(null, key, chain, { rejectUnauthorized: false, checkServerIdentity: () => undefined });
    }
    const rootsPem = Buffer.from(roots.map((c) => pemEncode('CERTIFICATE', c)).join(''));
    return grpc.credentials.createSsl(rootsPem, key, chain, {
      checkServerIdentity: (_host: string, cert: PeerCertificate) => {
        const err = this.verifyServer(cert, roots);
        gen.authError = err?.message;
        return err;
      },
    });
  }

  /** SPIFFE verification of the server's certificate chain; an Error on failure. */
  private verifyServer(cert: PeerCertificate, roots: readonly Uint8Array[]): Error | undefined {
    try {
      const chain: Uint8Array[] = [];
      const rootSet = new Set(roots.map((r) => Buffer.from(r).toString('base64')));
      let c: DetailedPeerCertificate | undefined = cert as DetailedPeerCertificate;
      const seen = new Set<string>();
      while (c && c.raw) {
        const b64 = c.raw.toString('base64');
        if (seen.has(b64)) break;
        seen.add(b64);
        if (chain.length === 0 || !rootSet.has(b64)) chain.push(new Uint8Array(c.raw));
        c = c.issuerCertificate;
      }
      const [leaf, ...rest] = chain;
      if (!leaf) return new Error('the server presented no certificate');
      const v = validateX509Svid(leaf, rest, roots, new Date());
      if (v.spiffeId !== this.expectedId) return new Error(`the server presented SPIFFE ID ${v.spiffeId}, expected ${this.expectedId}`);
      return undefined;
    } catch (err) {
      return new Error(`the server's certificate is not a valid X.509-SVID for the trust bundle: ${(err as Error).message}`);
    }
  }

  private retire(gen: Generation): void {
    gen.retired = true;
    if (gen.inflight === 0) this.closeGeneration(gen);
  }

  private closeGeneration(gen: Generation): void {
    for (const c of gen.clients.values()) c.close();
    gen.channel.close();
  }

  /**
   * Runs `fn` with a client of `name` on the current channel; the channel is
   * kept open until `fn` settles. Failures are grpc-js errors, except that a
   * TLS failure to authenticate the server becomes a NodeIdentityError
   * `ERR_NODE_SERVER_AUTH` naming the bundle source, and any other failure
   * to reach the server a `ServerUnreachableError` saying what happened to
   * the connection (grpc-js's code and metadata kept). After such a failure
   * the next call dials again on a new channel.
   */
  async with<N extends ServiceName, T>(name: N, fn: (client: ServiceClientOf<N>) => Promise<T>): Promise<T> {
    let gen = this.gen;
    if (this.closed || !gen) throw new NodeIdentityError('ERR_NODE_START', 'the server connection is not open');
    if (gen.failed) gen = this.open(gen.creds, true);
    let client = gen.clients.get(name) as ServiceClientOf<N> | undefined;
    if (!client) {
      client = createClient(name, this.target, grpc.credentials.createInsecure(), { channelOverride: gen.channel });
      gen.clients.set(name, client as unknown as grpc.Client);
    }
    gen.inflight++;
    try {
      return await fn(client);
    } catch (err) {
      if (isTransportFailure(err)) gen.failed = true;
      throw this.explain(err, gen);
    } finally {
      gen.inflight--;
      if (gen.retired && gen.inflight === 0) this.closeGeneration(gen);
    }
  }

  private explain(err: unknown, gen: Generation): unknown {
    if (!isGrpcError(err) || err.code !== grpc.status.UNAVAILABLE) return explainTransportFailure(err, this.target);
    const details = err.details ?? err.message;
    const tlsProblem = /certificate|self.signed|CERT_|handshake|SSL/i.test(details);
    if (!gen.authError && !tlsProblem) return explainTransportFailure(err, this.target);
    const why = gen.authError ?? lastConnectionError(details) ?? details.trim();
    return new NodeIdentityError(
      'ERR_NODE_SERVER_AUTH',
      `cannot authenticate the SPIRE server at ${this.target} as ${this.expectedId} with the trust bundle from ${gen.creds.rootsSource}: ${why}`,
      { cause: err, grpcCode: err.code },
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.gen) this.retire(this.gen);
    this.gen = undefined;
  }
}

/** Calls a grpc-js unary method as a promise with a deadline. */
export function unaryCall<Req, Res>(
  fn: (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown,
  req: Req,
  timeoutMs = DEFAULT_CALL_TIMEOUT_MS,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
      if (err) reject(err);
      else if (res === undefined) reject(new Error('empty response'));
      else resolve(res);
    });
  });
}
