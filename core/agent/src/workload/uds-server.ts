/**
 * A gRPC server on a Unix socket whose callers are identified by the kernel:
 * each accepted connection's SO_PEERCRED (pid, uid, gid) and the pid's start
 * time are read before any byte of it, registered under a tag the server
 * sets, and the socket is then handed to the plugin SDK's lean gRPC server,
 * which speaks HTTP/2 on it. Handlers find the caller from the call's
 * connection; nothing the client sends can change who it is. Serves the
 * Workload API (with SDS and health) and the agent's admin API.
 */
import { chmodSync } from 'node:fs';
import * as net from 'node:net';
import { Registrations, type Logger } from '@spire-ts/common';
import { ConnectionRegistry, peerCredentialsOf, processStartTime } from '@spire-ts/peercred';
import { LeanGrpcServer } from '@spire-ts/plugin-sdk';
import type { CallerProcess } from './attestation.js';
import { prepareSocketPath } from './socket.js';

export interface PeerCredGrpcServerOptions {
  log: Logger;
  /** What the socket serves, for log lines ("Workload API", "admin API"). */
  what: string;
  /** Largest request message accepted. */
  maxMessageBytes: number;
}

/** The connection a lean call arrived on: the accepted socket, carrying its registry tag. */
function connectionOf(call: object): { remoteAddress?: string | undefined } | undefined {
  return (call as { connection?: { remoteAddress?: string | undefined } }).connection;
}

export class PeerCredGrpcServer {
  /** Register services here before {@link listen}. */
  readonly grpc: LeanGrpcServer;
  readonly #o: PeerCredGrpcServerOptions;
  readonly #callers = new ConnectionRegistry<CallerProcess>();
  readonly #streams = new Registrations<() => void>();
  #listener: net.Server | undefined;
  #socketPath: string | undefined;
  #closing: Promise<void> | undefined;

  constructor(o: PeerCredGrpcServerOptions) {
    this.#o = o;
    // Requests are small: HTTP/2's default 64 KiB stream window is plenty.
    this.grpc = new LeanGrpcServer({ maxMessageBytes: o.maxMessageBytes, http2: { windowSize: 65535 } });
  }

  get socketPath(): string | undefined {
    return this.#socketPath;
  }

  get started(): boolean {
    return this.#listener !== undefined || this.#closing !== undefined;
  }

  /** Open connections with known credentials. */
  get connectionCount(): number {
    return this.#callers.size;
  }

  /** The caller of a call on this socket (SO_PEERCRED at accept); undefined for anything else. */
  callerOf(call: object): CallerProcess | undefined {
    const tag = connectionOf(call)?.remoteAddress;
    return tag === undefined ? undefined : this.#callers.get(tag);
  }

  /** Registers a stream to end when the server closes; returns its unregistration. */
  trackStream(end: () => void): () => void {
    return this.#streams.add(end);
  }

  /** Listens on `socketPath` (see `prepareSocketPath` for the directory and stale-socket rules) with the socket at `mode`. */
  async listen(socketPath: string, mode: number): Promise<void> {
    if (this.started) throw new Error(`the ${this.#o.what} server was already started`);
    await prepareSocketPath(socketPath, this.#o.log);
    // Runs before any byte is read: credentials, registration, hand-over, all synchronous.
    const listener = net.createServer((socket) => {
      try {
        const creds = peerCredentialsOf(socket);
        this.#callers.register(socket, { ...creds, startTime: processStartTime(creds.pid) });
      } catch (err) {
        this.#o.log.warn(`Rejected ${this.#o.what} connection: caller credentials unavailable`, { error: (err as Error).message });
        socket.destroy();
        return;
      }
      this.grpc.serveConnection(socket);
    });
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(socketPath, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    listener.on('error', (err) => this.#o.log.error(`${this.#o.what} listener error`, { error: err.message }));
    try {
      chmodSync(socketPath, mode);
    } catch (err) {
      await new Promise((resolve) => listener.close(resolve));
      throw new Error(`unable to change UDS permissions: ${(err as Error).message}`, { cause: err });
    }
    this.#listener = listener;
    this.#socketPath = socketPath;
  }

  /** Stops accepting, ends tracked streams, lets unary calls finish within `graceMs`, then cuts connections. */
  close(graceMs: number): Promise<void> {
    this.#closing ??= this.#close(graceMs);
    return this.#closing;
  }

  async #close(graceMs: number): Promise<void> {
    const listener = this.#listener;
    if (!listener) return;
    const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
    for (const end of this.#streams.values()) end();
    await this.grpc.closeSessions(graceMs);
    await closed;
  }
}
