// Serves a plugin definition in-process over its real gRPC socket.
import * as grpc from '@grpc/grpc-js';
import { unary } from '@spire-ts/common';
import { createLogger, startPluginServer, type PluginDefinition } from '@spire-ts/plugin-sdk';
import { createClient } from '@spire-ts/proto';

const KM = 'spire.plugin.agent.keymanager.v1.KeyManager';

export interface InProcess {
  km: ReturnType<typeof createClient<typeof KM>>;
  configure(hcl: string): Promise<unknown>;
  close(): Promise<void>;
}

export async function inProcess<C>(def: PluginDefinition<typeof KM, C>): Promise<InProcess> {
  const srv = await startPluginServer(def, { log: createLogger({ level: 'warn' }) });
  const km = createClient(KM, srv.target, grpc.credentials.createInsecure());
  const config = createClient('spire.service.common.config.v1.Config', srv.target, grpc.credentials.createInsecure());
  return {
    km,
    configure: (hcl) => unary(config, 'Configure', { core_configuration: { trust_domain: 'example.org' }, hcl_configuration: hcl }),
    async close() {
      km.close();
      config.close();
      await srv.close();
    },
  };
}

/** The gRPC error a promise rejects with. */
export async function rejection(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('expected the call to fail');
}
