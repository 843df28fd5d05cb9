/**
 * One message at a time from a grpc-js stream (client duplex call), for the
 * request/response dialogues of attestation and entry sync.
 */
import type { EventEmitter } from 'node:events';

export interface MessageReader<T> {
  /** The next message; undefined once the peer ended the stream; rejects with the stream's error. */
  next(): Promise<T | undefined>;
  /** Stops reading; later stream errors are ignored. */
  close(): void;
}

export function messageReader<T>(stream: EventEmitter): MessageReader<T> {
  const queue: T[] = [];
  let waiter: { resolve: (v: T | undefined) => void; reject: (e: unknown) => void } | undefined;
  let ended = false;
  let failure: { error: unknown } | undefined;
  let closed = false;
  const settle = (): void => {
    const w = waiter;
    if (!w) return;
    if (queue.length > 0) {
      waiter = undefined;
      w.resolve(queue.shift());
    } else if (failure) {
      waiter = undefined;
      w.reject(failure.error);
    } else if (ended) {
      waiter = undefined;
      w.resolve(undefined);
    }
  };
  const onData = (m: T): void => {
    queue.push(m);
    settle();
  };
  const onEnd = (): void => {
    ended = true;
    settle();
  };
  const onError = (err: unknown): void => {
    failure ??= { error: err };
    settle();
  };
  stream.on('data', onData);
  stream.on('end', onEnd);
  // Kept after close(): an 'error' without listener would be thrown by the emitter.
  stream.on('error', onError);
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
      stream.off('data', onData);
      stream.off('end', onEnd);
      waiter = undefined;
    },
  };
}
