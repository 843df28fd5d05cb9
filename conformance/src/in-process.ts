import * as grpc from '@grpc/grpc-js';
import { unary } from '@spire-ts/common';
import { createLogger, startPluginServer, type PluginDefinition } from '@spire-ts/plugin-sdk';
import { createClient, type ServiceClientOf, type ServiceName } from '@spire-ts/proto';

/** A plugin served in this process over its real gRPC socket (no spawn, no handshake). */
export interface InProcessPlugin<N extends ServiceName> {
  /** Client of the plugin type's service. */
  client: ServiceClientOf<N>;
  /** Sends Configure with `hcl` as plugin_data. */
  configure(hcl: string, trustDomain?: string): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * Serves a plugin definition in-process for fast tests over the real wire
 * (same services, codecs and error mapping as the child-process path).
 *
 * @example
 * ```ts
 * const p = await servePluginInProcess(diskKeyManagerPlugin());
 * await p.configure('keys_path = "/tmp/keys.json"');
 * await unary(p.client, 'GetPublicKeys', {});
 * ```
 */
export async function servePluginInProcess<N extends ServiceName, C>(def: PluginDefinition<N, C>): Promise<InProcessPlugin<N>> {
  const srv = await startPluginServer(def, { log: createLogger({ level: 'warn' }) });
  const client = createClient(def.service, srv.target, grpc.credentials.createInsecure());
  const config = createClient('spire.service.common.config.v1.Config', srv.target, grpc.credentials.createInsecure());
  return {
    client,
    configure: (hcl, trustDomain = 'example.org') =>
      unary(config, 'Configure', { core_configuration: { trust_domain: trustDomain }, hcl_configuration: hcl }),
    async close() {
      (client as unknown as grpc.Client).close();
      config.close();
      await srv.close();
    },
  };
}

/** The gRPC error a promise rejects with (fails if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('expected the call to fail');
}

type WorkloadAttestorService = 'spire.plugin.agent.workloadattestor.v1.WorkloadAttestor';

/** A WorkloadAttestor plugin served in-process (see {@link servePluginInProcess}); its client as `wa`. */
export interface InProcessWorkloadAttestor {
  wa: ServiceClientOf<WorkloadAttestorService>;
  configure(hcl: string): Promise<unknown>;
  close(): Promise<void>;
}

/** {@link servePluginInProcess} for a WorkloadAttestor plugin, with its client named `wa`. */
export async function serveWorkloadAttestorInProcess<C>(def: PluginDefinition<WorkloadAttestorService, C>): Promise<InProcessWorkloadAttestor> {
  const p = await servePluginInProcess(def);
  return { wa: p.client, configure: (hcl) => p.configure(hcl), close: () => p.close() };
}
