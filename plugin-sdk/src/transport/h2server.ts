/**
 * The HTTP/2 half of the lean gRPC server (server.ts is the gRPC half): one
 * server connection (RFC 9113, h2c with prior knowledge, or TLS after ALPN
 * "h2") on an already connected socket. It checks the client preface,
 * exchanges SETTINGS, decodes request header blocks with HPACK, encodes
 * response headers and trailers without touching the peer's dynamic table,
 * does flow control both ways, answers PING, honours RST_STREAM and GOAWAY,
 * and reports protocol violations as the RFC asks: a GOAWAY for connection
 * errors, a RST_STREAM for stream errors. node:http2 did all this with a
 * per-stream Duplex and header objects that cost tens of microseconds of CPU
 * per call; here a call is a few buffers, and everything queued in one tick
 * leaves in one socket write.
 */
import type * as net from 'node:net';
import { H2Error, H2Flag, H2Frame, H2FrameInput, H2FrameOutput, H2_MAX_WINDOW, writeH2Frames, h2FrameHeader, h2GoawayFrame, h2U32Frame } from './h2frame.js';
import { HpackDecoder, HpackError, encodeLiteral, type HeaderField } from './hpack.js';
import { StreamTable } from './stream-table.js';
import { SwapQueue } from './swap-queue.js';




/** The largest frame we accept (our SETTINGS_MAX_FRAME_SIZE: the protocol's default, never raised). */
const MAX_RECV_FRAME = 16384;
/** Cap on one raw header block with its CONTINUATIONs: more is abuse, not a request. */
const MAX_HEADER_BLOCK = 256 * 1024;
/** Cap on the frames of one header block: many tiny CONTINUATIONs are a known denial of service. */
const MAX_HEADER_FRAMES = 256;
/**
 * Cap on frames we owe a client that does not read (PING and SETTINGS
 * acknowledgements, RST_STREAMs) while the socket is congested: a flood of
 * them would otherwise grow our output without bound.
 */
const MAX_OWED_CONTROL = 10_000;
/**
 * Streams the client may reset while we serve them, as a token bucket
 * (burst, refill per second): opening and resetting streams at once makes us
 * start handlers at no cost to the client ("rapid reset", CVE-2023-44487).
 */
const RESET_BURST = 1000;
const RESET_REFILL_PER_S = 100;
/** Cap on a decoded header list before we give up on the connection (HPACK can expand a block a lot). */
const MAX_DECODED_LIST = 4 * 1024 * 1024;

export interface H2ServerOptions {
  /**
   * Our receive window for each stream (SETTINGS_INITIAL_WINDOW_SIZE) and,
   * if larger than the protocol's 65535, for the connection. Default: the maximum.
   */
  windowSize?: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS: streams beyond it are refused with REFUSED_STREAM. */
  maxConcurrentStreams?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: larger request headers are answered with HTTP 431. */
  maxHeaderListSize?: number;
  /** How long the client has to send its preface and SETTINGS and to acknowledge ours. */
  settingsTimeoutMs?: number;
}

const DEFAULTS: Required<H2ServerOptions> = {
  windowSize: H2_MAX_WINDOW,
  maxConcurrentStreams: 1000,
  maxHeaderListSize: 64 * 1024,
  settingsTimeoutMs: 10_000,
};

/** Static-table `:status: 200` (index 8). */
const STATUS_200 = Buffer.of(0x88);
const literalCache = new Map<string, Buffer>();

/**
 * Encodes header fields as one HPACK block: static-table indexes where an
 * exact entry exists for `:status: 200`, literals without indexing for the
 * rest, so the peer's dynamic table is never touched and we keep no state.
 * Frequent fixed fields are cached.
 */
