/**
 * A lean gRPC client for the benches: unary and server-streaming calls over
 * one HTTP/2 connection per socket, a Unix socket (the agent's Workload API)
 * or an mTLS connection (the server's TCP port, ALPN h2).
 *
 * Why not grpc-js: on this machine the bench client shares two cores with
 * what it measures, and grpc-js's call stack (interceptors, metadata
 * objects, node:http2 stream objects, per-call timers) costs as much CPU per
 * NewJWTSVID or FetchX509SVID as the server or agent spends answering it.
 * Here the HTTP/2 framing, flow control and HPACK decoding are the plugin
 * host's own client connection (H2Connection from @spire-ts/common, the
 * code PluginRpc runs on), request header blocks are precomputed literal
 * fields per method, and messages are protobuf-encoded by the generated
 * codecs of @spire-ts/proto. It speaks standard gRPC, so the servers under
 * test cannot tell it from any other client.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { H2Connection, decodeGrpcMessage, grpcStatusForHttp, type StreamHandler } from '@spire-ts/common';
import { encodeHpackLiteral, Status, type HpackHeaderField } from '@spire-ts/plugin-sdk';
import { serviceCodecs, type MethodCodec } from '@spire-ts/proto/codec';

/** The largest response message accepted (as grpc-js's default for clients is unlimited, be generous). */
const MAX_MESSAGE = 64 * 1024 * 1024;

