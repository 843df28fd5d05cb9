/**
 * Writing to a server stream whose every message supersedes the previous
 * one (an SVID set, a bundle set, an SDS answer): while the client is slow
 * to read, only the newest unsent message is kept, and it goes out on the
 * next 'drain'.
 */
export interface WritableCall<T> {
  write(message: T): boolean;
  on(event: 'drain', listener: () => void): unknown;
}

/** A `write` for `call` that keeps only the newest message under backpressure; `done()` true drops what is left. */
export function latestWins<T>(call: WritableCall<T>, done: () => boolean): (message: T) => void {
  let blocked = false;
  let pending: T | undefined;
  const write = (message: T): void => {
    if (done()) return;
    if (blocked) {
      pending = message;
      return;
    }
    blocked = !call.write(message);
  };
  call.on('drain', () => {
    blocked = false;
    const next = pending;
    pending = undefined;
    if (next !== undefined) write(next);
  });
  return write;
}
