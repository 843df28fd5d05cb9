/**
 * `spire-agent api watch`: streams X.509-SVID updates from the Workload API
 * and prints each as `fetch x509` does (time since the previous update),
 * as SPIRE's (go-spiffe's watcher): a failed or ended stream is printed
 * and reopened after a linear backoff (1 s more per failure, at most 30 s,
 * reset by an update); INVALID_ARGUMENT ends the watch with exit 1. It
 * runs until `io.stopSignal` aborts, then exits 0 (SPIRE prints the
 * context-canceled error and exits 1 on an interrupt).
 *
 * @module
 */

import { performance } from 'node:perf_hooks';
import type * as grpc from '@grpc/grpc-js';
import { isServiceError } from '@spire-ts/common';
import type { workload } from '@spire-ts/proto';
import { ApiCliError } from './client.js';
import type { ApiCommand, ApiContext } from './command.js';
import { formatX509Svids, parseX509Response } from './x509.js';

const MAX_BACKOFF_MS = 30_000;

/** Resolves after `ms`, or early when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** One stream: prints updates until it fails; resolves with its error (undefined when stopped). */
function watchOnce(ctx: ApiContext, state: { last: number; failures: number }): Promise<unknown> {
  const conn = ctx.conn();
  const signal = ctx.io.stopSignal;
  return new Promise((resolve) => {
    const stream: grpc.ClientReadableStream<workload.X509SVIDResponse__Output> = conn.client.FetchX509SVID({}, conn.metadata());
    let settled = false;
    const stop = (): void => stream.cancel();
    const settle = (err: unknown): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', stop);
      resolve(signal?.aborted ? undefined : err);
    };
    signal?.addEventListener('abort', stop, { once: true });
    stream.on('data', (resp: workload.X509SVIDResponse__Output) => {
      state.failures = 0;
      try {
        const svids = parseX509Response(resp, { bareNames: true }).map((s) => ({ ...s, hint: '' }));
        ctx.io.stdout(formatX509Svids(svids, performance.now() - state.last));
        state.last = performance.now();
      } catch (err) {
        ctx.io.stderr(`${(err as Error).message}\n`);
      }
    });
    stream.on('error', (err: grpc.ServiceError) => settle(err));
    stream.on('end', () => settle(new ApiCliError('rpc error: code = Unavailable desc = the Workload API ended the stream')));
    if (signal?.aborted) stop();
  });
}

export const watch: ApiCommand = {
  name: 'watch',
  synopsis: "Attaches to the Workload API and prints updates as they're received",
  flags: [],
  async run(ctx) {
    const signal = ctx.io.stopSignal;
    const state = { last: performance.now(), failures: 0 };
    while (!signal?.aborted) {
      const err = await watchOnce(ctx, state);
      if (err === undefined) break;
      ctx.io.stderr(`${ctx.conn().error(err).message}\n`);
      if (isServiceError(err) && err.code === 3) return 1;
      const delay = Math.min((state.failures + 1) * 1000, MAX_BACKOFF_MS);
      state.failures++;
      await sleep(delay, signal);
    }
    return 0;
  },
};
