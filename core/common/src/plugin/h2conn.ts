/**
 * The HTTP/2 half of the plugin client (h2rpc.ts is the gRPC half): frames,
 * SETTINGS, flow control, HPACK decoding of responses, PING, GOAWAY and
 * RST_STREAM on one connection to a plugin.
 */
import type * as net from 'node:net';
import {
  H2Error,
  H2Flag,
  H2Frame,
  H2_MAX_WINDOW,
  H2_PREFACE,
  HpackDecoder,
  HpackError,
  h2FrameHeader,
  h2GoawayFrame,
  h2U32Frame,
  writeH2Frames,
  H2FrameInput,
  H2FrameOutput,
  StreamTable,
  type HpackHeaderField as HeaderField,
} from '@spire-ts/plugin-sdk';


/** The largest frame we accept (our SETTINGS_MAX_FRAME_SIZE: the default). */
const MAX_RECV_FRAME = 16384;
/** How long a new connection waits for the peer's SETTINGS before failing. */
const SETTINGS_TIMEOUT_MS = 10_000;
/** Cap on one header block with its CONTINUATIONs. */
const MAX_HEADER_BLOCK = 1 << 20;
/** Received bytes after which the window is topped up again. */
const WINDOW_TOP_UP = 2 ** 30;

/** Our SETTINGS: no push, the largest stream window. Then the connection window to the maximum. */
const CLIENT_START = Buffer.concat([
  H2_PREFACE,
  h2FrameHeader(12, H2Frame.SETTINGS, 0, 0),
  Buffer.from([0, 2, 0, 0, 0, 0, 0, 4, (H2_MAX_WINDOW >>> 24) & 0xff, (H2_MAX_WINDOW >>> 16) & 0xff, (H2_MAX_WINDOW >>> 8) & 0xff, H2_MAX_WINDOW & 0xff]),
  h2U32Frame(H2Frame.WINDOW_UPDATE, 0, H2_MAX_WINDOW - 65535),
]);

/** One unary call's stream, as the connection sees it. */
export interface StreamHandler {
  id: number;
  /** Header block to send (HEADERS + CONTINUATION by the peer's frame size). */
  headerBlock: Buffer;
  /** The framed request message. */
  readonly request: Buffer;
  /** Request bytes not yet sent. */
  pending: Buffer;
  sendWindow: number;
  received: number;
  /** Times the peer refused the stream unprocessed (REFUSED_STREAM) and it was sent again. */
  refusals: number;
  localEnded: boolean;
  remoteEnded: boolean;
  onHeaders(fields: HeaderField[], endStream: boolean): void;
  onData(chunk: Buffer, endStream: boolean): void;
  /** The stream died without a complete response (reset, connection lost). */
  onFailure(message: string): void;
}

/**
 * An HTTP/2 client connection (h2c, prior knowledge) to one plugin. It
 * multiplexes unary calls as streams, with flow control both ways, HPACK
 * (literal request headers; full decoding of responses), SETTINGS, PING,
 * GOAWAY and RST_STREAM. Writes of one tick go out in one socket write.
 */
