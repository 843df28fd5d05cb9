import { join } from 'node:path';
import {
  PluginError,
  Status,
  schemaConfig,
  type BuiltConfig,
  type Logger,
  type PluginDefinition,
} from '@spire-ts/plugin-sdk';
import { DecodeError, PID_REFERENCE_TYPE, decodePidReference } from '@spire-ts/agent-workloadattestor-unix';
import {
  CgroupParseError,
  ContainerInfoConflictError,
  ContainerInfoExtractor,
  ProcessGoneError,
  defaultProcRoot,
  extractFromPath,
  parseCgroupFile,
  processStartTime,
  readBounded,
  type ContainerInfo,
} from '@spire-ts/workloadattestor-kit';
import { DEFAULT_MAX_POD_LIST_BYTES, configSchema, distilConfig, type K8sConfig, type K8sHclConfig } from './config.js';
import { FetcherClosedError, PodListFetcher } from './fetcher.js';
import { KubeletError } from './kubelet.js';
import { PodDecodeError, containerSelectors, decodePod, lookUpContainer, podSelectors } from './pod.js';

export const WORKLOAD_ATTESTOR_SERVICE = 'spire.plugin.agent.workloadattestor.v1.WorkloadAttestor';
export const K8S_OBJECT_REFERENCE_TYPE = 'spiffe.broker.KubernetesObjectReference';

const MAX_PID = 2 ** 31 - 1;

