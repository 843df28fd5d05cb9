import * as http2 from 'node:http2';
import { createRequire } from 'node:module';
import { rmSync } from 'node:fs';
import { Duplex } from 'node:stream';
import type * as grpc from '@grpc/grpc-js';
import { toServiceError } from '../errors.js';
import { Status } from '../status.js';
import { FramingError, MessageParser, encodeGrpcMessage, frame, parseGrpcTimeout } from './framing.js';

// grpc-js's Metadata class alone (a small module), so handlers see the type they expect
// without the plugin loading all of grpc-js.
const require = createRequire(import.meta.url);
const { Metadata } = require('@grpc/grpc-js/build/src/metadata.js') as { Metadata: typeof grpc.Metadata };

/** What a method needs on the server: its path, shape and codecs. */
export interface ServerMethod {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestDeserialize(bytes: Buffer): unknown;
  responseSerialize(value: unknown): Buffer;
}

type AnyHandler = (...args: never[]) => unknown;

const MAX_WINDOW = 2 ** 31 - 1;
const DEFAULT_MAX_MESSAGE = 2 ** 31 - 1 - 5;
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Trailers {
  code: number;
  details: string;
  metadata?: grpc.Metadata | undefined;
}

/**
 * One call, in the shape grpc-js gives handlers: `request` and `metadata`,
 * and a Duplex stream of messages (read: requests, write: responses).
 * `end()` finishes with OK; `destroy(err)` or `emit('error', err)` finishes
 * with err's status; `cancelled` and the 'cancelled' event report the
 * client going away or the deadline passing.
 */
export class ServerCall extends Duplex {
  request: unknown = undefined;
  readonly metadata: grpc.Metadata;
  cancelled = false;
  private headersSent = false;
  private finished = false;
  private pendingTrailers: Trailers | undefined;
  private readonly deadline: number;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    private readonly method: ServerMethod,
  ) {
    super({ objectMode: true });
    this.metadata = Metadata.fromHttp2Headers(headers);
    // Transport headers are not metadata (grpc-js strips them too).
    for (const reserved of ['te', 'content-type', 'grpc-timeout', 'user-agent', 'grpc-encoding', 'grpc-accept-encoding']) this.metadata.remove(reserved);
    const timeout = parseGrpcTimeout(headers['grpc-timeout'] as string | undefined);
    this.deadline = timeout === undefined ? Infinity : Date.now() + timeout;
    stream.on('wantTrailers', () => {
      const t = this.pendingTrailers ?? { code: Status.OK, details: '' };
      stream.sendTrailers(this.trailerHeaders(t));
    });
    stream.on('close', () => {
      if (!this.finished) this.cancel();
      if (!this.readableEnded) this.push(null);
    });
    stream.on('error', () => undefined);
    // A handler may report a streaming failure with call.emit('error', err).
    this.on('error', (err: unknown) => this.sendStatus(toServiceError(err)));
  }

  /** `ipv4:1.2.3.4:5`, `ipv6:[::1]:5` for TCP connections, `unix:` for Unix sockets (grpc-js's shapes). */
  getPeer(): string {
    const socket = this.stream.session?.socket;
    const addr = socket?.remoteAddress;
    if (!addr) return 'unix:';
    return addr.includes(':') ? `ipv6:[${addr}]:${socket.remotePort ?? 0}` : `ipv4:${addr}:${socket.remotePort ?? 0}`;
  }

  /**
   * The connection the call arrived on (a `tls.TLSSocket` on a secure server),
   * for servers that authenticate callers by their transport; undefined once closed.
   */
  get connection(): http2.ServerHttp2Session['socket'] | undefined {
    return this.stream.session?.socket;
  }

  getDeadline(): Date | number {
    return this.deadline === Infinity ? Infinity : new Date(this.deadline);
  }

  getPath(): string {
    return this.method.path;
  }

  /** True once a status has been sent (or the call was cancelled). */
  get isFinished(): boolean {
    return this.finished;
  }

  get deadlineMs(): number {
    return this.deadline;
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.finished = true;
    this.emit('cancelled', 'cancelled');
  }

  sendMetadata(md: grpc.Metadata): void {
    this.sendHeaders(md);
  }

  private trailerHeaders(t: Trailers): http2.OutgoingHttpHeaders {
    const h: http2.OutgoingHttpHeaders = { 'grpc-status': String(t.code), 'grpc-message': encodeGrpcMessage(t.details) };
    if (t.metadata) Object.assign(h, t.metadata.toHttp2Headers());
    return h;
  }

  private sendHeaders(md?: grpc.Metadata): void {
    if (this.headersSent || this.stream.destroyed) return;
    this.headersSent = true;
    const h: http2.OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc' };
    if (md) Object.assign(h, md.toHttp2Headers());
    this.stream.respond(h, { waitForTrailers: true });
  }

  /** Ends the call with a status (once). */
  sendStatus(t: Trailers): void {
    if (this.finished) return;
    this.finished = true;
    if (this.stream.destroyed || this.stream.closed) return;
    if (!this.headersSent) {
      // Trailers-only response.
      this.headersSent = true;
      this.stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...this.trailerHeaders(t) }, { endStream: true });
      return;
    }
    this.pendingTrailers = t;
    this.stream.end();
  }

  /** Unary completion: the message and OK trailers in one go. */
  sendUnary(value: unknown, trailer?: grpc.Metadata): void {
    if (this.finished) return;
    let bytes: Buffer;
    try {
      bytes = this.method.responseSerialize(value);
    } catch (err) {
      this.sendStatus({ code: Status.INTERNAL, details: `cannot serialize the response: ${(err as Error).message}` });
      return;
    }
    this.finished = true;
    if (this.stream.destroyed || this.stream.closed) return;
    this.sendHeaders();
    this.pendingTrailers = { code: Status.OK, details: '', metadata: trailer };
    this.stream.end(frame(bytes));
  }

  override _read(): void {
    // Messages are pushed as they arrive.
  }

  override _write(chunk: unknown, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.finished) {
      cb();
      return;
    }
    let bytes: Buffer;
    try {
      bytes = this.method.responseSerialize(chunk);
    } catch (err) {
      cb(err as Error);
      return;
    }
    this.sendHeaders();
    this.stream.write(frame(bytes), (err) => cb(err ?? null));
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.sendHeaders();
    this.sendStatus({ code: Status.OK, details: '' });
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    if (err) this.sendStatus(toServiceError(err));
    else if (!this.finished) this.sendStatus({ code: Status.CANCELLED, details: 'call destroyed by the server' });
    cb(null);
  }
}

