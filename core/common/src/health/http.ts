/**
 * SPIRE's `health_checks` HTTP listener: `live_path` and `ready_path` answer
 * 200 when the component is live / ready and 500 otherwise, with a small
 * JSON body naming each check's state.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One subsystem's state. */
export interface HealthState {
  readonly live: boolean;
  readonly ready: boolean;
  /** Why it is not live/ready, shown in the body. */
  readonly details?: Record<string, unknown>;
}

export interface HealthListenerOptions {
  readonly bindAddress: string;
  readonly bindPort: number;
  readonly livePath: string;
  readonly readyPath: string;
  /** The checks by name; each is asked on every request. */
  readonly checks: () => Promise<Record<string, HealthState>> | Record<string, HealthState>;
}

/** A started listener. */
export interface HealthListener {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/** Starts the listener; rejects if the address is unavailable. */
export async function startHealthListener(o: HealthListenerOptions): Promise<HealthListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const kind = path === o.livePath ? 'live' : path === o.readyPath ? 'ready' : undefined;
    if (!kind || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    Promise.resolve()
      .then(() => o.checks())
      .then(
        (states) => {
          const ok = Object.values(states).every((s) => s[kind]);
          const body: Record<string, unknown> = {};
          for (const [name, s] of Object.entries(states)) body[name] = { [kind]: s[kind], ...(s.details ? { details: s.details } : {}) };
          res.writeHead(ok ? 200 : 500, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'application/json' }).end(`${JSON.stringify({ error: (err as Error).message })}\n`);
        },
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.bindPort, o.bindAddress, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