/** Options of {@link k8sWorkloadAttestorPlugin} (for tests and embedding; the binary passes only a logger). */
export interface K8sWorkloadAttestorOptions {
  /** procfs root; default `$HOST_PROC` or `/proc`. */
  procRoot?: string;
  /** Environment the node name is read from; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Largest `/pods` answer; default 32 MiB. */
  maxPodListBytes?: number;
  log?: Logger;
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function messageNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/** SPIRE's legacy locator: the container ID (and pod UID) from the cgroup paths only. */
async function legacyLocate(procRoot: string, pid: number): Promise<ContainerInfo> {
  let text: string;
  try {
    text = await readBounded(join(procRoot, String(pid), 'cgroup'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') throw new ProcessGoneError(pid, `process ${pid} does not exist`, { cause: err });
    throw err;
  }
  const found: ContainerInfo = {};
  for (const line of parseCgroupFile(text)) {
    const got = extractFromPath(line.path, { wantPodUid: true });
    if (got.containerId === undefined) continue;
    if (found.containerId === undefined) {
      found.containerId = got.containerId;
      if (got.podUid !== undefined) found.podUid = got.podUid;
    } else if (found.containerId !== got.containerId) {
      throw new ContainerInfoConflictError(`multiple container IDs found in cgroups (${found.containerId}, ${got.containerId})`);
    } else if (found.podUid !== got.podUid) {
      throw new ContainerInfoConflictError(`multiple pod UIDs found in cgroups (${found.podUid ?? ''}, ${got.podUid ?? ''})`);
    }
  }
  return found;
}

/**
 * The `k8s` workload attestor: locates the workload's container (and pod)
 * from its cgroups, finds that container in the kubelet's pod list and
 * answers SPIRE's pod and container selectors.
 */
export class K8sWorkloadAttestor {
  private config: K8sConfig | undefined;
  private readonly fetcher: PodListFetcher;
  private readonly procRoot: string;
  private readonly log: Logger | undefined;

  constructor(private readonly opts: K8sWorkloadAttestorOptions = {}) {
    this.procRoot = opts.procRoot ?? defaultProcRoot();
    this.log = opts.log;
    this.fetcher = new PodListFetcher(opts.log);
  }

  /** Checks `plugin_data` beyond its schema (no file access). */
  distil(value: K8sHclConfig): K8sConfig {
    return distilConfig(value, this.opts.env ?? process.env, this.opts.maxPodListBytes ?? DEFAULT_MAX_POD_LIST_BYTES);
  }

  async configure(config: K8sConfig): Promise<void> {
    try {
      await this.fetcher.configure(config.kubelet, config.pollRetryIntervalMs);
    } catch (err) {
      if (err instanceof KubeletError) throw PluginError.invalidArgument(err.message);
      throw err;
    }
    if (!config.useNewContainerLocator) this.log?.warn('Using the legacy container locator. This option will be removed in a future release.');
    this.config = config;
  }

  close(): void {
    this.fetcher.close();
  }

  private async locate(config: K8sConfig, pid: number): Promise<ContainerInfo> {
    try {
      if (!config.useNewContainerLocator) return await legacyLocate(this.procRoot, pid);
      const extractor = new ContainerInfoExtractor({ procRoot: this.procRoot, verbose: config.verboseContainerLocatorLogs, ...(this.log ? { log: this.log } : {}) });
      return await extractor.podUidAndContainerId(pid);
    } catch (err) {
      if (err instanceof ProcessGoneError) throw new PluginError(Status.INTERNAL, `process ${pid} does not exist`, { cause: err });
      if (err instanceof ContainerInfoConflictError) throw new PluginError(Status.FAILED_PRECONDITION, err.message, { cause: err });
      if (err instanceof CgroupParseError) throw new PluginError(Status.INTERNAL, err.message, { cause: err });
      throw new PluginError(Status.INTERNAL, `unable to locate the container of pid ${pid}: ${reason(err)}`, { cause: err });
    }
  }

  private async startTime(pid: number): Promise<string | undefined> {
    try {
      return await processStartTime(this.procRoot, pid);
    } catch (err) {
      if (err instanceof ProcessGoneError) return undefined;
      throw new PluginError(Status.INTERNAL, `unable to read the start time of pid ${pid}: ${reason(err)}`, { cause: err });
    }
  }

  /** Selector values (without the `k8s:` type) of process `pid`. */
  async attest(pid: number, signal?: AbortSignal): Promise<string[]> {
    const config = this.config;
    if (!config) throw PluginError.failedPrecondition('not configured');
    if (!Number.isInteger(pid) || pid <= 0 || pid > MAX_PID) throw PluginError.invalidArgument(`pid must be a positive 32-bit integer, got ${pid}`);

    // The start time names this process across pid reuse: read before and
    // after, it proves that the cgroups read were this process's.
    const started = await this.startTime(pid);
    if (started === undefined) throw new PluginError(Status.INTERNAL, `process ${pid} does not exist`);
    const { podUid, containerId } = await this.locate(config, pid);
    // Not in a container: not a Kubernetes workload (SPIRE answers no selectors).
    if (containerId === undefined) return [];

    const selectors = await this.findInPods(config, pid, podUid, containerId, signal);

    const again = await this.startTime(pid);
    if (again !== started) throw new PluginError(Status.INTERNAL, `process ${pid} exited during attestation`);
    return selectors;
  }

  private async findInPods(config: K8sConfig, pid: number, podUid: string | undefined, containerId: string, signal?: AbortSignal): Promise<string[]> {
    const log = this.log?.with({ pid, pod_uid: podUid ?? '', container_id: containerId });
    let seen = 0;
    for (let attempt = 1; ; attempt++) {
      let result;
      try {
        result = await this.fetcher.fetchNext(seen, signal);
      } catch (err) {
        if (err instanceof FetcherClosedError) throw PluginError.unavailable(err.message);
        throw new PluginError(Status.CANCELLED, `attestation of pid ${pid} cancelled`, { cause: err });
      }
      let found: string[] | undefined;
      if (result.ok) {
        seen = result.list.version;
        found = this.match(config, result.list.pods, podUid, containerId, log);
        if (found) return found;
      }
      if (attempt >= config.maxPollAttempts) {
        if (!result.ok) {
          log?.warn('Unable to get pod list; giving up', { error: result.error.message });
          throw new PluginError(result.error.kind === 'unavailable' ? Status.UNAVAILABLE : Status.INTERNAL, `${result.error.message} (after ${attempt} attempts)`);
        }
        log?.warn('Container id not found; giving up');
        throw new PluginError(
          Status.DEADLINE_EXCEEDED,
          `no selectors found after max poll attempts: container ${containerId}${podUid ? ` of pod ${podUid}` : ''} is not in the pod list of ${this.fetcher.url ?? 'the kubelet'} after ${attempt} attempts`,
        );
      }
      if (!result.ok) log?.warn('Unable to get pod list; will retry after backoff', { error: result.error.message, attempt, retry_interval_ms: config.pollRetryIntervalMs });
      else log?.debug('Container id not found; will retry after backoff', { attempt, retry_interval_ms: config.pollRetryIntervalMs });
    }
  }

  /** Selectors of the pod holding the container, if one does; two such pods is an error. */
  private match(config: K8sConfig, pods: ReadonlyMap<string, unknown>, podUid: string | undefined, containerId: string, log: Logger | undefined): string[] | undefined {
    const candidates: unknown[] = podUid !== undefined ? (pods.has(podUid) ? [pods.get(podUid)] : []) : [...pods.values()];
    let found: string[] | undefined;
    for (const raw of candidates) {
      let pod;
      try {
        pod = decodePod(raw);
      } catch (err) {
        if (err instanceof PodDecodeError) throw PluginError.unavailable(`unable to decode pod info from kubelet response: ${err.message}`);
        throw err;
      }
      const status = lookUpContainer(containerId, pod);
      let values: string[] | undefined;
      if (status) values = config.disableContainerSelectors ? podSelectors(pod) : [...podSelectors(pod), ...containerSelectors(status)];
      else if (podUid !== undefined && config.disableContainerSelectors) values = podSelectors(pod);
      if (!values) continue;
      if (found) {
        log?.warn('Two pods found with same container Id');
        throw PluginError.internal('two pods found with same container Id');
      }
      found = values;
    }
    return found;
  }

  /** Selector values of a workload reference packed in an `Any`. */
  async attestReference(reference: { type_url: string; value: Uint8Array } | null | undefined, signal?: AbortSignal): Promise<string[]> {
    if (!reference) throw PluginError.invalidArgument('workload reference must be provided');
    const type = messageNameOf(reference.type_url);
    if (type === K8S_OBJECT_REFERENCE_TYPE) {
      throw new PluginError(Status.UNIMPLEMENTED, `${K8S_OBJECT_REFERENCE_TYPE} references are not supported by this k8s attestor (PID references only)`);
    }
    if (type !== PID_REFERENCE_TYPE) throw PluginError.invalidArgument(`unsupported reference type: ${reference.type_url}`);
    let pid: number;
    try {
      pid = decodePidReference(reference.value);
    } catch (err) {
      if (err instanceof DecodeError) throw PluginError.invalidArgument(`unable to unmarshal PID reference: ${err.message}`);
      throw err;
    }
    return this.attest(pid, signal);
  }
}

/** An AbortSignal that fires when the gRPC call is cancelled (when the call object can tell). */
function callSignal(call: unknown): AbortSignal | undefined {
  const c = call as { on?: (ev: string, fn: () => void) => void; cancelled?: boolean } | undefined;
  if (typeof c?.on !== 'function') return undefined;
  const ac = new AbortController();
  if (c.cancelled) ac.abort();
  else c.on('cancelled', () => ac.abort());
  return ac.signal;
}

/**
 * The agent WorkloadAttestor `k8s` (SPIRE's selectors and `plugin_data`
 * keys; see README.md).
 */
export function k8sWorkloadAttestorPlugin(
  opts: K8sWorkloadAttestorOptions = {},
): PluginDefinition<typeof WORKLOAD_ATTESTOR_SERVICE, BuiltConfig<K8sHclConfig>> {
  const attestor = new K8sWorkloadAttestor(opts);
  return {
    service: WORKLOAD_ATTESTOR_SERVICE,
    impl: {
      Attest: async (req, call) => ({ selector_values: await attestor.attest(req.pid, callSignal(call)) }),
      AttestReference: async (req, call) => ({ selector_values: await attestor.attestReference(req.reference, callSignal(call)) }),
    },
    config: schemaConfig(configSchema, {
      check: (value) => void attestor.distil(value),
      apply: ({ value }) => attestor.configure(attestor.distil(value)),
    }),
  };
}
