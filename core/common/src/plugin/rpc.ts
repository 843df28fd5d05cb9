import { Metadata } from '@grpc/grpc-js';
import type * as grpc from '@grpc/grpc-js';

/**
 * Calls a unary method of a generated client and returns a promise.
 *
 * @example
 * ```ts
 * const res = await unary(client, 'SignData', { key_id: 'k', data: digest, hash_algorithm: 'SHA256' });
 * ```
 */
export function unary<C extends grpc.Client, M extends keyof C & string>(
  client: C,
  method: M,
  request: RequestOf<C[M]>,
  options: { deadlineMs?: number; metadata?: grpc.Metadata } = {},
): Promise<ResponseOf<C[M]>> {
  return new Promise((resolve, reject) => {
    const fn = client[method] as unknown as (
      req: unknown,
      md: grpc.Metadata | undefined,
      opts: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, res?: unknown) => void,
    ) => unknown;
    const opts: grpc.CallOptions = options.deadlineMs ? { deadline: Date.now() + options.deadlineMs } : {};
    const cb = (err: grpc.ServiceError | null, res?: unknown): void => (err ? reject(err) : resolve(res as ResponseOf<C[M]>));
    fn.call(client, request, options.metadata ?? new Metadata(), opts, cb);
  });
}

/** The request type of a generated unary client method (from its `(argument, callback)` overload). */
export type RequestOf<F> = F extends (argument: infer Req, callback: grpc.requestCallback<infer _Res>) => grpc.ClientUnaryCall ? Req : never;
/** The response type of a generated unary client method. */
export type ResponseOf<F> = F extends (argument: infer _Req, callback: grpc.requestCallback<infer Res>) => grpc.ClientUnaryCall ? Res : never;
