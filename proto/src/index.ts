/**
 * Protocol definitions for spire-ts: the SPIFFE Workload API, SPIRE's server
 * API and plugin services, go-plugin's internal services, and our DataStore
 * plugin service, each in the same proto package as upstream so the wire is
 * identical. Services are loaded at run time with @grpc/proto-loader and typed
 * by the generated declarations under `gen/`.
 *
 * @example
 * ```ts
 * import { serviceDefinition } from '@spire-ts/proto';
 * const def = serviceDefinition('spire.plugin.server.keymanager.v1.KeyManager');
 * server.addService(def, handlers);
 * ```
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { serviceFiles, type ServiceTypes } from './gen/services.js';

export type { ServiceTypes } from './gen/services.js';
export { serviceFiles } from './gen/services.js';

/** Directory holding the .proto tree (the package root). */
export const PROTO_ROOT: string = fileURLToPath(new URL('..', import.meta.url));

/** Options every spire-ts component uses, so both ends agree on JS shapes. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

export type ServiceName = keyof ServiceTypes;
export type ServiceDefinitionOf<N extends ServiceName> = ServiceTypes[N]['definition'];
export type ServiceClientOf<N extends ServiceName> = ServiceTypes[N]['client'];
export type ServiceHandlersOf<N extends ServiceName> = ServiceTypes[N]['handlers'];

const loaded = new Map<string, protoLoader.PackageDefinition>();

function packageDefinition(file: string): protoLoader.PackageDefinition {
  let def = loaded.get(file);
  if (!def) {
    def = protoLoader.loadSync(file, LOADER_OPTIONS);
    loaded.set(file, def);
  }
  return def;
}

/** True if `name` is a service this package defines. */
export function isServiceName(name: string): name is ServiceName {
  return Object.hasOwn(serviceFiles, name);
}

/** The grpc-js service definition for a fully qualified service name. */
export function serviceDefinition<N extends ServiceName>(name: N): ServiceDefinitionOf<N> {
  const def = packageDefinition(serviceFiles[name])[name];
  if (!def || !isService(def)) throw new TypeError(`proto: ${name} is not a service`);
  return def as unknown as ServiceDefinitionOf<N>;
}

function isService(def: protoLoader.AnyDefinition): def is protoLoader.ServiceDefinition {
  return !('format' in def);
}

const clientCtors = new Map<string, grpc.ServiceClientConstructor>();

/** A typed grpc-js client for a service on an existing channel or address. */
export function createClient<N extends ServiceName>(
  name: N,
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
): ServiceClientOf<N> {
  let Ctor = clientCtors.get(name);
  if (!Ctor) {
    Ctor = grpc.makeGenericClientConstructor(
      serviceDefinition(name) as unknown as grpc.ServiceDefinition,
      name,
    );
    clientCtors.set(name, Ctor);
  }
  return new Ctor(address, credentials, options) as unknown as ServiceClientOf<N>;
}

// Message types, one namespace per proto package.
export type * as healthV1 from './gen/grpc/health/v1/index.js';
export type * as goplugin from './gen/plugin/index.js';
export type * as initV1 from './gen/spire/service/private/init/v1/index.js';
export type * as configV1 from './gen/spire/service/common/config/v1/index.js';
export type * as serverKeyManagerV1 from './gen/spire/plugin/server/keymanager/v1/index.js';
export type * as agentKeyManagerV1 from './gen/spire/plugin/agent/keymanager/v1/index.js';
export type * as datastoreV1 from './gen/spire_ts/plugin/server/datastore/v1/index.js';
// Package-less protos (the Workload API: message names are bare, e.g. X509SVIDResponse).
export type * as workload from './gen/root.js';
export type * as spiffeBroker from './gen/spiffe/broker/index.js';
export type * as apiTypes from './gen/spire/api/types/index.js';
export type * as pluginTypes from './gen/spire/plugin/types/index.js';
export type * as serverApiAgentV1 from './gen/spire/api/server/agent/v1/index.js';
export type * as serverApiBundleV1 from './gen/spire/api/server/bundle/v1/index.js';
export type * as serverApiEntryV1 from './gen/spire/api/server/entry/v1/index.js';
export type * as serverApiSvidV1 from './gen/spire/api/server/svid/v1/index.js';
export type * as trustDomainV1 from './gen/spire/api/server/trustdomain/v1/index.js';
export type * as localAuthorityV1 from './gen/spire/api/server/localauthority/v1/index.js';
export type * as serverLoggerV1 from './gen/spire/api/server/logger/v1/index.js';
export type * as serverDebugV1 from './gen/spire/api/server/debug/v1/index.js';
export type * as agentDebugV1 from './gen/spire/agent/debug/v1/index.js';
export type * as delegatedIdentityV1 from './gen/spire/api/agent/delegatedidentity/v1/index.js';
export type * as agentLoggerV1 from './gen/spire/api/agent/logger/v1/index.js';
export type * as serverNodeAttestorV1 from './gen/spire/plugin/server/nodeattestor/v1/index.js';
export type * as upstreamAuthorityV1 from './gen/spire/plugin/server/upstreamauthority/v1/index.js';
export type * as notifierV1 from './gen/spire/plugin/server/notifier/v1/index.js';
export type * as credentialComposerV1 from './gen/spire/plugin/server/credentialcomposer/v1/index.js';
export type * as bundlePublisherV1 from './gen/spire/plugin/server/bundlepublisher/v1/index.js';
export type * as agentNodeAttestorV1 from './gen/spire/plugin/agent/nodeattestor/v1/index.js';
export type * as workloadAttestorV1 from './gen/spire/plugin/agent/workloadattestor/v1/index.js';
export type * as svidStoreV1 from './gen/spire/plugin/agent/svidstore/v1/index.js';
export type * as hostAgentStoreV1 from './gen/spire/hostservice/server/agentstore/v1/index.js';
export type * as hostIdentityProviderV1 from './gen/spire/hostservice/server/identityprovider/v1/index.js';
export type * as hostMetricsV1 from './gen/spire/hostservice/common/metrics/v1/index.js';
export type * as sdsV3 from './gen/envoy/service/secret/v3/index.js';
export type * as discoveryV3 from './gen/envoy/service/discovery/v3/index.js';
export type * as envoyCoreV3 from './gen/envoy/config/core/v3/index.js';
export type * as envoyTlsV3 from './gen/envoy/extensions/transport_sockets/tls/v3/index.js';
export type * as envoyTypeV3 from './gen/envoy/type/v3/index.js';
export type * as xdsCoreV3 from './gen/xds/core/v3/index.js';
export type * as googleRpc from './gen/google/rpc/index.js';