export function encodeHeaderBlock(fields: readonly HeaderField[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    if (name === ':status' && value === '200') {
      parts.push(STATUS_200);
      continue;
    }
    const cacheable = name === 'content-type' || name === 'grpc-status' || name === ':status';
    if (cacheable) {
      const key = `${name}\0${value}`;
      let b = literalCache.get(key);
      if (!b) {
        b = Buffer.from(encodeLiteral(name, value));
        if (literalCache.size < 256) literalCache.set(key, b);
      }
      parts.push(b);
    } else {
      parts.push(Buffer.from(encodeLiteral(name, value)));
    }
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** Request headers as decoded, pseudo-headers included; repeated fields joined with ", " (as node:http2 did). */
export type RequestHeaders = Record<string, string>;

interface PendingWrite {
  data: Buffer;
  cb: ((err?: Error | null) => void) | undefined;
}

/**
 * One request stream. The connection calls `onData`, `onEnd` and `onClose`
 * (once, when the stream is gone: `aborted` when it ended without our
 * response completing: reset by the client, connection lost).
 */
export class H2ServerStream {
  onData: ((chunk: Buffer) => void) | undefined;
  onEnd: (() => void) | undefined;
  onClose: ((aborted: boolean) => void) | undefined;
  /** The client has sent END_STREAM. */
  remoteEnded = false;
  /** Our END_STREAM has been framed. */
  localEnded = false;
  /** Response headers (or a trailers-only response) have been queued. */
  headersSent = false;
  /** The stream is gone; nothing more is sent or delivered. */
  closed = false;
  /** @internal */ sendWindow: number;
  /** @internal */ recvWindow: number;
  /** @internal */ pending: PendingWrite[] = [];
  /** @internal */ trailers: Buffer | undefined;

  constructor(
    private readonly conn: H2ServerConnection,
    readonly id: number,
    readonly headers: RequestHeaders,
    sendWindow: number,
    recvWindow: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  /** The connection's socket (a `tls.TLSSocket` for TLS). */
  get socket(): net.Socket {
    return this.conn.socket;
  }

  /** Sends the response header block; `endStream` makes it a complete (e.g. trailers-only) response. */
  respond(block: Buffer, endStream: boolean): void {
    if (this.closed || this.headersSent) return;
    this.headersSent = true;
    this.conn.sendHeaders(this, block, endStream);
  }

  /**
   * Queues response bytes (DATA frames as the windows allow); `cb` runs once
   * they have been handed to the socket and it is not congested, which is the
   * backpressure a writer waits on.
   */
  write(data: Buffer, cb?: (err?: Error | null) => void): void {
    if (this.closed || this.localEnded || this.trailers) {
      if (cb) process.nextTick(cb);
      return;
    }
    this.pending.push({ data, cb });
    this.conn.pump(this);
  }

  /** Sends the trailer block with END_STREAM once the queued data has gone. */
  end(trailerBlock: Buffer): void {
    if (this.closed || this.localEnded || this.trailers) return;
    this.trailers = trailerBlock;
    this.conn.pump(this);
  }

  /** Abandons the stream with RST_STREAM. */
  reset(code: number = H2Error.CANCEL): void {
    if (this.closed) return;
    this.conn.resetStream(this, code);
  }
}

interface Continuation {
  id: number;
  endStream: boolean;
  parts: Buffer[];
  size: number;
}

type WriteCallback = (err?: Error | null) => void;

const runEach = (cbs: readonly WriteCallback[]): void => {
  for (const cb of cbs) cb();
};

/**
 * An HTTP/2 server connection on a connected socket. New request streams go
 * to `onStream`, which sets the stream's callbacks synchronously; `onGone`
 * runs once when the socket has closed.
 */
export class H2ServerConnection {
  private readonly o: Required<H2ServerOptions>;
  private readonly decoder = new HpackDecoder(4096, MAX_DECODED_LIST);
  private readonly streams = new StreamTable<H2ServerStream>(128);
  /** Streams with response bytes waiting for window. */
  private readonly blocked = new Set<H2ServerStream>();
  private lastStreamId = 0;
  private readonly input = new H2FrameInput({
    maxFrame: MAX_RECV_FRAME,
    expectPreface: true,
    onFrame: (type, flags, id, payload) => this.onFrame(type, flags, id, payload),
    onConnectionError: (code, message) => this.connectionError(code, message),
    dead: () => this.dead,
  });
  private clientSettingsSeen = false;
  private settingsAcked = false;
  private readonly output = new H2FrameOutput(() => this.flush());
  /** Write callbacks of the bytes in `out`. */
  private readonly outCallbacks = new SwapQueue<WriteCallback>();
  /** Write callbacks waiting for the socket to drain. */
  private readonly drainWaiters = new SwapQueue<WriteCallback>();
  private peerInitialWindow = 65535;
  private peerMaxFrame = 16384;
  private connSendWindow = 65535;
  private connRecvWindow = 65535;
  /** Our connection receive window: the configured window, never below the initial 65535. */
  private readonly connWindow: number;
  /** Streams whose receive window is to be topped up at the next flush. */
  private readonly topUps = new Set<H2ServerStream>();
  private connTopUp = false;
  private continuation: Continuation | undefined;
  /** Control frames queued in answer to the client since the socket last drained. */
  private owedControl = 0;
  private resetTokens = RESET_BURST;
  private resetRefilledAt = Date.now();
  private goawayLastId = -1;
  private readonly settingsTimer: NodeJS.Timeout;
  /** No more frames are processed or sent: a connection error happened or the socket closed. */
  dead = false;
  /** The socket has closed. */
  gone = false;
  /** Resolves once the socket has closed. */
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;

  constructor(
    readonly socket: net.Socket,
    private readonly onStream: (stream: H2ServerStream) => void,
    private readonly onGone: (conn: H2ServerConnection) => void,
    options: H2ServerOptions = {},
  ) {
    this.o = { ...DEFAULTS, ...options };
    this.o.windowSize = Math.min(H2_MAX_WINDOW, Math.max(1024, Math.floor(this.o.windowSize)));
    this.connWindow = Math.max(65535, this.o.windowSize);
    this.closed = new Promise((r) => (this.resolveClosed = r));
    socket.setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => this.input.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.onSocketClose());
    socket.on('drain', () => this.onDrain());
    this.sendSettings();
    this.settingsTimer = setTimeout(() => {
      if (!this.clientSettingsSeen) this.connectionError(H2Error.SETTINGS_TIMEOUT, `no client preface and SETTINGS within ${this.o.settingsTimeoutMs} ms`);
      else if (!this.settingsAcked) this.connectionError(H2Error.SETTINGS_TIMEOUT, `SETTINGS not acknowledged within ${this.o.settingsTimeoutMs} ms`);
    }, this.o.settingsTimeoutMs);
    this.settingsTimer.unref();
    // A socket that closed before it was handed over will never say so again.
    if (socket.destroyed) this.onSocketClose();
  }

  /** Open streams. */
  get streamCount(): number {
    return this.streams.size;
  }

  /** True once a GOAWAY has been sent (graceful close under way). */
  get closing(): boolean {
    return this.goawayLastId >= 0;
  }

  /**
   * Graceful close: GOAWAY with the last stream we accepted (later streams
   * are refused), and the socket ends once the open streams finish.
   */
  close(): void {
    if (this.dead || this.closing) return;
    this.goawayLastId = this.lastStreamId;
    this.send(h2GoawayFrame(this.lastStreamId, H2Error.NO_ERROR, ''));
    if (this.streams.size === 0) this.finishSocket();
  }

  /** Drops the connection now; open streams close as aborted. */
  destroy(): void {
    this.dead = true;
    this.socket.destroy();
  }

  private sendSettings(): void {
    const entries: Array<[number, number]> = [
      [0x2, 0], // ENABLE_PUSH
      [0x3, this.o.maxConcurrentStreams],
      [0x4, this.o.windowSize], // INITIAL_WINDOW_SIZE
      [0x6, this.o.maxHeaderListSize],
    ];
    const body = Buffer.allocUnsafe(entries.length * 6);
    entries.forEach(([k, v], i) => {
      body.writeUInt16BE(k, i * 6);
      body.writeUInt32BE(v >>> 0, i * 6 + 2);
    });
    this.send(h2FrameHeader(body.length, H2Frame.SETTINGS, 0, 0), body);
    this.connRecvWindow = this.connWindow;
    if (this.connWindow > 65535) this.send(h2U32Frame(H2Frame.WINDOW_UPDATE, 0, this.connWindow - 65535));
  }

  // --- Output -------------------------------------------------------------

  private send(a: Buffer, b?: Buffer): void {
    if (this.dead) return;
    this.output.push(a, b);
  }

  private flush(): void {
    this.sendTopUps();
    // Nothing written (or a dead socket): the callbacks run now; else once the socket takes the bytes.
    let wait = false;
    this.output.drain((out) => {
      if (!this.dead) wait = !writeH2Frames(this.socket, out) || this.drainWaiters.length > 0;
    });
    this.outCallbacks.drain(wait ? (cbs) => cbs.forEach((cb) => this.drainWaiters.push(cb)) : runEach);
  }

  /**
   * WINDOW_UPDATEs for the windows consumed by half or more. They are sent
   * (and the windows credited) when the tick's output is written, not as each
   * frame arrives, so a client that sends beyond its window within one burst
   * is caught.
   */
  private sendTopUps(): void {
    if (this.connTopUp) {
      this.connTopUp = false;
      this.output.push(h2U32Frame(H2Frame.WINDOW_UPDATE, 0, this.connWindow - this.connRecvWindow));
      this.connRecvWindow = this.connWindow;
    }
    if (this.topUps.size === 0) return;
    // Before the client acknowledges our SETTINGS, windows are counted from the initial 65535; the
    // difference is added on the acknowledgement (the client applies it on reading the SETTINGS,
    // which precede every WINDOW_UPDATE we send).
    const target = this.settingsAcked ? this.o.windowSize : 65535;
    for (const s of this.topUps) {
      if (s.closed || s.remoteEnded || s.recvWindow >= target) continue;
      this.output.push(h2U32Frame(H2Frame.WINDOW_UPDATE, s.id, target - s.recvWindow));
      s.recvWindow = target;
    }
    this.topUps.clear();
  }

  private scheduleFlush(): void {
    this.output.schedule();
  }

  /** Counts a control frame owed to the client; false (and the connection ends) past the cap while congested. */
  private owe(): boolean {
    if (!this.socket.writableNeedDrain) {
      this.owedControl = 0;
      return true;
    }
    if (++this.owedControl <= MAX_OWED_CONTROL) return true;
    this.connectionError(H2Error.ENHANCE_YOUR_CALM, 'too many control frames while not reading');
    return false;
  }

  private onDrain(): void {
    this.owedControl = 0;
    this.drainWaiters.drain(runEach);
  }

  /** @internal */
  sendHeaders(s: H2ServerStream, block: Buffer, endStream: boolean): void {
    const max = this.peerMaxFrame;
    const endFlag = endStream ? H2Flag.END_STREAM : 0;
    if (block.length <= max) {
      this.send(h2FrameHeader(block.length, H2Frame.HEADERS, H2Flag.END_HEADERS | endFlag, s.id), block);
    } else {
      this.send(h2FrameHeader(max, H2Frame.HEADERS, endFlag, s.id), block.subarray(0, max));
      for (let off = max; off < block.length; off += max) {
        const part = block.subarray(off, off + max);
        this.send(h2FrameHeader(part.length, H2Frame.CONTINUATION, off + max >= block.length ? H2Flag.END_HEADERS : 0, s.id), part);
      }
    }
    if (endStream) {
      s.localEnded = true;
      this.finishLocal(s);
    }
  }

  /** @internal Sends as much of a stream's queued response as the windows allow, then its trailers. */
  pump(s: H2ServerStream): void {
    if (s.closed) return;
    while (s.pending.length > 0) {
      const head = s.pending[0]!;
      if (head.data.length > 0) {
        const n = Math.min(head.data.length, this.peerMaxFrame, this.connSendWindow, s.sendWindow);
        if (n <= 0) {
          this.blocked.add(s);
          return;
        }
        const chunk = head.data.subarray(0, n);
        head.data = head.data.subarray(n);
        this.connSendWindow -= n;
        s.sendWindow -= n;
        this.send(h2FrameHeader(n, H2Frame.DATA, 0, s.id), chunk);
        if (head.data.length > 0) continue;
      }
      s.pending.shift();
      if (head.cb) this.outCallbacks.push(head.cb);
    }
    this.blocked.delete(s);
    if (s.trailers) {
      const block = s.trailers;
      s.trailers = undefined;
      this.sendHeaders(s, block, true);
    }
  }

  private pumpBlocked(): void {
    for (const s of [...this.blocked]) {
      if (this.connSendWindow <= 0) return;
      this.pump(s);
    }
  }

  /** Our side is complete: the stream closes, with RST_STREAM(NO_ERROR) if the client is still sending (RFC 9113 8.1). */
  private finishLocal(s: H2ServerStream): void {
    if (!s.remoteEnded) this.send(h2U32Frame(H2Frame.RST_STREAM, s.id, H2Error.NO_ERROR));
    this.closeStream(s, false);
  }

  /** @internal */
  resetStream(s: H2ServerStream, code: number): void {
    this.send(h2U32Frame(H2Frame.RST_STREAM, s.id, code));
    this.closeStream(s, true);
  }

  private closeStream(s: H2ServerStream, aborted: boolean): void {
    if (s.closed) return;
    s.closed = true;
    this.streams.delete(s);
    this.blocked.delete(s);
    this.topUps.delete(s);
    // Writers waiting on backpressure must not hang on a stream that is gone.
    for (const p of s.pending) if (p.cb) this.outCallbacks.push(p.cb);
    s.pending = [];
    s.trailers = undefined;
    if (this.outCallbacks.length > 0) this.scheduleFlush();
    s.onClose?.(aborted);
    if (this.closing && this.streams.size === 0) this.finishSocket();
  }

  /** Ends the socket after what is queued; destroys it if the client does not close its side soon. */
  private finishSocket(): void {
    if (this.dead) return;
    this.flush();
    this.dead = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  /** A connection error: GOAWAY with `code`, then the connection ends. */
  private connectionError(code: number, message: string): void {
    if (this.dead) return;
    this.send(h2GoawayFrame(this.lastStreamId, code, message));
    this.finishSocket();
    for (const s of this.streams.values()) this.closeStream(s, true);
  }

  private onSocketClose(): void {
    if (this.gone) return;
    this.gone = true;
    this.resolveClosed();
    this.dead = true;
    clearTimeout(this.settingsTimer);
    for (const s of this.streams.values()) this.closeStream(s, true);
    this.onDrain();
    this.onGone(this);
  }

  // --- Input --------------------------------------------------------------

  /** A stream error on a stream we may not track (yet or any more). */
  private streamError(id: number, code: number): void {
    const s = this.streams.get(id);
    if (s) this.resetStream(s, code);
    else if (this.owe()) this.send(h2U32Frame(H2Frame.RST_STREAM, id, code));
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (!this.clientSettingsSeen && (type !== H2Frame.SETTINGS || flags & H2Flag.ACK)) {
      return this.connectionError(H2Error.PROTOCOL_ERROR, 'the client preface must start with a SETTINGS frame');
    }
    if (this.continuation && type !== H2Frame.CONTINUATION) {
      return this.connectionError(H2Error.PROTOCOL_ERROR, 'expected a CONTINUATION frame');
    }
    switch (type) {
      case H2Frame.DATA:
        return this.onDataFrame(flags, id, payload);
      case H2Frame.HEADERS: {
        if (id === 0) return this.connectionError(H2Error.PROTOCOL_ERROR, 'HEADERS on stream 0');
        if ((id & 1) === 0) return this.connectionError(H2Error.PROTOCOL_ERROR, `HEADERS on even stream ${id}`);
        let block = this.input.unpad(flags, payload, 'HEADERS');
        if (!block) return;
        if (flags & H2Flag.PRIORITY) {
          if (block.length < 5) return this.connectionError(H2Error.PROTOCOL_ERROR, 'HEADERS priority exceeds the frame');
          block = block.subarray(5);
        }
        const endStream = (flags & H2Flag.END_STREAM) !== 0;
        if (flags & H2Flag.END_HEADERS) this.onHeaderBlock(id, block, endStream);
        else this.continuation = { id, endStream, parts: [Buffer.from(block)], size: block.length };
        return;
      }
      case H2Frame.CONTINUATION: {
        const c = this.continuation;
        if (!c || c.id !== id) return this.connectionError(H2Error.PROTOCOL_ERROR, 'unexpected CONTINUATION frame');
        c.parts.push(Buffer.from(payload));
        c.size += payload.length;
        if (c.parts.length > MAX_HEADER_FRAMES) return this.connectionError(H2Error.ENHANCE_YOUR_CALM, `header block in more than ${MAX_HEADER_FRAMES} frames`);
        if (c.size > MAX_HEADER_BLOCK) return this.connectionError(H2Error.ENHANCE_YOUR_CALM, `header block larger than ${MAX_HEADER_BLOCK} bytes`);
        if (flags & H2Flag.END_HEADERS) {
          this.continuation = undefined;
          this.onHeaderBlock(id, Buffer.concat(c.parts), c.endStream);
        }
        return;
      }
      case H2Frame.PRIORITY:
        if (id === 0) return this.connectionError(H2Error.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (payload.length !== 5) return this.streamError(id, H2Error.FRAME_SIZE_ERROR);
        return; // priorities are advisory; every stream is served as it comes
      case H2Frame.RST_STREAM: {
        if (id === 0) return this.connectionError(H2Error.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
        if (payload.length !== 4) return this.connectionError(H2Error.FRAME_SIZE_ERROR, 'RST_STREAM of the wrong size');
        if (id > this.lastStreamId) return this.connectionError(H2Error.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`);
        const s = this.streams.get(id);
        if (!s) return;
        this.closeStream(s, true);
        if (!this.takeResetToken()) this.connectionError(H2Error.ENHANCE_YOUR_CALM, 'too many streams reset by the client');
        return;
      }
      case H2Frame.SETTINGS:
        return this.onSettings(flags, id, payload);
      case H2Frame.PING:
        if (id !== 0) return this.connectionError(H2Error.PROTOCOL_ERROR, 'PING on a stream');
        if (payload.length !== 8) return this.connectionError(H2Error.FRAME_SIZE_ERROR, 'PING of the wrong size');
        if (!(flags & H2Flag.ACK) && this.owe()) this.send(h2FrameHeader(8, H2Frame.PING, H2Flag.ACK, 0), Buffer.from(payload));
        return;
      case H2Frame.GOAWAY:
        if (id !== 0) return this.connectionError(H2Error.PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (payload.length < 8) return this.connectionError(H2Error.FRAME_SIZE_ERROR, 'GOAWAY too short');
        // The client opens no more streams; finish those it has, then end (we push nothing it could refuse).
        this.close();
        return;
      case H2Frame.WINDOW_UPDATE:
        return this.onWindowUpdate(id, payload);
      case H2Frame.PUSH_PROMISE:
        return this.connectionError(H2Error.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
      default:
        return; // unknown frame types are ignored (RFC 9113 5.5)
    }
  }

  private takeResetToken(): boolean {
    const now = Date.now();
    this.resetTokens = Math.min(RESET_BURST, this.resetTokens + ((now - this.resetRefilledAt) / 1000) * RESET_REFILL_PER_S);
    this.resetRefilledAt = now;
    return --this.resetTokens >= 0;
  }

  private onDataFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0) return this.connectionError(H2Error.PROTOCOL_ERROR, 'DATA on stream 0');
    if (id > this.lastStreamId) return this.connectionError(H2Error.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
    // Flow control counts the whole payload, padding included, whatever the stream's state.
    if (payload.length > this.connRecvWindow) return this.connectionError(H2Error.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    this.connRecvWindow -= payload.length;
    // Received bytes are consumed at once (messages go straight to the handler), so windows are topped up by halves.
    if (this.connRecvWindow <= this.connWindow / 2 && !this.connTopUp) {
      this.connTopUp = true;
      this.scheduleFlush();
    }
    const s = this.streams.get(id);
    if (!s) return; // a stream we reset or finished: its late DATA is dropped
    if (s.remoteEnded) return this.streamError(id, H2Error.STREAM_CLOSED);
    if (payload.length > s.recvWindow) return this.streamError(id, H2Error.FLOW_CONTROL_ERROR);
    s.recvWindow -= payload.length;
    const data = this.input.unpad(flags, payload, 'DATA');
    if (!data) return;
    const end = (flags & H2Flag.END_STREAM) !== 0;
    if (end) s.remoteEnded = true;
    else if (s.recvWindow <= this.o.windowSize / 2 && !this.topUps.has(s)) {
      this.topUps.add(s);
      this.scheduleFlush();
    }
    if (data.length > 0) s.onData?.(data);
    if (end && !s.closed) s.onEnd?.();
  }

  private onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) return this.connectionError(H2Error.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of the wrong size');
    const inc = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (inc === 0) return this.connectionError(H2Error.PROTOCOL_ERROR, 'connection WINDOW_UPDATE of 0');
      this.connSendWindow += inc;
      if (this.connSendWindow > H2_MAX_WINDOW) return this.connectionError(H2Error.FLOW_CONTROL_ERROR, 'connection window overflow');
      this.pumpBlocked();
      return;
    }
    if (id > this.lastStreamId) return this.connectionError(H2Error.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${id}`);
    const s = this.streams.get(id);
    if (!s) return;
    if (inc === 0) return this.streamError(id, H2Error.PROTOCOL_ERROR);
    s.sendWindow += inc;
    if (s.sendWindow > H2_MAX_WINDOW) return this.streamError(id, H2Error.FLOW_CONTROL_ERROR);
    this.pump(s);
  }

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) return this.connectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & H2Flag.ACK) {
      if (payload.length !== 0) return this.connectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      if (this.settingsAcked) return;
      this.settingsAcked = true;
      if (this.clientSettingsSeen) clearTimeout(this.settingsTimer);
      // Our INITIAL_WINDOW_SIZE now applies to the streams already open.
      for (const s of this.streams.values()) {
        s.recvWindow += this.o.windowSize - 65535;
        if (!s.remoteEnded && s.recvWindow <= this.o.windowSize / 2) this.topUps.add(s);
      }
      if (this.topUps.size > 0) this.scheduleFlush();
      return;
    }
    if (payload.length % 6 !== 0) return this.connectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS of the wrong size');
    let windowDelta = 0;
    for (let i = 0; i < payload.length; i += 6) {
      const key = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      if (key === 0x2) {
        if (value > 1) return this.connectionError(H2Error.PROTOCOL_ERROR, 'invalid SETTINGS_ENABLE_PUSH');
      } else if (key === 0x4) {
        if (value > H2_MAX_WINDOW) return this.connectionError(H2Error.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE too large');
        windowDelta += value - this.peerInitialWindow;
        this.peerInitialWindow = value;
      } else if (key === 0x5) {
        if (value < 16384 || value > 16777215) return this.connectionError(H2Error.PROTOCOL_ERROR, 'invalid SETTINGS_MAX_FRAME_SIZE');
        this.peerMaxFrame = value;
      }
      // HEADER_TABLE_SIZE: our encoder never uses the client's dynamic table. The client's
      // MAX_CONCURRENT_STREAMS limits pushes, which we never make; its MAX_HEADER_LIST_SIZE is advisory.
    }
    if (windowDelta !== 0) {
      for (const s of this.streams.values()) {
        s.sendWindow += windowDelta;
        if (s.sendWindow > H2_MAX_WINDOW) return this.connectionError(H2Error.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window');
      }
    }
    if (!this.owe()) return;
    this.send(h2FrameHeader(0, H2Frame.SETTINGS, H2Flag.ACK, 0));
    if (!this.clientSettingsSeen) {
      this.clientSettingsSeen = true;
      if (this.settingsAcked) clearTimeout(this.settingsTimer);
    }
    if (windowDelta > 0) for (const s of this.streams.values()) if (s.pending.length > 0) this.pump(s);
  }

  private onHeaderBlock(id: number, block: Buffer, endStream: boolean): void {
    // Every block is decoded, even for streams we drop: HPACK state is shared by the connection.
    let fields: HeaderField[];
    try {
      fields = this.decoder.decode(block);
    } catch (err) {
      return this.connectionError(H2Error.COMPRESSION_ERROR, err instanceof HpackError ? err.message : String(err));
    }
    const existing = this.streams.get(id);
    if (existing) {
      // Request trailers: they must end the stream and carry no pseudo-headers.
      if (existing.remoteEnded) return this.streamError(id, H2Error.STREAM_CLOSED);
      if (!endStream || fields.some(([n]) => n.startsWith(':'))) return this.streamError(id, H2Error.PROTOCOL_ERROR);
      existing.remoteEnded = true;
      existing.onEnd?.();
      return;
    }
    if (id <= this.lastStreamId) return; // a stream that is over (we may have reset it): ignored
    this.lastStreamId = id;
    if (this.closing || this.dead) return this.streamError(id, H2Error.REFUSED_STREAM);
    if (this.streams.size >= this.o.maxConcurrentStreams) return this.streamError(id, H2Error.REFUSED_STREAM);
    const headers = requestHeaders(fields);
    if (typeof headers === 'string') return this.streamError(id, H2Error.PROTOCOL_ERROR);
    // Until the client acknowledges our SETTINGS it may assume the protocol's initial 65535 (RFC 9113 6.9.2).
    const s = new H2ServerStream(this, id, headers.headers, this.peerInitialWindow, this.settingsAcked ? this.o.windowSize : 65535);
    s.remoteEnded = endStream;
    this.streams.add(s);
    if (headers.listSize > this.o.maxHeaderListSize) {
      s.respond(encodeHeaderBlock([[':status', '431']]), true);
      return;
    }
    this.onStream(s);
    if (endStream && !s.closed) s.onEnd?.();
  }
}

const PSEUDO = new Set([':method', ':scheme', ':authority', ':path']);
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * Request header fields as an object, or why the request is malformed
 * (RFC 9113 8.2 and 8.3): lowercase names, known pseudo-headers once each
 * and before the regular fields, no connection-specific fields, the
 * required pseudo-headers present.
 */
function requestHeaders(fields: readonly HeaderField[]): { headers: RequestHeaders; listSize: number } | string {
  // No prototype: a field named __proto__ is just a field.
  const headers = Object.create(null) as RequestHeaders;
  let regular = false;
  let listSize = 0;
  for (const [name, value] of fields) {
    listSize += name.length + value.length + 32;
    if (name.length === 0 || /[A-Z]/.test(name)) return `invalid header name ${JSON.stringify(name)}`;
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return 'pseudo-header after a regular header';
      if (!PSEUDO.has(name)) return `unknown pseudo-header ${name}`;
      if (name in headers) return `repeated ${name}`;
      headers[name] = value;
      continue;
    }
    regular = true;
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific header ${name}`;
    if (name === 'te' && value !== 'trailers') return 'te other than trailers';
    const prev = headers[name];
    headers[name] = prev === undefined ? value : `${prev}, ${value}`;
  }
  const method = headers[':method'];
  if (method === undefined) return 'no :method';
  if (method !== 'CONNECT' && (headers[':scheme'] === undefined || !headers[':path'])) return 'no :scheme or :path';
  return { headers, listSize };
}
