/**
 * HTTP/2 framing shared by the lean gRPC server (h2server.ts) and the plugin
 * host's client (@spire-ts/common h2conn.ts): frame types, flags, error
 * codes (RFC 9113 sections 6 and 7), frame construction, and splitting
 * received bytes into frames.
 */

import type * as net from 'node:net';
import { SwapQueue } from './swap-queue.js';

/** The client connection preface. */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Frame types. */
export const H2Frame = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags (END_STREAM and ACK share a bit; which one depends on the type). */
export const H2Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** Error codes. */
export const H2Error = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
} as const;

/** The largest flow-control window HTTP/2 allows. */
export const H2_MAX_WINDOW = 2 ** 31 - 1;

/** SETTINGS_MAX_FRAME_SIZE's default, the largest frame either side accepts unless raised (neither raises it). */
export const H2_DEFAULT_MAX_FRAME = 16384;

/** A 9-byte frame header. */
export function h2FrameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const h = Buffer.allocUnsafe(9);
  h[0] = length >>> 16;
  h[1] = (length >>> 8) & 0xff;
  h[2] = length & 0xff;
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return h;
}

/** A frame whose payload is one 32-bit value (RST_STREAM, WINDOW_UPDATE). */
export function h2U32Frame(type: number, stream: number, value: number): Buffer {
  const f = Buffer.allocUnsafe(13);
  f[0] = 0;
  f[1] = 0;
  f[2] = 4;
  f[3] = type;
  f[4] = 0;
  f.writeUInt32BE(stream, 5);
  f.writeUInt32BE(value >>> 0, 9);
  return f;
}

/** GOAWAY with the last stream id processed, an error code and (at most 256 characters of) debug text. */
export function h2GoawayFrame(lastStreamId: number, code: number, debug = ''): Buffer {
  const text = Buffer.from(debug.slice(0, 256), 'utf8');
  const body = Buffer.allocUnsafe(8);
  body.writeUInt32BE(lastStreamId, 0);
  body.writeUInt32BE(code, 4);
  return Buffer.concat([h2FrameHeader(8 + text.length, H2Frame.GOAWAY, 0, 0), body, text]);
}

const EMPTY = Buffer.alloc(0);

/** What an {@link H2FrameInput} reports to its connection. */
export interface H2FrameInputOptions {
  /** The largest frame accepted (our SETTINGS_MAX_FRAME_SIZE). */
  maxFrame: number;
  /** A server: the client preface must come first. */
  expectPreface: boolean;
  onFrame(type: number, flags: number, stream: number, payload: Buffer): void;
  /** A connection error in the input; the connection is expected to die (and {@link dead} to turn true). */
  onConnectionError(code: number, message: string): void;
  /** Whether the connection is dead: no more frames are handed out. */
  dead(): boolean;
}

/**
 * The receiving side of a connection: the bytes as they arrive, split into
 * frames (holding back an incomplete one), after the client preface on a
 * server. Frames over `maxFrame` and a wrong preface are connection errors.
 */
export class H2FrameInput {
  #pending: Buffer = EMPTY;
  #expectPreface: boolean;

  constructor(private readonly o: H2FrameInputOptions) {
    this.#expectPreface = o.expectPreface;
  }

  push(chunk: Buffer): void {
    const o = this.o;
    if (o.dead()) return;
    const buf = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    let off = 0;
    if (this.#expectPreface) {
      const n = Math.min(buf.length, H2_PREFACE.length);
      if (!buf.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) return o.onConnectionError(H2Error.PROTOCOL_ERROR, 'invalid connection preface');
      if (buf.length < H2_PREFACE.length) {
        this.#pending = buf;
        return;
      }
      this.#expectPreface = false;
      off = H2_PREFACE.length;
    }
    while (buf.length - off >= 9 && !o.dead()) {
      const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
      if (len > o.maxFrame) return o.onConnectionError(H2Error.FRAME_SIZE_ERROR, `frame of ${len} bytes exceeds ${o.maxFrame}`);
      if (buf.length - off < 9 + len) break;
      const type = buf[off + 3]!;
      const flags = buf[off + 4]!;
      const id = buf.readUInt32BE(off + 5) & 0x7fffffff;
      const payload = buf.subarray(off + 9, off + 9 + len);
      off += 9 + len;
      o.onFrame(type, flags, id, payload);
    }
    if (o.dead()) return;
    this.#pending = off === buf.length ? EMPTY : buf.subarray(off);
  }

  /** The payload without its padding (PADDED flag); a padding longer than the frame is a connection error (undefined). */
  unpad(flags: number, payload: Buffer, what: string): Buffer | undefined {
    if (!(flags & H2Flag.PADDED)) return payload;
    const pad = payload[0];
    if (pad === undefined || pad >= payload.length) {
      this.o.onConnectionError(H2Error.PROTOCOL_ERROR, `${what} padding exceeds the frame`);
      return undefined;
    }
    return payload.subarray(1, payload.length - pad);
  }
}

/**
 * Frames queued during one tick of the event loop, written together at its
 * end: the first {@link push} (or {@link schedule}) of a tick schedules
 * `flush`, which hands everything queued by then to {@link drain}. The queue
 * is a {@link SwapQueue} (never replaced, for the reason given there).
 */
export class H2FrameOutput {
  readonly #parts = new SwapQueue<Buffer>();
  #scheduled = false;

  constructor(private readonly flush: () => void) {}

  /** Queues frame bytes (an empty `b` is skipped). */
  push(a: Buffer, b?: Buffer): void {
    this.#parts.push(a);
    if (b !== undefined && b.length > 0) this.#parts.push(b);
    this.schedule();
  }

  /** Makes sure `flush` runs at the end of this tick. */
  schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    process.nextTick(this.flush);
  }

  /**
   * Hands everything queued so far to `use` (which must not keep the array)
   * and empties the queue; frames pushed meanwhile wait for the next flush,
   * which a push schedules.
   */
  drain(use: (parts: readonly Buffer[]) => void): void {
    this.#scheduled = false;
    this.#parts.drain(use);
  }
}

/** Output pieces at least this large are written as they are; smaller ones are copied together. */
const NO_COPY_MIN = 2048;

/**
 * Writes a tick's output in one socket write without copying its large
 * pieces: small frames (headers, prefixes, control frames) are joined, and
 * a large piece, typically a response message encoded once and sent to many
 * callers, goes to the kernel as it is (one writev under cork). Copying
 * every response into a fresh buffer cost little CPU but allocated tens of
 * kilobytes outside V8's heap per call, whose growth made V8 run a full
 * collection every half second under load.
 * @returns whether the socket can take more now (false: wait for 'drain').
 */
export function writeH2Frames(socket: net.Socket, out: readonly Buffer[]): boolean {
  if (out.length === 1) return socket.write(out[0]!);
  let large = false;
  let total = 0;
  for (const b of out) {
    total += b.length;
    if (b.length >= NO_COPY_MIN) large = true;
  }
  if (!large) return socket.write(Buffer.concat(out, total));
  socket.cork();
  let ok = true;
  let small: Buffer[] = [];
  const writeSmall = (): void => {
    if (small.length === 0) return;
    ok = socket.write(small.length === 1 ? small[0]! : Buffer.concat(small));
    small = [];
  };
  for (const b of out) {
    if (b.length < NO_COPY_MIN) {
      small.push(b);
      continue;
    }
    writeSmall();
    ok = socket.write(b);
  }
  writeSmall();
  socket.uncork();
  return ok;
}
