/** The server `k8s_psat` plugin_data (SPIRE's keys) and its checks. */
import { PluginError, s, type Infer } from '@spire-ts/plugin-sdk';

/** SPIRE's default TokenReview audience. */
export const DEFAULT_AUDIENCE: readonly string[] = ['spire-server'];

const clusterSchema = s.object({
  service_account_allow_list: s.list(s.string({ nonEmpty: true }), { default: [] }),
  audience: s.list(s.string({ nonEmpty: true })),
  kube_config_file: s.string({ default: '' }),
  allowed_node_label_keys: s.list(s.string(), { default: [] }),
  allowed_pod_label_keys: s.list(s.string(), { default: [] }),
  use_pod_uid_for_agent_id: s.bool({ default: false }),
});

export const configSchema = s.object({
  clusters: s.map(clusterSchema, { default: {} }),
});

export type RawConfig = Infer<typeof configSchema>;

/** One configured cluster, ready for attestation. */
export interface ClusterConfig {
  readonly name: string;
  /** `namespace:name` of the service accounts allowed to attest. */
  readonly serviceAccounts: ReadonlySet<string>;
  /** TokenReview audiences; empty = the API server's own audience. */
  readonly audience: readonly string[];
  /** Empty = in-cluster configuration. */
  readonly kubeConfigFile: string;
  readonly allowedNodeLabelKeys: ReadonlySet<string>;
  readonly allowedPodLabelKeys: ReadonlySet<string>;
  readonly usePodUidForAgentId: boolean;
}

export interface AttestorConfig {
  readonly trustDomain: string;
  readonly clusters: ReadonlyMap<string, ClusterConfig>;
}

/** A SPIFFE ID path segment (the cluster name becomes one). */
const SEGMENT = /^[A-Za-z0-9._-]+$/;

export function isPathSegment(v: string): boolean {
  return SEGMENT.test(v) && v !== '.' && v !== '..';
}

/** Cross-field checks SPIRE makes (and a few that keep the agent ID valid). */
export function checkConfig(raw: RawConfig): void {
  for (const [name, c] of Object.entries(raw.clusters)) {
    if (!isPathSegment(name)) {
      throw PluginError.invalidArgument(
        `cluster name ${JSON.stringify(name)} cannot be used in an agent ID: use letters, digits, ".", "-" and "_" only`,
      );
    }
    if (c.service_account_allow_list.length === 0) {
      throw PluginError.invalidArgument(`cluster ${JSON.stringify(name)} configuration must have at least one service account allowed`);
    }
    for (const sa of c.service_account_allow_list) {
      const parts = sa.split(':');
      if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
        throw PluginError.invalidArgument(
          `cluster ${JSON.stringify(name)}: service_account_allow_list entry ${JSON.stringify(sa)} must be "<namespace>:<service account name>"`,
        );
      }
    }
  }
}

export function buildAttestorConfig(raw: RawConfig, trustDomain: string): AttestorConfig {
  const clusters = new Map<string, ClusterConfig>();
  for (const [name, c] of Object.entries(raw.clusters)) {
    clusters.set(name, {
      name,
      serviceAccounts: new Set(c.service_account_allow_list),
      // Unset: SPIRE's default; set to [] explicitly: the API server's audience.
      audience: c.audience ?? DEFAULT_AUDIENCE,
      kubeConfigFile: c.kube_config_file,
      allowedNodeLabelKeys: new Set(c.allowed_node_label_keys),
      allowedPodLabelKeys: new Set(c.allowed_pod_label_keys),
      usePodUidForAgentId: c.use_pod_uid_for_agent_id,
    });
  }
  return { trustDomain, clusters };
}