/**
 * A small gRPC server on node:http2 for plugin processes: unary, server-,
 * client- and bidi-streaming calls with grpc-js-shaped handlers, standard
 * gRPC over h2c so SPIRE (grpc-go) and spire-ts hosts both talk to it.
 * It replaces grpc-js in plugins, where grpc-js's per-call machinery and
 * memory are most of the cost of a call.
 */
export class LeanGrpcServer {
  private readonly methods = new Map<string, { method: ServerMethod; handler: AnyHandler }>();
  private readonly server: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private socketPath: string | undefined;

  constructor(private readonly opts: { maxMessageBytes?: number } = {}) {
    this.server = http2.createServer({ settings: { initialWindowSize: MAX_WINDOW, enablePush: false } });
    this.attach(this.server);
  }

  /**
   * Serves this server's methods on another HTTP/2 server too (e.g. a
   * `http2.createSecureServer` for gRPC over TLS); its lifecycle stays the caller's.
   */
  attach(server: http2.Http2Server | http2.Http2SecureServer): void {
    server.on('session', (session: http2.ServerHttp2Session) => {
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
      session.on('error', () => undefined);
      session.setLocalWindowSize(MAX_WINDOW);
    });
    server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => this.onStream(stream, headers));
  }

  /** Closes (gracefully) every session of every attached server, dropping them after `graceMs`. */
  async closeSessions(graceMs = 1000): Promise<void> {
    const open = [...this.sessions];
    if (open.length === 0) return;
    const done = Promise.all(open.map((s) => new Promise<void>((r) => (s.closed ? r() : (s.once('close', () => r()), s.close())))));
    const timer = setTimeout(() => {
      for (const s of open) s.destroy();
    }, graceMs);
    await done;
    clearTimeout(timer);
  }

  /** Registers handlers (grpc-js style) for a service definition; missing methods answer UNIMPLEMENTED. */
  addService(definition: Record<string, ServerMethod>, handlers: Record<string, unknown>): void {
    for (const [name, method] of Object.entries(definition)) {
      const handler = handlers[name];
      if (typeof handler !== 'function') continue;
      if (this.methods.has(method.path)) throw new Error(`method ${method.path} registered twice`);
      this.methods.set(method.path, { method, handler: handler as AnyHandler });
    }
  }

  listen(socketPath: string): Promise<void> {
    this.socketPath = socketPath;
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(socketPath, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Stops accepting, lets calls in flight finish for up to `graceMs`, then drops them. */
  async close(graceMs = 1000): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sessions) s.close();
    const timer = setTimeout(() => {
      for (const s of this.sessions) s.destroy();
    }, graceMs);
    await closed;
    clearTimeout(timer);
    if (this.socketPath) rmSync(this.socketPath, { force: true });
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    if (headers[':method'] !== 'POST') {
      stream.respond({ ':status': 405, allow: 'POST' }, { endStream: true });
      return;
    }
    const ct = headers['content-type'];
    if (typeof ct !== 'string' || !ct.startsWith('application/grpc')) {
      stream.respond({ ':status': 415 }, { endStream: true });
      return;
    }
    const path = String(headers[':path']);
    const entry = this.methods.get(path);
    if (!entry) {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(Status.UNIMPLEMENTED), 'grpc-message': encodeGrpcMessage(`unknown method ${path}`) }, { endStream: true });
      return;
    }
    const { method, handler } = entry;
    const call = new ServerCall(stream, headers, method);
    // A deadline further away than a timer can wait (~24.8 days) would fire at once: treat it as none.
    if (call.deadlineMs !== Infinity && call.deadlineMs - Date.now() <= MAX_TIMER_MS) {
      const t = setTimeout(() => {
        if (call.isFinished) return;
        call.sendStatus({ code: Status.DEADLINE_EXCEEDED, details: 'deadline exceeded' });
        call.cancel();
      }, Math.max(0, call.deadlineMs - Date.now()));
      stream.on('close', () => clearTimeout(t));
    }
    const parser = new MessageParser(this.opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE);
    const received: unknown[] = [];
    const unaryRequest = !method.requestStream;
    stream.on('data', (chunk: Buffer) => {
      let messages: Buffer[];
      try {
        messages = parser.push(chunk);
      } catch (err) {
        const code = err instanceof FramingError && err.kind === 'too-large' ? Status.RESOURCE_EXHAUSTED : Status.UNIMPLEMENTED;
        call.sendStatus({ code, details: (err as Error).message });
        return;
      }
      for (const m of messages) {
        let decoded: unknown;
        try {
          decoded = method.requestDeserialize(m);
        } catch (err) {
          call.sendStatus({ code: Status.INTERNAL, details: `cannot decode the request: ${(err as Error).message}` });
          return;
        }
        if (unaryRequest) received.push(decoded);
        else call.push(decoded);
      }
    });
    const run = (fn: () => unknown): void => {
      try {
        const r = fn();
        if (r && typeof (r as Promise<unknown>).catch === 'function') {
          (r as Promise<unknown>).catch((err: unknown) => call.sendStatus(toServiceError(err)));
        }
      } catch (err) {
        call.sendStatus(toServiceError(err));
      }
    };
    const callback = (err: unknown, value?: unknown, trailer?: grpc.Metadata): void => {
      if (err) call.sendStatus(toServiceError(err));
      else call.sendUnary(value, trailer);
    };
    if (unaryRequest) {
      stream.on('end', () => {
        if (call.cancelled) return;
        if (received.length !== 1) {
          call.sendStatus({ code: Status.INTERNAL, details: `expected exactly one request message, got ${received.length}` });
          return;
        }
        call.request = received[0];
        if (!method.responseStream) run(() => (handler as (c: unknown, cb: typeof callback) => unknown)(call, callback));
        else {
          call.push(null);
          run(() => (handler as (c: unknown) => unknown)(call));
        }
      });
      stream.resume();
      return;
    }
    stream.on('end', () => call.push(null));
    if (!method.responseStream) run(() => (handler as (c: unknown, cb: typeof callback) => unknown)(call, callback));
    else run(() => (handler as (c: unknown) => unknown)(call));
  }
}
