import * as http2 from 'node:http2';
import * as net from 'node:net';
import { Metadata } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { serviceDefinition, type ServiceClientOf, type ServiceName } from '@spire-ts/proto';
import { Status, statusName } from '@spire-ts/plugin-sdk';
import type { RequestOf, ResponseOf } from './rpc.js';

/** Flow-control windows as large as HTTP/2 allows: unary plugin calls never wait on WINDOW_UPDATE. */
const MAX_WINDOW = 2 ** 31 - 1;
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

function grpcMessage(raw: string | string[] | undefined): string {
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (!v) return '';
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** Maps an HTTP status on a gRPC response to a code, as gRPC's spec says. */
function httpToGrpc(status: number): Status {
  switch (status) {
    case 400: return Status.INTERNAL;
    case 401: return Status.UNAUTHENTICATED;
    case 403: return Status.PERMISSION_DENIED;
    case 404: return Status.UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return Status.UNAVAILABLE;
    default: return Status.UNKNOWN;
  }
}

function toMetadata(headers: http2.IncomingHttpHeaders): Metadata {
  const md = new Metadata();
  for (const [k, v] of Object.entries(headers)) {
    if (k.startsWith(':') || k === 'grpc-status' || k === 'grpc-message' || k === 'content-type' || v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) {
      if (k.endsWith('-bin')) md.add(k, Buffer.from(one, 'base64'));
      else md.add(k, one);
    }
  }
  return md;
}

/**
 * A lean gRPC client for the unary calls on a plugin's hot path (SignData,
 * datastore reads...), written directly on node:http2. It speaks standard
 * gRPC over h2c, so it works with any plugin, and skips grpc-js's call stack
 * (interceptors, retries, channelz), which costs tens of microseconds per
 * call. Streams and the lifecycle calls stay on grpc-js.
 */
export class PluginRpc {
  private session: http2.ClientHttp2Session | undefined;
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

  private connect(): http2.ClientHttp2Session {
    const current = this.session;
    if (current && !current.closed && !current.destroyed) return current;
    const session = http2.connect('http://unused', {
      createConnection: () => this.dial(),
      settings: { initialWindowSize: MAX_WINDOW, enablePush: false },
    });
    session.on('connect', () => session.setLocalWindowSize(MAX_WINDOW));
    session.on('error', () => undefined); // surfaced on each stream
    session.on('close', () => {
      if (this.session === session) this.session = undefined;
    });
    session.unref();
    this.session = session;
    return session;
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
      const body = def.requestSerialize(request);
      const frame = Buffer.allocUnsafe(5 + body.length);
      frame[0] = 0;
      frame.writeUInt32BE(body.length, 1);
      body.copy(frame, 5);
      const headers: http2.OutgoingHttpHeaders = {
        ':method': 'POST',
        ':path': def.path,
        'content-type': 'application/grpc',
        te: 'trailers',
      };
      if (options.deadlineMs !== undefined) headers['grpc-timeout'] = grpcTimeout(options.deadlineMs);
      if (options.metadata) {
        for (const [k, v] of Object.entries(options.metadata.toHttp2Headers())) headers[k] = v;
      }

      let settled = false;
      const settle = (err: ServiceError | undefined, value?: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(value as ResponseOf<ServiceClientOf<N>[M]>);
      };

      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.connect().request(headers);
      } catch (err) {
        settle(serviceError(Status.UNAVAILABLE, `cannot reach plugin: ${(err as Error).message}`));
        return;
      }
      // Past MAX_TIMER_MS a timer would fire at once: leave such far deadlines to the server.
      const timer = options.deadlineMs !== undefined && options.deadlineMs <= MAX_TIMER_MS
        ? setTimeout(() => {
            stream.close(http2.constants.NGHTTP2_CANCEL);
            settle(serviceError(Status.DEADLINE_EXCEEDED, `deadline of ${options.deadlineMs} ms exceeded`));
          }, options.deadlineMs)
        : undefined;

      let httpStatus = 0;
      let status: number | undefined;
      let message = '';
      let trailerMd: Metadata | undefined;
      const chunks: Buffer[] = [];
      let received = 0;
      const finishStatus = (h: http2.IncomingHttpHeaders): void => {
        const raw = h['grpc-status'];
        if (raw === undefined) return;
        status = Number(Array.isArray(raw) ? raw[0] : raw);
        message = grpcMessage(h['grpc-message']);
        trailerMd = toMetadata(h);
      };
      stream.on('response', (h: http2.IncomingHttpHeaders) => {
        httpStatus = Number(h[':status']);
        finishStatus(h); // trailers-only response
      });
      stream.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > maxMessage + 5) {
          stream.close(http2.constants.NGHTTP2_CANCEL);
          settle(serviceError(Status.RESOURCE_EXHAUSTED, `response larger than ${maxMessage} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      stream.on('trailers', (h: http2.IncomingHttpHeaders) => finishStatus(h));
      stream.on('error', (err: Error) => {
        settle(serviceError(Status.UNAVAILABLE, `plugin connection failed: ${err.message}`));
      });
      stream.on('close', () => {
        if (settled) return;
        if (status === undefined) {
          if (httpStatus && httpStatus !== 200) {
            settle(serviceError(httpToGrpc(httpStatus), `unexpected HTTP status ${httpStatus} from plugin`));
          } else {
            settle(serviceError(Status.UNAVAILABLE, 'plugin closed the stream without a status (did it exit?)'));
          }
          return;
        }
        if (status !== Status.OK) {
          settle(serviceError(status as Status, message, trailerMd));
          return;
        }
        const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        if (buf.length < 5) {
          settle(serviceError(Status.INTERNAL, 'plugin sent no response message'));
          return;
        }
        if (buf[0] !== 0) {
          settle(serviceError(Status.INTERNAL, 'plugin sent a compressed message, which was not negotiated'));
          return;
        }
        const len = buf.readUInt32BE(1);
        if (buf.length !== 5 + len) {
          settle(serviceError(Status.INTERNAL, `malformed response framing (${buf.length - 5} bytes for a ${len}-byte message)`));
          return;
        }
        try {
          settle(undefined, def.responseDeserialize(buf.subarray(5)));
        } catch (err) {
          settle(serviceError(Status.INTERNAL, `cannot decode the plugin's response: ${(err as Error).message}`));
        }
      });
      stream.end(frame);
    });
  }

  /** Closes the connection; later calls fail with UNAVAILABLE. */
  close(): void {
    this.closed = true;
    this.session?.destroy();
    this.session = undefined;
  }
}