/** A failed call: its gRPC status code and message, as grpc-js's ServiceError carries them. */
export class LeanRpcError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${code} ${details}`);
  }
}

/**
 * One method of a service, with its request header block built once: HPACK
 * literals without indexing (the encoder keeps no state, as in h2rpc), the
 * method's path, and any fixed metadata (e.g. `workload.spiffe.io: true`).
 */
export class LeanMethod {
  readonly codec: MethodCodec;
  private readonly blocks: { http: Buffer; https: Buffer };

  constructor(service: string, method: string, metadata: Readonly<Record<string, string>> = {}, authority = 'localhost') {
    const codec = serviceCodecs(service)[method];
    if (!codec) throw new TypeError(`${service} has no method ${method}`);
    this.codec = codec;
    const rest = Buffer.concat([
      encodeHpackLiteral(':authority', authority),
      encodeHpackLiteral(':path', codec.path),
      encodeHpackLiteral('content-type', 'application/grpc'),
      encodeHpackLiteral('te', 'trailers'),
      ...Object.entries(metadata).map(([k, v]) => encodeHpackLiteral(k, v)),
    ]);
    // `:method: POST` (static index 3), then `:scheme` http (6) or https (7).
    this.blocks = { http: Buffer.concat([Buffer.of(0x83, 0x86), rest]), https: Buffer.concat([Buffer.of(0x83, 0x87), rest]) };
  }

  /** The header block of a request over a connection with (`https`) or without TLS. */
  headerBlock(https: boolean): Buffer {
    return https ? this.blocks.https : this.blocks.http;
  }

  /** `request` serialized and gRPC-framed (uncompressed, 4-byte length): the DATA a call sends. */
  frame(request: unknown): Buffer {
    const body = this.codec.requestSerialize(request);
    const out = Buffer.allocUnsafe(5 + body.length);
    out[0] = 0;
    out.writeUInt32BE(body.length, 1);
    body.copy(out, 5);
    return out;
  }

  /** Decodes a response message into the JS shape grpc-js would give (proto-loader options). */
  decode<T>(message: Buffer): T {
    return this.codec.responseDeserialize(message) as T;
  }
}

/** What a call tells its caller. Neither is called after the caller cancels the call. */
export interface CallObserver {
  /**
   * A complete response message, still encoded; `at` is performance.now()
   * taken when the DATA frame that completed it was handed over by the
   * connection, before any decoding, so timings do not include the client's
   * protobuf work. The observer may cancel the call from here.
   */
  message(msg: Buffer, at: number): void;
  /** The call ended with `code` (0: OK) — the server's status, or UNAVAILABLE/INTERNAL for transport and framing failures. */
  end(code: number, details: string): void;
}

/** One call as a stream of the connection (H2Connection's StreamHandler). */
class Call implements StreamHandler {
  id = 0;
  pending: Buffer;
  sendWindow = 0;
  received = 0;
  refusals = 0;
  localEnded = false;
  remoteEnded = false;
  private httpStatus = 0;
  private status: number | undefined;
  private details = '';
  private done = false;
  /** Bytes of an unfinished message (it is joined once complete). */
  private parts: Buffer[] = [];
  private partsLength = 0;
  /** Length of the unfinished message with its prefix; 0 while the prefix is incomplete. */
  private need = 0;

  constructor(
    private readonly conn: H2Connection,
    readonly headerBlock: Buffer,
    readonly request: Buffer,
    private readonly obs: CallObserver,
  ) {
    this.pending = request;
  }

  /** Resets the stream (RST_STREAM CANCEL) unless it has ended; the observer hears nothing more. */
  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.conn.finish(this);
  }

  onHeaders(fields: HpackHeaderField[], endStream: boolean): void {
    if (this.done) return;
    for (const [k, v] of fields) {
      if (k === ':status') this.httpStatus = Number(v);
      else if (k === 'grpc-status') this.status = /^\d{1,2}$/.test(v) ? Number(v) : Status.UNKNOWN;
      else if (k === 'grpc-message') this.details = decodeGrpcMessage(v);
    }
    if (endStream) this.complete();
  }

  onData(chunk: Buffer, endStream: boolean): void {
    if (this.done) return;
    const at = performance.now();
    if (chunk.length > 0 && !this.feed(chunk, at)) return;
    if (endStream && !this.done) this.complete();
  }

  onFailure(message: string): void {
    if (this.done) return;
    this.done = true;
    this.obs.end(Status.UNAVAILABLE, message);
  }

  /** Splits DATA into gRPC messages; false once the call is over (cancelled by the observer or failed). */
  private feed(chunk: Buffer, at: number): boolean {
    let buf = chunk;
    if (this.partsLength > 0) {
      // Join only once the unfinished message is complete (joining on every frame is quadratic for large messages).
      this.parts.push(chunk);
      this.partsLength += chunk.length;
      if (this.need === 0 && this.partsLength >= 5) this.need = 5 + Buffer.concat(this.parts, 5).readUInt32BE(1);
      if (this.need === 0 || this.partsLength < this.need) return true;
      buf = Buffer.concat(this.parts, this.partsLength);
      this.parts = [];
      this.partsLength = 0;
      this.need = 0;
    }
    let off = 0;
    while (buf.length - off >= 5) {
      if (buf[off] !== 0) return this.fail(Status.INTERNAL, 'compressed response message, which was not negotiated');
      const len = buf.readUInt32BE(off + 1);
      if (len > MAX_MESSAGE) return this.fail(Status.RESOURCE_EXHAUSTED, `response message of ${len} bytes exceeds ${MAX_MESSAGE}`);
      if (buf.length - off < 5 + len) break;
      this.obs.message(buf.subarray(off + 5, off + 5 + len), at);
      if (this.done) return false;
      off += 5 + len;
    }
    if (off < buf.length) {
      this.parts.push(buf.subarray(off));
      this.partsLength = buf.length - off;
    }
    return true;
  }

  private fail(code: number, details: string): false {
    this.conn.finish(this);
    this.done = true;
    this.obs.end(code, details);
    return false;
  }

  private complete(): void {
    this.conn.finish(this);
    this.done = true;
    let code: number;
    let details = this.details;
    if (this.status === undefined) {
      code = this.httpStatus && this.httpStatus !== 200 ? grpcStatusForHttp(this.httpStatus) : Status.UNKNOWN;
      details = `stream ended without a grpc-status (HTTP ${this.httpStatus || 'no status'})`;
    } else if (this.status === Status.OK && this.partsLength > 0) {
      code = Status.INTERNAL;
      details = `stream ended inside a message (${this.partsLength} bytes left over)`;
    } else {
      code = this.status;
    }
    this.parts = [];
    this.obs.end(code, details);
  }
}

/** A call in progress: cancel() resets its stream. */
export interface LeanCall {
  cancel(): void;
}

export interface TlsTarget {
  host: string;
  port: number;
  /** PEM roots the server's certificate must chain to. */
  ca: string;
  /** Client certificate chain and key (PEM): the agent SVID the server authorizes. */
  certChainPem?: string;
  keyPem?: string;
  servername?: string;
  /** Replaces the hostname check (SPIFFE server certificates carry a URI SAN, no DNS name). */
  checkServerIdentity?: (host: string, cert: tls.PeerCertificate) => Error | undefined;
}

/**
 * One HTTP/2 connection (one socket) and the calls on it. Its socket does
 * not keep the process alive (H2Connection unrefs it, as the plugin host
 * wants); the benches have child processes or an IPC channel that do.
 */
export class LeanConnection {
  private closed = false;

  private constructor(
    private readonly conn: H2Connection,
    private readonly https: boolean,
  ) {}

  /** Connects to a Unix socket (h2c with prior knowledge). */
  static unix(path: string): Promise<LeanConnection> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path);
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new LeanConnection(new H2Connection(s, () => {}), false));
      });
    });
  }

  /** Connects over TLS (ALPN h2), presenting the client certificate if given. */
  static tls(t: TlsTarget): Promise<LeanConnection> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({
        host: t.host,
        port: t.port,
        ca: t.ca,
        ...(t.certChainPem !== undefined ? { cert: t.certChainPem } : {}),
        ...(t.keyPem !== undefined ? { key: t.keyPem } : {}),
        ...(t.servername !== undefined ? { servername: t.servername } : {}),
        ...(t.checkServerIdentity ? { checkServerIdentity: t.checkServerIdentity } : {}),
        ALPNProtocols: ['h2'],
      });
      s.once('error', reject);
      s.once('secureConnect', () => {
        s.off('error', reject);
        if (s.alpnProtocol !== 'h2') {
          s.destroy();
          reject(new Error(`server did not negotiate h2 (ALPN ${String(s.alpnProtocol)})`));
          return;
        }
        resolve(new LeanConnection(new H2Connection(s, () => {}), true));
      });
    });
  }

  /**
   * Starts a call of `method` sending `frame` (from {@link LeanMethod.frame})
   * as its only request message, half-closing at once (unary and
   * server-streaming methods).
   */
  call(method: LeanMethod, frame: Buffer, obs: CallObserver): LeanCall {
    if (this.closed || !this.conn.usable) {
      // H2Connection does not accept streams once it is dead or draining; fail asynchronously like a real call.
      const details = this.closed ? 'connection closed by the client' : 'connection is gone';
      queueMicrotask(() => obs.end(Status.UNAVAILABLE, details));
      return { cancel: () => {} };
    }
    const c = new Call(this.conn, method.headerBlock(this.https), frame, obs);
    this.conn.start(c);
    return c;
  }

  /** A unary call: the one response message, or a LeanRpcError with the call's status. */
  unary(method: LeanMethod, frame: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      let msg: Buffer | undefined;
      let extra = false;
      this.call(method, frame, {
        message(m) {
          if (msg === undefined) msg = m;
          else extra = true;
        },
        end(code, details) {
          if (code !== Status.OK) reject(new LeanRpcError(code, details));
          else if (msg === undefined || extra) reject(new LeanRpcError(Status.INTERNAL, msg === undefined ? 'unary call answered with no message' : 'unary call answered with more than one message'));
          else resolve(msg);
        },
      });
    });
  }

  /** True until the connection fails, is told to go away, or is closed. */
  get usable(): boolean {
    return !this.closed && this.conn.usable;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.conn.destroy('connection closed by the client');
  }
}
