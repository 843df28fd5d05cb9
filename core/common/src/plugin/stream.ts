/**
 * Reading a gRPC stream (grpc-js client or server call, or the SDK's
 * LeanGrpcServer call) one message at a time, for the request/response
 * dialogues of node attestation and entry sync: the server relays
 * challenges between an agent's AttestAgent stream and a NodeAttestor
 * plugin's Attest stream; the agent answers the server's challenges.
 *
 * @module
 */
import type { EventEmitter } from 'node:events';

/** Why a stream stopped giving messages. */
export type StreamEnd = 'end' | 'cancelled';

/** Reads messages in order; `next()` answers undefined once the peer half-closed. */
export interface MessageReader<T> {
  /**
   * The next message; undefined when the peer ended the stream; rejects with
   * the stream's error, or with an Error if the call was cancelled.
   */
  next(): Promise<T | undefined>;
  /** Stops listening (the stream itself is left alone); later stream errors are ignored. */
  close(): void;
}

/**
 * A {@link MessageReader} over a readable object-mode stream that emits
 * `data`, `end`, `error` and (server calls) `cancelled`.
 */
export function messageReader<T>(stream: EventEmitter): MessageReader<T> {
  const queue: T[] = [];
  let waiter: { resolve: (v: T | undefined) => void; reject: (e: unknown) => void } | undefined;
  let ended: StreamEnd | undefined;
  let failure: unknown;
  let failed = false;
  let closed = false;

  const settle = (): void => {
    const w = waiter;
    if (!w) return;
    if (queue.length > 0) {
      waiter = undefined;
      w.resolve(queue.shift());
    } else if (failed) {
      waiter = undefined;
      w.reject(failure);
    } else if (ended === 'end') {
      waiter = undefined;
      w.resolve(undefined);
    } else if (ended === 'cancelled') {
      waiter = undefined;
      w.reject(new Error('the call was cancelled'));
    }
  };
  const onData = (m: T): void => {
    queue.push(m);
    settle();
  };
  const onEnd = (): void => {
    ended ??= 'end';
    settle();
  };
  const onError = (err: unknown): void => {
    if (!failed) {
      failed = true;
      failure = err;
    }
    settle();
  };
  const onCancelled = (): void => {
    ended ??= 'cancelled';
    settle();
  };
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.on('error', onError);
  stream.on('cancelled', onCancelled);

  return {
    next(): Promise<T | undefined> {
      if (closed) return Promise.reject(new Error('internal: read after close'));
      if (waiter) return Promise.reject(new Error('internal: concurrent reads of one stream'));
      return new Promise<T | undefined>((resolve, reject) => {
        waiter = { resolve, reject };
        settle();
      });
    },
    close(): void {
      closed = true;
      waiter = undefined;
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('cancelled', onCancelled);
      // Keep swallowing late errors (e.g. CANCELLED after we cancel): an unheard 'error' would crash the process.
      stream.off('error', onError);
      stream.on('error', () => undefined);
    },
  };
}
