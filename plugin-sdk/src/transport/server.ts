import { createRequire } from 'node:module';
import { rmSync } from 'node:fs';
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import type * as grpc from '@grpc/grpc-js';
import { toServiceError } from '../errors.js';
import { Status } from '../status.js';
import { FramingError, MessageParser, encodeGrpcMessage, frame, parseGrpcTimeout } from './framing.js';
import type { HeaderField } from './hpack.js';
import { H2ServerConnection, encodeHeaderBlock, type H2ServerOptions, type H2ServerStream, type RequestHeaders } from './h2server.js';

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

const DEFAULT_MAX_MESSAGE = 2 ** 31 - 1 - 5;
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Trailers {
  code: number;
  details: string;
  metadata?: grpc.Metadata | undefined;
}

/** Transport headers are not metadata (grpc-js strips them too). */
const RESERVED = ['te', 'content-type', 'grpc-timeout', 'user-agent', 'grpc-encoding', 'grpc-accept-encoding'];
const CONTENT_TYPE: HeaderField = ['content-type', 'application/grpc'];
const OK_HEADERS = encodeHeaderBlock([[':status', '200'], CONTENT_TYPE]);
const OK_TRAILERS = encodeHeaderBlock([['grpc-status', '0']]);

/** Metadata as header fields: one field per value, `-bin` values base64 (grpc-js's toHttp2Headers shapes). */
function pushMetadata(fields: HeaderField[], md: grpc.Metadata | undefined): void {
  if (!md) return;
  for (const [key, values] of Object.entries(md.toHttp2Headers())) {
    if (Array.isArray(values)) for (const v of values) fields.push([key, String(v)]);
    else if (values !== undefined) fields.push([key, String(values)]);
  }
}

function trailerFields(t: Trailers): HeaderField[] {
  const fields: HeaderField[] = [['grpc-status', String(t.code)]];
  if (t.details) fields.push(['grpc-message', encodeGrpcMessage(t.details)]);
  pushMetadata(fields, t.metadata);
  return fields;
}

/**
 * Messages up to this size are copied behind their prefix (one DATA frame);
 * larger ones are not copied (they are often encoded once and written to
 * many callers, and the connection hands them to the socket as they are).
 */
const COPY_LIMIT = 2048;

/** Queues one length-prefixed message on the stream; `cb` runs when it has gone out. */
function writeMessage(stream: H2ServerStream, bytes: Buffer, cb?: (err?: Error | null) => void): void {
  if (bytes.length <= COPY_LIMIT) {
    stream.write(frame(bytes), cb);
    return;
  }
  const prefix = Buffer.allocUnsafe(5);
  prefix[0] = 0;
  prefix.writeUInt32BE(bytes.length, 1);
  stream.write(prefix);
  stream.write(bytes, cb);
}

/**
 * A response message already in protobuf wire form, for {@link ServerCall}'s
 * `write`: sent as it is, not through the method's serializer. For messages
 * a handler can encode far more cheaply than a general serializer (large,
 * regular, or the same for many callers).
 */
export class EncodedMessage {
  constructor(readonly bytes: Buffer) {}
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
  private readonly deadline: number;

  constructor(
    private readonly stream: H2ServerStream,
    headers: RequestHeaders,
    private readonly method: ServerMethod,
  ) {
    super({ objectMode: true });
    this.metadata = Metadata.fromHttp2Headers(headers);
    for (const reserved of RESERVED) this.metadata.remove(reserved);
    const timeout = parseGrpcTimeout(headers['grpc-timeout']);
    this.deadline = timeout === undefined ? Infinity : Date.now() + timeout;
    stream.onClose = () => {
      if (!this.finished) this.cancel();
      if (!this.readableEnded) this.push(null);
    };
    // A handler may report a streaming failure with call.emit('error', err).
    this.on('error', (err: unknown) => this.sendStatus(toServiceError(err)));
  }

  /** `ipv4:1.2.3.4:5`, `ipv6:[::1]:5` for TCP connections, `unix:` for Unix sockets (grpc-js's shapes). */
  getPeer(): string {
    const socket = this.stream.socket;
    const addr = socket.remoteAddress;
    if (!addr) return 'unix:';
    return addr.includes(':') ? `ipv6:[${addr}]:${socket.remotePort ?? 0}` : `ipv4:${addr}:${socket.remotePort ?? 0}`;
  }

