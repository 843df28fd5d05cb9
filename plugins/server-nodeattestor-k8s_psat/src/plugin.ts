import {
  PluginError,
  schemaConfig,
  type BuiltConfig,
  type Logger,
  type PluginDefinition,
  type ServiceImpl,
} from '@spire-ts/plugin-sdk';
import { K8sPsatServerAttestor, type ConnectionLoader } from './attest.js';
import { buildAttestorConfig, checkConfig, configSchema, type RawConfig } from './config.js';

export const SERVER_NODE_ATTESTOR_SERVICE = 'spire.plugin.server.nodeattestor.v1.NodeAttestor';

type Call = Parameters<NonNullable<ServiceImpl<typeof SERVER_NODE_ATTESTOR_SERVICE>['Attest']>>[0];
type Request = { request?: string; payload?: Uint8Array | null };

export interface K8sPsatServerOptions {
  log?: Logger;
  /** How a cluster's kube_config_file becomes a connection (tests); default: kubeconfig or in-cluster. */
  loadConnection?: ConnectionLoader;
}

/** The first message of the stream, or undefined if the host ended it first. */
function firstMessage(call: Call): Promise<Request | undefined> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      call.off('data', onData);
      call.off('end', onEnd);
      call.off('cancelled', onCancel);
    };
    const onData = (m: Request): void => {
      done();
      call.pause();
      resolve(m);
    };
    const onEnd = (): void => {
      done();
      resolve(undefined);
    };
    const onCancel = (): void => {
      done();
      reject(PluginError.unavailable('attestation cancelled by the host'));
    };
    call.on('data', onData);
    call.on('end', onEnd);
    call.on('cancelled', onCancel);
  });
}

/**
 * The server NodeAttestor `k8s_psat` (SPIRE's `plugin_data`: `clusters`, each
 * with `service_account_allow_list`, `audience`, `kube_config_file`,
 * `allowed_node_label_keys`, `allowed_pod_label_keys`, `use_pod_uid_for_agent_id`).
 */
export function k8sPsatServerPlugin(
  opts: K8sPsatServerOptions = {},
): PluginDefinition<typeof SERVER_NODE_ATTESTOR_SERVICE, BuiltConfig<RawConfig>> {
  const attestor = new K8sPsatServerAttestor(opts.loadConnection);
  return {
    service: SERVER_NODE_ATTESTOR_SERVICE,
    impl: {
      Attest: async (call: Call) => {
        const first = await firstMessage(call);
        if (!first || first.request !== 'payload') throw PluginError.invalidArgument('missing attestation payload');
        try {
          const res = await attestor.attest(first.payload ?? undefined);
          call.write({ agent_attributes: { spiffe_id: res.spiffeId, selector_values: res.selectorValues, can_reattest: res.canReattest } });
          call.end();
        } catch (err) {
          opts.log?.warn('attestation refused', { error: err instanceof Error ? err.message : String(err) });
          throw err;
        }
      },
    },
    config: schemaConfig(configSchema, {
      requireTrustDomain: true,
      check: (raw) => checkConfig(raw),
      apply: ({ value, trustDomain }) => {
        if (Object.keys(value.clusters).length === 0) opts.log?.info('No clusters configured, PSAT attestation is effectively disabled');
        attestor.configure(buildAttestorConfig(value, trustDomain));
      },
    }),
  };
}
