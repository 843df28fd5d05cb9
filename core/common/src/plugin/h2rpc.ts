import * as net from 'node:net';
import { Metadata } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { serviceDefinition, type ServiceClientOf, type ServiceName } from '@spire-ts/proto';
import { HPACK_POST_HTTP, Status, encodeHpackLiteral, statusName, type HpackHeaderField as HeaderField } from '@spire-ts/plugin-sdk';
import { H2Connection, type StreamHandler } from './h2conn.js';
import type { RequestOf, ResponseOf } from './rpc.js';

const DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024;

interface MethodDef {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize(value: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

/** Unary methods of a generated client (those with a `(argument, callback)` overload). */
export type UnaryMethodOf<C> = {
  [K in keyof C & string]: RequestOf<C[K]> extends never ? never : K;
}[keyof C & string];

export function serviceError(code: Status, details: string, metadata = new Metadata()): ServiceError {
  return Object.assign(new Error(`${code} ${statusName(code)}: ${details}`), { code, details, metadata });
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** A grpc-timeout value: at most 8 digits, so coarser units for long deadlines. */
function grpcTimeout(ms: number): string {
  const v = Math.max(1, Math.ceil(ms));
  for (const [unit, size] of [['m', 1], ['S', 1000], ['M', 60_000]] as const) {
    if (Math.ceil(v / size) < 1e8) return `${Math.ceil(v / size)}${unit}`;
  }
  return `${Math.min(99_999_999, Math.ceil(v / 3_600_000))}H`;
}

/** A `grpc-message` header value, percent-decoded (left as is when it is not valid percent-encoding). */
export function decodeGrpcMessage(raw: string | string[] | undefined): string {
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (!v) return '';
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** Maps an HTTP status on a gRPC response without grpc-status to a code, as gRPC's HTTP/2 spec says. */
export function grpcStatusForHttp(status: number): Status {
  switch (status) {
    case 400: return Status.INTERNAL;
    case 401: return Status.UNAUTHENTICATED;
    case 403: return Status.PERMISSION_DENIED;
    case 404: return Status.UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return Status.UNAVAILABLE;
    default: return Status.UNKNOWN;
  }
}

/** Trailing metadata from header fields: gRPC's reserved and pseudo headers are not metadata. */
function toMetadata(fields: readonly HeaderField[]): Metadata {
  const md = new Metadata();
  for (const [k, v] of fields) {
    if (k.startsWith(':') || k === 'grpc-status' || k === 'grpc-message' || k === 'content-type') continue;
    try {
      if (k.endsWith('-bin')) md.add(k, Buffer.from(v, 'base64'));
      else md.add(k, v);
    } catch {
      // A key or value grpc-js refuses: not metadata a caller could use.
    }
  }
  return md;
}

// HTTP/2 (RFC 9113) as much as a gRPC unary client needs.
const headerPrefixes = new Map<string, Buffer>();
function headerPrefix(path: string): Buffer {
  let p = headerPrefixes.get(path);
  if (!p) {
    p = Buffer.concat([
      HPACK_POST_HTTP,
      encodeHpackLiteral(':authority', 'unused'),
      encodeHpackLiteral(':path', path),
      encodeHpackLiteral('content-type', 'application/grpc'),
      encodeHpackLiteral('te', 'trailers'),
    ]);
    if (headerPrefixes.size < 1024) headerPrefixes.set(path, p);
  }
  return p;
}

/** The status of a grpc-status value (UNKNOWN when it is not one). */
function grpcStatus(v: string): number {
  return /^\d{1,2}$/.test(v) ? Number(v) : Status.UNKNOWN;
}

/**
 * A lean gRPC client for the unary calls on a plugin's hot path (SignData,
 * datastore reads...), on its own HTTP/2 connection code over the socket. It
 * speaks standard gRPC over h2c, so it works with any plugin (grpc-go,
 * grpc-js, the SDK's lean server), and skips both grpc-js's call stack and
 * node:http2's per-stream objects, which cost tens of microseconds per call.
 * Streams and the lifecycle calls stay on grpc-js.
 */
export class PluginRpc {
  private conn: H2Connection | undefined;
  private closed = false;

  /** `address` is a Unix socket path, or `host:port` when `network` is tcp. */
  constructor(
    private readonly address: string,
    private readonly opts: { network?: 'unix' | 'tcp'; maxMessageBytes?: number } = {},
  ) {}

  private dial(): net.Socket {
    if (this.opts.network === 'tcp') {
      const i = this.address.lastIndexOf(':');
      return net.connect(Number(this.address.slice(i + 1)), this.address.slice(0, i));
    }
    return net.connect(this.address);
  }

  private connect(): H2Connection {
    const current = this.conn;
    if (current?.usable) return current;
    const conn = new H2Connection(this.dial(), (gone) => {
      if (this.conn === gone) this.conn = undefined;
    });
    this.conn = conn;
    return conn;
  }

  /**
   * Calls a unary RPC of `service`. Fails with a grpc-js-compatible
   * ServiceError: the plugin's status, UNAVAILABLE if it cannot be reached
   * or dies mid-call, DEADLINE_EXCEEDED past `deadlineMs`.
   */
  unary<N extends ServiceName, M extends UnaryMethodOf<ServiceClientOf<N>>>(
    service: N,
    method: M,
    request: RequestOf<ServiceClientOf<N>[M]>,
    options: { deadlineMs?: number; metadata?: Metadata } = {},
  ): Promise<ResponseOf<ServiceClientOf<N>[M]>> {
    const def = (serviceDefinition(service) as unknown as Record<string, MethodDef>)[method];
    if (!def || def.requestStream || def.responseStream) {
      return Promise.reject(new TypeError(`${service}/${method} is not a unary method`));
    }
    if (this.closed) return Promise.reject(serviceError(Status.UNAVAILABLE, 'plugin connection is closed'));
    const maxMessage = this.opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE;
    return new Promise((resolve, reject) => {
      let frame: Buffer;
      let headerBlock: Buffer;
      try {
        const body = def.requestSerialize(request);
        frame = Buffer.allocUnsafe(5 + body.length);
        frame[0] = 0;
        frame.writeUInt32BE(body.length, 1);
        body.copy(frame, 5);
        const prefix = headerPrefix(def.path);
        const extra: Uint8Array[] = [];
        if (options.deadlineMs !== undefined) extra.push(encodeHpackLiteral('grpc-timeout', grpcTimeout(options.deadlineMs)));
        if (options.metadata) {
          for (const [k, v] of Object.entries(options.metadata.toHttp2Headers())) {
            for (const one of Array.isArray(v) ? v : [v]) if (one !== undefined) extra.push(encodeHpackLiteral(k, String(one)));
          }
        }
        headerBlock = extra.length === 0 ? prefix : Buffer.concat([prefix, ...extra]);
      } catch (err) {
        reject(serviceError(Status.INTERNAL, `cannot encode the request: ${(err as Error).message}`));
        return;
      }

      let conn: H2Connection;
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      let httpStatus = 0;
      let status: number | undefined;
      let message = '';
      let trailerFields: HeaderField[] | undefined;
      let chunks: Buffer[] = [];
      let received = 0;

      const settle = (err: ServiceError | undefined, value?: unknown): void => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        chunks = [];
        if (err) reject(err);
        else resolve(value as ResponseOf<ServiceClientOf<N>[M]>);
      };
      const complete = (): void => {
        conn.finish(stream);
        if (status === undefined) {
          if (httpStatus && httpStatus !== 200) settle(serviceError(grpcStatusForHttp(httpStatus), `unexpected HTTP status ${httpStatus} from plugin`));
          else settle(serviceError(Status.UNAVAILABLE, 'plugin closed the stream without a status (did it exit?)'));
          return;
        }
        if (status !== Status.OK) {
          settle(serviceError(status as Status, message, toMetadata(trailerFields ?? [])));
          return;
        }
        const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        if (buf.length < 5) return settle(serviceError(Status.INTERNAL, 'plugin sent no response message'));
        if (buf[0] !== 0) return settle(serviceError(Status.INTERNAL, 'plugin sent a compressed message, which was not negotiated'));
        const len = buf.readUInt32BE(1);
        if (buf.length !== 5 + len) {
          return settle(serviceError(Status.INTERNAL, `malformed response framing (${buf.length - 5} bytes for a ${len}-byte message)`));
        }
        try {
          settle(undefined, def.responseDeserialize(buf.subarray(5)));
        } catch (err) {
          settle(serviceError(Status.INTERNAL, `cannot decode the plugin's response: ${(err as Error).message}`));
        }
      };
      const readStatus = (fields: HeaderField[]): void => {
        for (const [k, v] of fields) {
          if (k === 'grpc-status') status = grpcStatus(v);
          else if (k === 'grpc-message') message = decodeGrpcMessage(v);
        }
        if (status !== undefined) trailerFields = fields;
      };

      const stream: StreamHandler = {
        id: 0,
        headerBlock,
        request: frame,
        pending: frame,
        sendWindow: 0,
        received: 0,
        refusals: 0,
        localEnded: false,
        remoteEnded: false,
        onHeaders(fields, endStream) {
          if (settled) return;
          if (httpStatus === 0) {
            for (const [k, v] of fields) if (k === ':status') httpStatus = Number(v);
            readStatus(fields); // a trailers-only response
          } else {
            readStatus(fields);
          }
          if (endStream) complete();
        },
        onData(chunk, endStream) {
          if (settled) return;
          received += chunk.length;
          if (received > maxMessage + 5) {
            conn.finish(stream);
            settle(serviceError(Status.RESOURCE_EXHAUSTED, `response larger than ${maxMessage} bytes`));
            return;
          }
          if (chunk.length > 0) chunks.push(chunk);
          if (endStream) complete();
        },
        onFailure(msg) {
          settle(serviceError(Status.UNAVAILABLE, msg));
        },
      };

      try {
        conn = this.connect();
      } catch (err) {
        settle(serviceError(Status.UNAVAILABLE, `cannot reach plugin: ${(err as Error).message}`));
        return;
      }
      // Past MAX_TIMER_MS a timer would fire at once: leave such far deadlines to the server.
      if (options.deadlineMs !== undefined && options.deadlineMs <= MAX_TIMER_MS) {
        timer = setTimeout(() => {
          conn.finish(stream);
          settle(serviceError(Status.DEADLINE_EXCEEDED, `deadline of ${options.deadlineMs} ms exceeded`));
        }, options.deadlineMs);
      }
      conn.start(stream);
    });
  }

  /** Closes the connection; later calls fail with UNAVAILABLE. */
  close(): void {
    this.closed = true;
    const conn = this.conn;
    this.conn = undefined;
    conn?.destroy('plugin connection is closed');
  }
}
