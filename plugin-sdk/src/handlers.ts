import type * as grpc from '@grpc/grpc-js';
import { serviceDefinition, type ServiceName, type ServiceHandlersOf } from '@spire-ts/proto';
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
  const definition = serviceDefinition(name);
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

/** Registers `impl` for service `name` on a grpc-js server. */
export function addService<N extends ServiceName>(server: grpc.Server, name: N, impl: ServiceImpl<N>): void {
  server.addService(serviceDefinition(name) as unknown as grpc.ServiceDefinition, toGrpcHandlers(name, impl));
}
