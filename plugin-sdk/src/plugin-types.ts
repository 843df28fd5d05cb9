/**
 * The plugin types spire-ts loads, the magic cookie each uses, and the
 * fully qualified gRPC service each type's plugins must implement.
 */
export const PLUGIN_TYPES = [
  'DataStore',
  'KeyManager',
  'NodeAttestor',
  'WorkloadAttestor',
  'UpstreamAuthority',
  'Notifier',
  'CredentialComposer',
  'BundlePublisher',
  'SVIDStore',
] as const;

export type PluginType = (typeof PLUGIN_TYPES)[number];

/** Which side of SPIRE loads a plugin. */
export type PluginSide = 'server' | 'agent';

/** Service name of each (side, type), as SPIRE's plugin SDK defines them. */
export const PLUGIN_SERVICE_NAMES: Readonly<Record<PluginSide, Partial<Record<PluginType, string>>>> = {
  server: {
    DataStore: 'spire_ts.plugin.server.datastore.v1.DataStore',
    KeyManager: 'spire.plugin.server.keymanager.v1.KeyManager',
    NodeAttestor: 'spire.plugin.server.nodeattestor.v1.NodeAttestor',
    UpstreamAuthority: 'spire.plugin.server.upstreamauthority.v1.UpstreamAuthority',
    Notifier: 'spire.plugin.server.notifier.v1.Notifier',
    CredentialComposer: 'spire.plugin.server.credentialcomposer.v1.CredentialComposer',
    BundlePublisher: 'spire.plugin.server.bundlepublisher.v1.BundlePublisher',
  },
  agent: {
    KeyManager: 'spire.plugin.agent.keymanager.v1.KeyManager',
    NodeAttestor: 'spire.plugin.agent.nodeattestor.v1.NodeAttestor',
    WorkloadAttestor: 'spire.plugin.agent.workloadattestor.v1.WorkloadAttestor',
    SVIDStore: 'spire.plugin.agent.svidstore.v1.SVIDStore',
  },
};

export const CONFIG_SERVICE = 'spire.service.common.config.v1.Config';
export const INIT_SERVICE = 'spire.service.private.init.v1.Init';

/** go-plugin's core protocol version (first handshake field). */
export const CORE_PROTOCOL_VERSION = 1;
/** SPIRE's plugin (app) protocol version. */
export const APP_PROTOCOL_VERSION = 1;
/** Broker id on which the host serves its host services (SPIRE's HostServiceProviderID). */
export const HOST_SERVICE_PROVIDER_ID = 1;

export function isPluginType(value: string): value is PluginType {
  return (PLUGIN_TYPES as readonly string[]).includes(value);
}

/** The type (and so the magic cookie) a service belongs to, if it is a plugin service. */
export function pluginTypeOfService(serviceName: string): { side: PluginSide; type: PluginType } | undefined {
  for (const side of ['server', 'agent'] as const) {
    for (const [type, name] of Object.entries(PLUGIN_SERVICE_NAMES[side])) {
      if (name === serviceName && isPluginType(type)) return { side, type };
    }
  }
  return undefined;
}
