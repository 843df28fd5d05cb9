/**
 * The server side of `k8s_psat` (SPIRE's pkg/server/plugin/nodeattestor/k8spsat):
 * the payload names a configured cluster and carries a projected service
 * account token; the cluster's TokenReview API vouches for the token and
 * its audience, the service account must be allowed, and the pod and node
 * the token is bound to are looked up for the agent ID and selectors.
 */
import { PluginError, Status } from '@spire-ts/plugin-sdk';
import { ApiServerClient, ApiServerError, type Node, type Pod } from './apiserver.js';
import { isPathSegment, type AttestorConfig } from './config.js';
import { loadConnection, type ApiServerConnection } from './kubeconfig.js';

export const PLUGIN_NAME = 'k8s_psat';

/** Largest accepted payload: a projected token is a few KiB. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

const POD_NAME_KEY = 'authentication.kubernetes.io/pod-name';
const POD_UID_KEY = 'authentication.kubernetes.io/pod-uid';
const SA_PREFIX = 'system:serviceaccount:';

export interface AttestationResult {
  spiffeId: string;
  selectorValues: string[];
  canReattest: boolean;
}

/** SPIRE's `PSATAttestationData`. */
export interface PsatPayload {
  cluster: string;
  token: string;
}

function denied(message: string): PluginError {
  return new PluginError(Status.PERMISSION_DENIED, message);
}

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Parses an attestation payload; every problem is INVALID_ARGUMENT. */
export function parsePayload(payload: Uint8Array | undefined): PsatPayload {
  if (!payload || payload.length === 0) throw PluginError.invalidArgument('missing attestation payload');
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw PluginError.invalidArgument(`attestation payload is too large (${payload.length} bytes, at most ${MAX_PAYLOAD_BYTES})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch (err) {
    throw PluginError.invalidArgument(`failed to unmarshal data payload: ${(err as Error).message} (is the agent using the k8s_psat NodeAttestor?)`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw PluginError.invalidArgument('failed to unmarshal data payload: expected a JSON object with "cluster" and "token"');
  }
  const { cluster, token } = doc as Record<string, unknown>;
  if (cluster !== undefined && typeof cluster !== 'string') throw PluginError.invalidArgument('failed to unmarshal data payload: "cluster" must be a string');
  if (token !== undefined && typeof token !== 'string') throw PluginError.invalidArgument('failed to unmarshal data payload: "token" must be a string');
  if (!cluster) throw PluginError.invalidArgument('missing cluster in attestation data');
  if (!token) throw PluginError.invalidArgument('missing token in attestation data');
  if (!JWT.test(token)) throw PluginError.invalidArgument('token in attestation data is not a JWT (a projected service account token is expected)');
  return { cluster, token };
}

function only(extra: Record<string, string[]>, key: string, what: string, cluster: string): string {
  const v = extra[key];
  if (!v) throw PluginError.internal(`failed to get ${what} from token review status for cluster ${JSON.stringify(cluster)}: missing ${what}`);
  if (v.length !== 1) throw PluginError.internal(`failed to get ${what} from token review status for cluster ${JSON.stringify(cluster)}: expected 1 value but got ${v.length}`);
  if (!v[0]) throw PluginError.internal(`failed to get ${what} from token review status for cluster ${JSON.stringify(cluster)}: ${what} is empty`);
  return v[0];
}

function labelSelectors(kind: string, labels: Record<string, string>, allowed: ReadonlySet<string>): string[] {
  return Object.keys(labels)
    .filter((k) => allowed.has(k))
    .sort()
    .map((k) => `${kind}:${k}:${labels[k]!}`);
}

export type ConnectionLoader = (kubeConfigFile: string) => Promise<ApiServerConnection>;

export class K8sPsatServerAttestor {
  private config: AttestorConfig | undefined;

  constructor(private readonly loadConn: ConnectionLoader = loadConnection) {}

  configure(config: AttestorConfig): void {
    this.config = config;
  }

  async attest(payload: Uint8Array | undefined): Promise<AttestationResult> {
    const config = this.config;
    if (!config) throw PluginError.failedPrecondition('not configured');
    const data = parsePayload(payload);
    const cluster = config.clusters.get(data.cluster);
    if (!cluster) throw PluginError.invalidArgument(`not configured for cluster ${JSON.stringify(data.cluster)}`);
    const q = JSON.stringify(cluster.name);

    // Credentials are re-read each time (token files and certificates rotate), as SPIRE does.
    let client: ApiServerClient;
    try {
      client = new ApiServerClient(await this.loadConn(cluster.kubeConfigFile));
    } catch (err) {
      throw PluginError.internal(`unable to create a client for cluster ${q}: ${(err as Error).message}`);
    }

    let review;
    try {
      review = await client.tokenReview(data.token, cluster.audience);
    } catch (err) {
      throw PluginError.internal(`unable to validate token with TokenReview API for cluster ${q}: ${(err as Error).message}`);
    }
    if (!review.authenticated) {
      const why = review.error ? `: ${review.error}` : '';
      throw denied(`token not authenticated according to TokenReview API for cluster ${q}${why}`);
    }
    if (review.error) {
      throw PluginError.internal(`unable to validate token with TokenReview API for cluster ${q}: token review API response contains an error: ${review.error}`);
    }
    if (cluster.audience.length > 0 && !cluster.audience.some((a) => review.audiences.includes(a))) {
      throw denied(
        `token review API did not validate audience for cluster ${q}: wanted one of ${JSON.stringify(cluster.audience)} but got ${JSON.stringify(review.audiences)}`,
      );
    }

    const username = review.user.username;
    const names = username.split(':');
    if (!username.startsWith(SA_PREFIX) || names.length !== 4 || !names[2] || !names[3]) {
      throw denied(`token of ${JSON.stringify(username)} is not a service account token (cluster ${q})`);
    }
    const namespace = names[2];
    const serviceAccount = names[3];
    const fullName = `${namespace}:${serviceAccount}`;
    if (!cluster.serviceAccounts.has(fullName)) {
      throw denied(`${JSON.stringify(fullName)} is not an allowed service account for cluster ${q}`);
    }

    const podName = only(review.user.extra, POD_NAME_KEY, 'pod name', cluster.name);
    const podUid = only(review.user.extra, POD_UID_KEY, 'pod UID', cluster.name);

    let pod: Pod;
    try {
      pod = await client.getPod(namespace, podName);
    } catch (err) {
      if (err instanceof ApiServerError && err.statusCode === 404) {
        throw denied(`pod ${JSON.stringify(podName)} in namespace ${JSON.stringify(namespace)} of cluster ${q} not found: the token's pod no longer exists`);
      }
      throw PluginError.internal(`failed to get pod from k8s API server for cluster ${q}: ${(err as Error).message}`);
    }
    if (pod.uid !== podUid) {
      throw denied(`pod UID mismatch for pod ${JSON.stringify(podName)} in cluster ${q}: token bound to pod UID ${JSON.stringify(podUid)}`);
    }
    if (!pod.nodeName) throw denied(`pod ${JSON.stringify(podName)} in cluster ${q} is not scheduled on a node`);

    let node: Node;
    try {
      node = await client.getNode(pod.nodeName);
    } catch (err) {
      if (err instanceof ApiServerError && err.statusCode === 404) {
        throw denied(`node ${JSON.stringify(pod.nodeName)} of pod ${JSON.stringify(podName)} not found in cluster ${q}`);
      }
      throw PluginError.internal(`failed to get node from k8s API server for cluster ${q}: ${(err as Error).message}`);
    }
    if (!node.uid) throw PluginError.internal(`node UID is empty for cluster ${q}`);

    const suffix = cluster.usePodUidForAgentId ? podUid : node.uid;
    if (!isPathSegment(suffix)) {
      throw new PluginError(Status.INTERNAL, `${cluster.usePodUidForAgentId ? 'pod' : 'node'} UID ${JSON.stringify(suffix)} of cluster ${q} cannot be used in an agent ID`);
    }
    const spiffeId = `spiffe://${config.trustDomain}/spire/agent/${PLUGIN_NAME}/${cluster.name}/${cluster.usePodUidForAgentId ? 'pod/' : ''}${suffix}`;

    const selectorValues = [
      `cluster:${cluster.name}`,
      `agent_ns:${namespace}`,
      `agent_sa:${serviceAccount}`,
      `agent_pod_name:${podName}`,
      `agent_pod_uid:${podUid}`,
      `agent_node_ip:${pod.hostIP}`,
      `agent_node_name:${pod.nodeName}`,
      `agent_node_uid:${node.uid}`,
      ...labelSelectors('agent_node_label', node.labels, cluster.allowedNodeLabelKeys),
      ...labelSelectors('agent_pod_label', pod.labels, cluster.allowedPodLabelKeys),
    ];
    return { spiffeId, selectorValues, canReattest: true };
  }
}
