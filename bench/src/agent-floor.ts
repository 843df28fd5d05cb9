/**
 * The latency floor of the agent's process architecture on this machine,
 * for the agent bench: two forked processes that do what every Workload API
 * call needs and nothing else.
 *
 * - `front`: a node:http2 server (nghttp2, in C++) on a Unix socket. For each
 *   call it waits for the request message, asks `attestor` about the caller
 *   over one Unix connection (as the agent asks its WorkloadAttestor plugin),
 *   and answers with a response captured from the real agent (the same bytes,
 *   so the same size and SVID count), then trailers for a unary call.
 * - `attestor`: a plain Unix-socket server that, per 4-byte pid, opens the
 *   process's /proc stat, reads its status and reads the stat again (the
 *   unix attestor's syscalls), and answers 4 bytes.
 *
 * No gRPC library, no protobuf, no cache lookup, no HPACK of our own: what
 * the load process measures against it is the machine's own cost of three
 * processes handing a call along, under the same load. A p99 above the
 * target here means no implementation of this architecture could meet it on
 * this machine in that run.
 *
 * Run as `node agent-floor.js attestor SOCKET` or
 * `node agent-floor.js front SOCKET ATTESTOR_SOCKET` (IPC: the parent sends
 * `{type:'responses', x509, jwt}` (base64 gRPC messages) to the front; each
 * process sends `{type:'ready'}` once listening).
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { closeSync, openSync, readSync, unlinkSync } from 'node:fs';

const [role, socketPath, attestorPath] = process.argv.slice(2);
if (!socketPath || (role !== 'front' && role !== 'attestor') || (role === 'front' && !attestorPath)) {
  throw new Error('usage: agent-floor.js attestor SOCKET | front SOCKET ATTESTOR_SOCKET');
}
try {
  unlinkSync(socketPath);
} catch {
  // not there
}

const buf = Buffer.allocUnsafe(4096);
function readProc(pid: number, entry: string): number {
  const fd = openSync(`/proc/${pid}/${entry}`, 'r');
  try {
    return readSync(fd, buf, 0, buf.length, 0);
  } finally {
    closeSync(fd);
  }
}

if (role === 'attestor') {
  net
    .createServer((sock) => {
      let pending: Buffer = Buffer.alloc(0);
      sock.on('data', (chunk: Buffer) => {
        pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
        const out: Buffer[] = [];
        while (pending.length >= 4) {
          const pid = pending.readUInt32BE(0);
          pending = pending.subarray(4);
          let n = 0;
          try {
            n = readProc(pid, 'stat') + readProc(pid, 'status') + readProc(pid, 'stat');
          } catch {
            n = 0;
          }
          const r = Buffer.allocUnsafe(4);
          r.writeUInt32BE(n, 0);
          out.push(r);
        }
        if (out.length) sock.write(out.length === 1 ? out[0]! : Buffer.concat(out));
      });
      sock.on('error', () => undefined);
    })
    .listen(socketPath, () => process.send?.({ type: 'ready' }));
} else {
  let x509: Buffer | undefined;
  let jwt: Buffer | undefined;
  let listening = false;
  const ready = (): void => {
    if (listening && x509 && jwt) process.send?.({ type: 'ready' });
  };
  process.on('message', (m: { type: string; x509?: string; jwt?: string }) => {
    if (m.type !== 'responses') return;
    x509 = frame(Buffer.from(m.x509 ?? '', 'base64'));
    jwt = frame(Buffer.from(m.jwt ?? '', 'base64'));
    ready();
  });

  // One connection to the attestor; answers come back in request order.
  const waiting: (() => void)[] = [];
  let got: Buffer = Buffer.alloc(0);
  const attestor = net.connect(attestorPath!);
  attestor.on('data', (chunk: Buffer) => {
    got = got.length ? Buffer.concat([got, chunk]) : chunk;
    while (got.length >= 4) {
      got = got.subarray(4);
      waiting.shift()?.();
    }
  });
  const pidBuf = Buffer.allocUnsafe(4);
  pidBuf.writeUInt32BE(Number(process.env.FLOOR_CALLER_PID ?? process.ppid), 0);
  const ask = (): Promise<void> =>
    new Promise((resolve) => {
      waiting.push(resolve);
      attestor.write(pidBuf);
    });

  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path'] ?? '');
    const unary = path.endsWith('/FetchJWTSVID');
    stream.on('error', () => undefined);
    stream.once('data', () => {
      void ask().then(() => {
        if (stream.destroyed) return;
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, unary ? { waitForTrailers: true } : {});
        if (unary) {
          stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
          stream.end(jwt);
        } else {
          // A stream stays open until the client cancels it, as the agent's does.
          stream.write(x509);
        }
      });
    });
  });
  server.listen(socketPath, () => {
    listening = true;
    ready();
  });
}
process.on('disconnect', () => process.exit(0));

function frame(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + msg.length);
  out[0] = 0;
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
}
