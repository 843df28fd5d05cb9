import type * as grpc from '@grpc/grpc-js';
import type { ServiceName, ServiceHandlersOf } from '@spire-ts/proto';
import { serviceCodecs } from '@spire-ts/proto/codec';
import { toServiceError } from './errors.js';

type ImplOf<F> = F extends grpc.handleUnaryCall<infer Req, infer Res>
  ? (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>
  : F;

/**
 * What a plugin author writes for a service: unary RPCs as (async) functions
 * of the decoded request that return the response or throw a
 * {@link PluginError}; streaming RPCs as plain grpc-js handlers. RPCs left out
 * answer `UNIMPLEMENTED`.
 *
 * @example
 * ```ts
 * const km: ServiceImpl<'spire.plugin.server.keymanager.v1.KeyManager'> = {
 *   async GetPublicKeys() { return { public_keys: [] }; },
 * };
 * ```
 */
export type ServiceImpl<N extends ServiceName> = {
  [K in keyof ServiceHandlersOf<N> as string extends K ? never : K]?: ImplOf<ServiceHandlersOf<N>[K]>;
};

interface MethodShape {
  requestStream: boolean;
  responseStream: boolean;
}

/**
 * Turns a {@link ServiceImpl} into grpc-js handlers: unary functions get
 * promise and error handling (any throw becomes a gRPC status).
 */
export function toGrpcHandlers<N extends ServiceName>(
  name: N,
  impl: ServiceImpl<N>,
): grpc.UntypedServiceImplementation {
  const definition = serviceCodecs(name);
  const out: grpc.UntypedServiceImplementation = {};
  const methods = definition as unknown as Record<string, MethodShape>;
  const given = impl as Record<string, unknown>;
  for (const [name, shape] of Object.entries(methods)) {
    const fn = given[name];
    if (typeof fn !== 'function') continue;
    if (shape.requestStream || shape.responseStream) {
      out[name] = fn as grpc.UntypedHandleCall;
      continue;
    }
    const unary = fn as (req: unknown, call: grpc.ServerUnaryCall<unknown, unknown>) => unknown;
    out[name] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      let result: unknown;
      try {
        result = unary.call(impl, call.request, call);
      } catch (err) {
        callback(toServiceError(err), null);
        return;
      }
      Promise.resolve(result).then(
        (value) => callback(null, value),
        (err: unknown) => callback(toServiceError(err), null),
      );
    }) as grpc.UntypedHandleCall;
  }
  return out;
}

/** Anything services can be registered on: grpc-js's `Server` or the SDK's `LeanGrpcServer`. */
export interface ServiceRegistrar {
  addService(definition: never, implementation: grpc.UntypedServiceImplementation): void;
}

/**
 * Registers `impl` for service `name` on a server (grpc-js's or the SDK's own).
 *
 * @example
 * ```ts
 * addService(server, 'spire.hostservice.common.metrics.v1.Metrics', { SetGauge: () => ({}) });
 * ```
 */
export function addService<N extends ServiceName>(server: ServiceRegistrar, name: N, impl: ServiceImpl<N>): void {
  server.addService(serviceCodecs(name) as never, toGrpcHandlers(name, impl));
}