  /**
   * The connection the call arrived on (a `tls.TLSSocket` on a secure server),
   * for servers that authenticate callers by their transport; undefined once
   * the call's stream has closed.
   */
  get connection(): net.Socket | undefined {
    return this.stream.closed ? undefined : this.stream.socket;
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

  private sendHeaders(md?: grpc.Metadata): void {
    if (this.headersSent || this.stream.closed) return;
    this.headersSent = true;
    if (!md) {
      this.stream.respond(OK_HEADERS, false);
      return;
    }
    const fields: HeaderField[] = [[':status', '200'], CONTENT_TYPE];
    pushMetadata(fields, md);
    this.stream.respond(encodeHeaderBlock(fields), false);
  }

  /** Ends the call with a status (once). */
  sendStatus(t: Trailers): void {
    if (this.finished) return;
    this.finished = true;
    if (this.stream.closed) return;
    if (!this.headersSent) {
      // Trailers-only response.
      this.headersSent = true;
      this.stream.respond(encodeHeaderBlock([[':status', '200'], CONTENT_TYPE, ...trailerFields(t)]), true);
      return;
    }
    this.stream.end(t.code === Status.OK && !t.details && !t.metadata ? OK_TRAILERS : encodeHeaderBlock(trailerFields(t)));
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
    if (this.stream.closed) return;
    this.sendHeaders();
    writeMessage(this.stream, bytes);
    this.stream.end(trailer ? encodeHeaderBlock(trailerFields({ code: Status.OK, details: '', metadata: trailer })) : OK_TRAILERS);
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
      bytes = chunk instanceof EncodedMessage ? chunk.bytes : this.method.responseSerialize(chunk);
    } catch (err) {
      cb(err as Error);
      return;
    }
    this.sendHeaders();
    writeMessage(this.stream, bytes, cb);
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

export interface LeanGrpcServerOptions {
  /** Largest request message accepted (RESOURCE_EXHAUSTED beyond). */
  maxMessageBytes?: number;
  /** HTTP/2 settings of the connections (windows, stream and header limits). */
  http2?: H2ServerOptions;
}

/**
 * A small gRPC server with its own HTTP/2 (h2server.ts) for plugin
 * processes and the agent's and server's APIs: unary, server-, client- and
 * bidi-streaming calls with grpc-js-shaped handlers, standard gRPC over h2c
 * or TLS so SPIRE (grpc-go) and spire-ts peers both talk to it. It replaces
 * grpc-js (and node:http2), whose per-call machinery is most of the cost of
 * a call.
 */
export class LeanGrpcServer {
  private readonly methods = new Map<string, { method: ServerMethod; handler: AnyHandler }>();
  private readonly connections = new Set<H2ServerConnection>();
  private server: net.Server | undefined;
  private socketPath: string | undefined;

  constructor(private readonly opts: LeanGrpcServerOptions = {}) {}

  /**
   * Serves gRPC on a connected socket accepted elsewhere: a Unix or TCP
   * socket speaking h2c with prior knowledge, or a `tls.TLSSocket` that
   * negotiated ALPN "h2". The socket is the connection's from then on.
   */
  serveConnection(socket: net.Socket): void {
    const conn = new H2ServerConnection(
      socket,
      (stream) => this.onStream(stream),
      (c) => this.connections.delete(c),
      this.opts.http2,
    );
    if (!conn.gone) this.connections.add(conn);
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Closes (gracefully: GOAWAY, calls in flight finish) every connection, dropping them after `graceMs`. */
  async closeSessions(graceMs = 1000): Promise<void> {
    const open = [...this.connections];
    if (open.length === 0) return;
    for (const c of open) c.close();
    const done = Promise.all(open.map((c) => c.closed));
    const timer = setTimeout(() => {
      for (const c of open) c.destroy();
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

  /** Listens on a Unix socket (h2c). */
  listen(socketPath: string): Promise<void> {
    if (this.server) return Promise.reject(new Error('the server is already listening'));
    const server = net.createServer((socket) => this.serveConnection(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        // Only a socket this server bound is removed by close(): after a failed listen (EADDRINUSE)
        // the file at that path belongs to someone else.
        this.socketPath = socketPath;
        resolve();
      });
    });
  }

  /** Stops accepting, lets calls in flight finish for up to `graceMs`, then drops them. */
  async close(graceMs = 1000): Promise<void> {
    const server = this.server;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    await Promise.all([closed, this.closeSessions(graceMs)]);
    if (this.socketPath) rmSync(this.socketPath, { force: true });
  }

  private onStream(stream: H2ServerStream): void {
    const headers = stream.headers;
    if (headers[':method'] !== 'POST') {
      stream.respond(encodeHeaderBlock([[':status', '405'], ['allow', 'POST']]), true);
      return;
    }
    const ct = headers['content-type'];
    if (typeof ct !== 'string' || !ct.startsWith('application/grpc')) {
      stream.respond(encodeHeaderBlock([[':status', '415']]), true);
      return;
    }
    const path = String(headers[':path']);
    const entry = this.methods.get(path);
    if (!entry) {
      stream.respond(
        encodeHeaderBlock([[':status', '200'], CONTENT_TYPE, ['grpc-status', String(Status.UNIMPLEMENTED)], ['grpc-message', encodeGrpcMessage(`unknown method ${path}`)]]),
        true,
      );
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
      call.once('cancelled', () => clearTimeout(t));
      const onClose = stream.onClose;
      stream.onClose = (aborted) => {
        clearTimeout(t);
        onClose?.(aborted);
      };
    }
    const parser = new MessageParser(this.opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE);
    const received: unknown[] = [];
    const unaryRequest = !method.requestStream;
    stream.onData = (chunk: Buffer) => {
      if (call.isFinished) return;
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
    };
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
      stream.onEnd = () => {
        if (call.isFinished) return;
        if (parser.pending > 0) {
          call.sendStatus({ code: Status.INTERNAL, details: 'the request ended inside a message' });
          return;
        }
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
      };
      return;
    }
    stream.onEnd = () => {
      if (!call.readableEnded) call.push(null);
    };
    if (!method.responseStream) run(() => (handler as (c: unknown, cb: typeof callback) => unknown)(call, callback));
    else run(() => (handler as (c: unknown) => unknown)(call));
  }
}