export class H2Connection {
  private readonly decoder = new HpackDecoder();
  private readonly streams = new StreamTable<StreamHandler>();
  /** Calls waiting for the peer's MAX_CONCURRENT_STREAMS. */
  private readonly queued: StreamHandler[] = [];
  /** Streams with request bytes waiting for window. */
  private readonly blocked = new Set<StreamHandler>();
  private nextId = 1;
  private readonly input = new H2FrameInput({
    maxFrame: MAX_RECV_FRAME,
    expectPreface: false,
    onFrame: (type, flags, id, payload) => this.onFrame(type, flags, id, payload),
    onConnectionError: (code, message) => this.connectionError(code, message),
    dead: () => this.dead,
  });
  private readonly output = new H2FrameOutput(() => this.flush());
  private peerInitialWindow = 65535;
  private peerMaxFrame = 16384;
  private peerMaxStreams = Infinity;
  /** Streams wait for the peer's first SETTINGS (its stream limit and windows). */
  private settingsReceived = false;
  private connSendWindow = 65535;
  private connReceived = 0;
  private continuation: { id: number; endStream: boolean; parts: Buffer[]; size: number } | undefined;
  /** Set once the connection is unusable; every stream has been failed. */
  dead = false;
  /** No new streams (GOAWAY received, or stream ids used up). */
  draining = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly onGone: (conn: H2Connection) => void,
  ) {
    socket.setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => this.input.push(chunk));
    socket.on('error', (err: Error) => this.fail(`plugin connection failed: ${err.message}`));
    socket.on('close', () => this.fail('plugin connection failed: the connection closed'));
    socket.unref();
    this.send(CLIENT_START);
    const settingsTimer = setTimeout(() => {
      if (!this.settingsReceived) this.connectionError(H2Error.SETTINGS_TIMEOUT, `no HTTP/2 SETTINGS from the plugin within ${SETTINGS_TIMEOUT_MS} ms`);
    }, SETTINGS_TIMEOUT_MS);
    settingsTimer.unref();
    socket.once('close', () => clearTimeout(settingsTimer));
  }

  get usable(): boolean {
    return !this.dead && !this.draining;
  }

  /** Opens a stream for `h` (queued while the peer's stream limit is reached). */
  start(h: StreamHandler): void {
    // A dead connection never answers: fail at once rather than leave the call waiting.
    if (this.dead) {
      h.onFailure('plugin connection failed: the connection is closed');
      return;
    }
    if (!this.settingsReceived || this.streams.size >= this.peerMaxStreams) {
      this.queued.push(h);
      return;
    }
    h.id = this.nextId;
    this.nextId += 2;
    if (this.nextId > 0x7fffffff - 2) this.draining = true;
    h.sendWindow = this.peerInitialWindow;
    this.streams.add(h);
    const block = h.headerBlock;
    const max = this.peerMaxFrame;
    if (block.length <= max) {
      this.send(h2FrameHeader(block.length, H2Frame.HEADERS, H2Flag.END_HEADERS, h.id), block);
    } else {
      this.send(h2FrameHeader(max, H2Frame.HEADERS, 0, h.id), block.subarray(0, max));
      for (let off = max; off < block.length; off += max) {
        const part = block.subarray(off, off + max);
        this.send(h2FrameHeader(part.length, H2Frame.CONTINUATION, off + max >= block.length ? H2Flag.END_HEADERS : 0, h.id), part);
      }
    }
    this.pump(h);
  }

  /** Forgets a stream, resetting it unless both sides have ended it. */
  finish(h: StreamHandler): void {
    const i = this.queued.indexOf(h);
    if (i >= 0) {
      this.queued.splice(i, 1);
      return;
    }
    if (this.streams.get(h.id) !== h) return;
    this.streams.delete(h);
    this.blocked.delete(h);
    if (!this.dead && (!h.localEnded || !h.remoteEnded)) this.send(h2U32Frame(H2Frame.RST_STREAM, h.id, H2Error.CANCEL));
    this.startQueued();
    if (this.draining && this.streams.size === 0 && this.queued.length === 0) this.destroy('plugin connection closed');
  }

  /** Closes the socket and fails the streams still open with UNAVAILABLE. */
  destroy(message: string): void {
    this.fail(message);
  }

  private startQueued(): void {
    while (this.queued.length > 0 && this.settingsReceived && this.streams.size < this.peerMaxStreams && !this.dead) this.start(this.queued.shift()!);
  }

  private send(a: Buffer, b?: Buffer): void {
    if (this.dead) return;
    this.output.push(a, b);
  }

  private flush(): void {
    this.output.drain((parts) => {
      if (!this.dead) writeH2Frames(this.socket, parts);
    });
  }

  /** Sends as much of a stream's request as the windows allow. */
  private pump(h: StreamHandler): void {
    while (h.pending.length > 0) {
      const n = Math.min(h.pending.length, this.peerMaxFrame, this.connSendWindow, h.sendWindow);
      if (n <= 0) {
        this.blocked.add(h);
        return;
      }
      const chunk = h.pending.subarray(0, n);
      h.pending = h.pending.subarray(n);
      this.connSendWindow -= n;
      h.sendWindow -= n;
      const last = h.pending.length === 0;
      if (last) h.localEnded = true;
      this.send(h2FrameHeader(n, H2Frame.DATA, last ? H2Flag.END_STREAM : 0, h.id), chunk);
    }
    this.blocked.delete(h);
  }

  private pumpBlocked(): void {
    for (const h of [...this.blocked]) {
      if (this.connSendWindow <= 0) return;
      this.pump(h);
    }
  }

  private fail(message: string): void {
    if (this.dead) return;
    this.dead = true;
    this.output.drain(() => undefined);
    this.socket.destroy();
    const open = [...this.streams.values(), ...this.queued];
    this.streams.clear();
    this.queued.length = 0;
    this.blocked.clear();
    this.onGone(this);
    for (const h of open) h.onFailure(message);
  }

  /** A connection error: GOAWAY with `code`, then fail everything. */
  private connectionError(code: number, message: string): void {
    if (this.dead) return;
    this.output.push(h2GoawayFrame(Math.max(0, this.nextId - 2), code));
    this.flush();
    this.fail(`plugin connection failed: ${message}`);
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.continuation && type !== H2Frame.CONTINUATION) {
      this.connectionError(H2Error.PROTOCOL_ERROR, 'expected a CONTINUATION frame');
      return;
    }
    switch (type) {
      case H2Frame.DATA: {
        if (id === 0) return this.connectionError(H2Error.PROTOCOL_ERROR, 'DATA on stream 0');
        this.connReceived += payload.length;
        if (this.connReceived >= WINDOW_TOP_UP) {
          this.send(h2U32Frame(H2Frame.WINDOW_UPDATE, 0, this.connReceived));
          this.connReceived = 0;
        }
        const data = this.input.unpad(flags, payload, 'DATA');
        if (!data) return;
        const h = this.streams.get(id);
        if (!h) return;
        h.received += payload.length;
        if (h.received >= WINDOW_TOP_UP) {
          this.send(h2U32Frame(H2Frame.WINDOW_UPDATE, id, h.received));
          h.received = 0;
        }
        const end = (flags & H2Flag.END_STREAM) !== 0;
        if (end) h.remoteEnded = true;
        h.onData(data, end);
        return;
      }
      case H2Frame.HEADERS: {
        if (id === 0) return this.connectionError(H2Error.PROTOCOL_ERROR, 'HEADERS on stream 0');
        let block = this.input.unpad(flags, payload, 'HEADERS');
        if (!block) return;
        if (flags & H2Flag.PRIORITY) {
          if (block.length < 5) return this.connectionError(H2Error.PROTOCOL_ERROR, 'HEADERS priority exceeds the frame');
          block = block.subarray(5);
        }
        const endStream = (flags & H2Flag.END_STREAM) !== 0;
        if (flags & H2Flag.END_HEADERS) this.onHeaderBlock(id, block, endStream);
        else this.continuation = { id, endStream, parts: [block], size: block.length };
        return;
      }
      case H2Frame.CONTINUATION: {
        const c = this.continuation;
        if (!c || c.id !== id) return this.connectionError(H2Error.PROTOCOL_ERROR, 'unexpected CONTINUATION frame');
        c.parts.push(payload);
        c.size += payload.length;
        if (c.size > MAX_HEADER_BLOCK) return this.connectionError(H2Error.PROTOCOL_ERROR, `header block larger than ${MAX_HEADER_BLOCK} bytes`);
        if (flags & H2Flag.END_HEADERS) {
          this.continuation = undefined;
          this.onHeaderBlock(id, Buffer.concat(c.parts), c.endStream);
        }
        return;
      }
      case H2Frame.RST_STREAM: {
        if (id === 0 || payload.length !== 4) return this.connectionError(H2Error.PROTOCOL_ERROR, 'malformed RST_STREAM');
        const h = this.streams.get(id);
        if (!h) return;
        this.streams.delete(h);
        this.blocked.delete(h);
        const code = payload.readUInt32BE(0);
        if (code === H2Error.REFUSED_STREAM && !this.draining && h.refusals++ < 5) {
          // Refused before any processing (RFC 9113 8.7): safe to send again.
          h.pending = h.request;
          h.localEnded = false;
          h.remoteEnded = false;
          h.received = 0;
          this.queued.push(h);
        } else {
          h.onFailure(`plugin reset the stream (HTTP/2 error ${code})`);
        }
        this.startQueued();
        return;
      }
      case H2Frame.SETTINGS:
        return this.onSettings(flags, id, payload);
      case H2Frame.PING:
        if (id !== 0 || payload.length !== 8) return this.connectionError(H2Error.PROTOCOL_ERROR, 'malformed PING');
        if (!(flags & H2Flag.ACK)) this.send(h2FrameHeader(8, H2Frame.PING, H2Flag.ACK, 0), Buffer.from(payload));
        return;
      case H2Frame.GOAWAY: {
        if (id !== 0 || payload.length < 8) return this.connectionError(H2Error.PROTOCOL_ERROR, 'malformed GOAWAY');
        const last = payload.readUInt32BE(0) & 0x7fffffff;
        this.draining = true;
        this.onGone(this);
        for (const h of this.streams.values()) {
          if (h.id <= last) continue;
          this.streams.delete(h);
          this.blocked.delete(h);
          h.onFailure('plugin connection is going away');
        }
        for (const h of this.queued.splice(0)) h.onFailure('plugin connection is going away');
        if (this.streams.size === 0) this.destroy('plugin connection closed');
        return;
      }
      case H2Frame.WINDOW_UPDATE: {
        if (payload.length !== 4) return this.connectionError(H2Error.FRAME_SIZE_ERROR, 'malformed WINDOW_UPDATE');
        const inc = payload.readUInt32BE(0) & 0x7fffffff;
        if (id === 0) {
          if (inc === 0) return this.connectionError(H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
          this.connSendWindow += inc;
          if (this.connSendWindow > H2_MAX_WINDOW) return this.connectionError(H2Error.FLOW_CONTROL_ERROR, 'connection window overflow');
          this.pumpBlocked();
          return;
        }
        const h = this.streams.get(id);
        if (!h) return;
        h.sendWindow += inc;
        this.pump(h);
        return;
      }
      case H2Frame.PUSH_PROMISE:
        return this.connectionError(H2Error.PROTOCOL_ERROR, 'PUSH_PROMISE with push disabled');
      default:
        return; // PRIORITY and unknown frame types are ignored
    }
  }

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) return this.connectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & H2Flag.ACK) return;
    if (payload.length % 6 !== 0) return this.connectionError(H2Error.FRAME_SIZE_ERROR, 'malformed SETTINGS');
    for (let i = 0; i < payload.length; i += 6) {
      const key = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      if (key === 0x3) this.peerMaxStreams = value;
      else if (key === 0x4) {
        if (value > H2_MAX_WINDOW) return this.connectionError(H2Error.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE too large');
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const h of this.streams.values()) h.sendWindow += delta;
      } else if (key === 0x5) {
        if (value < 16384 || value > 16777215) return this.connectionError(H2Error.PROTOCOL_ERROR, 'invalid SETTINGS_MAX_FRAME_SIZE');
        this.peerMaxFrame = value;
      }
      // HEADER_TABLE_SIZE: our requests never use the peer's dynamic table. ENABLE_PUSH: a client setting.
    }
    this.send(h2FrameHeader(0, H2Frame.SETTINGS, H2Flag.ACK, 0));
    this.settingsReceived = true;
    for (const h of this.streams.values()) if (h.pending.length > 0) this.pump(h);
    this.startQueued();
  }

  private onHeaderBlock(id: number, block: Buffer, endStream: boolean): void {
    let fields: HeaderField[];
    try {
      fields = this.decoder.decode(block);
    } catch (err) {
      this.connectionError(H2Error.COMPRESSION_ERROR, err instanceof HpackError ? err.message : String(err));
      return;
    }
    const h = this.streams.get(id);
    if (!h) return;
    if (endStream) h.remoteEnded = true;
    h.onHeaders(fields, endStream);
  }
}

/** Header block prefixes by method path: `:method`, `:scheme`, `:authority`, `:path`, content-type, te. */
