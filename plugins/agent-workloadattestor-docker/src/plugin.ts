import { join } from 'node:path';
import {
  PluginError,
  Status,
  formatDuration,
  s,
  schemaConfig,
  type BuiltConfig,
  type Logger,
  type PluginDefinition,
} from '@spire-ts/plugin-sdk';
import {
  CgroupParseError,
  ContainerInfoConflictError,
  ContainerInfoExtractor,
  ProcessGoneError,
  defaultProcRoot,
  parseCgroupFile,
  processStartTime,
  readBounded,
  type CgroupLine,
} from '@spire-ts/workloadattestor-kit';
import { EngineAddressError, EngineClient, EngineError, normaliseApiVersion, parseEngineAddress } from './engine.js';
import { CgroupMatchers, MatcherError } from './matchers.js';

export const WORKLOAD_ATTESTOR_SERVICE = 'spire.plugin.agent.workloadattestor.v1.WorkloadAttestor';

export const DEFAULT_DOCKER_SOCKET_PATH = 'unix:///var/run/docker.sock';
export const DEFAULT_PODMAN_SOCKET_PATH = 'unix:///run/podman/podman.sock';
export const DEFAULT_PODMAN_SOCKET_PATH_TEMPLATE = 'unix:///run/user/%d/podman/podman.sock';

const configSchema = s.object({
  docker_socket_path: s.string({ default: DEFAULT_DOCKER_SOCKET_PATH }),
  docker_version: s.string({ default: '' }),
  container_id_cgroup_matchers: s.list(s.string(), { default: [] }),
  use_new_container_locator: s.bool(),
  verbose_container_locator_logs: s.bool({ default: false }),
  podman_socket_path: s.string({ default: DEFAULT_PODMAN_SOCKET_PATH }),
  podman_socket_path_template: s.string({ default: DEFAULT_PODMAN_SOCKET_PATH_TEMPLATE }),
  /** spire-ts: bound on all engine exchanges of one attestation (retries included). */
  engine_timeout: s.duration({ default: '10s', min: '1ms', max: '5m' }),
  /** SPIRE's image signature verification: refused with a clear message. */
  sigstore: s.plain(),
});

/** The `plugin_data` of the `docker` WorkloadAttestor (SPIRE's keys, plus `engine_timeout`). */
export interface DockerConfig {
  docker_socket_path: string;
  docker_version: string;
  container_id_cgroup_matchers: string[];
  use_new_container_locator?: boolean | undefined;
  verbose_container_locator_logs: boolean;
  podman_socket_path: string;
  podman_socket_path_template: string;
  engine_timeout: number;
}

export interface DockerWorkloadAttestorOptions {
  /** procfs root; default `$HOST_PROC` or `/proc`. */
  procRoot?: string;
  log?: Logger;
  /** First retry backoff in ms (doubles each retry); default 100 as SPIRE. */
  initialBackoffMs?: number;
}

const MAX_PID = 2 ** 31 - 1;
const RETRIES = 3;
const MAX_PODMAN_CLIENTS = 64;
const PODMAN_CGROUP = /(?:libpod-|\/libpod\/)/;
const USER_SLICE_UID = /\/user-(\d+)\.slice\//;

/** Checks a podman socket template: exactly one `%d`, and `%%` as the only other use of `%`. */
export function checkPodmanTemplate(template: string): string | undefined {
  let placeholders = 0;
  for (let i = 0; i < template.length; i++) {
    if (template[i] !== '%') continue;
    const next = template[i + 1];
    if (next === undefined) return 'trailing % at end of template';
    if (next === 'd') placeholders++;
    else if (next !== '%') return 'template only supports escaped %% or the %d UID placeholder';
    i++;
  }
  return placeholders === 1 ? undefined : 'template must contain exactly one %d UID placeholder';
}

function fillTemplate(template: string, uid: number): string {
  return template.replace(/%[%d]/g, (m) => (m === '%%' ? '%' : String(uid)));
}

interface State {
  config: DockerConfig;
  docker: EngineClient;
  matchers: CgroupMatchers | undefined;
  extractor: ContainerInfoExtractor;
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The `docker` workload attestor: finds the container of the calling
 * process from its cgroups (or mountinfo), inspects it on the Docker (or
 * Podman) engine and answers its labels, environment and image.
 */
export class DockerWorkloadAttestor {
  private state: State | undefined;
  private readonly procRoot: string;
  private readonly log: Logger | undefined;
  private readonly initialBackoffMs: number;
  private readonly podmanClients = new Map<string, EngineClient>();

  constructor(opts: DockerWorkloadAttestorOptions = {}) {
    this.procRoot = opts.procRoot ?? defaultProcRoot();
    this.log = opts.log;
    this.initialBackoffMs = opts.initialBackoffMs ?? 100;
  }

  /** Validates `config`; returns what {@link apply} installs. Throws INVALID_ARGUMENT. */
  build(config: DockerConfig & { sigstore?: unknown }): State {
    if (config.sigstore !== undefined) {
      throw PluginError.invalidArgument('sigstore: image signature verification is not supported by this docker attestor; remove the sigstore block');
    }
    let pinned: string | undefined;
    if (config.docker_version !== '') {
      pinned = normaliseApiVersion(config.docker_version);
      if (pinned === undefined) throw PluginError.invalidArgument(`docker_version: ${JSON.stringify(config.docker_version)} is not an API version like "1.43"`);
    }
    let docker: EngineClient;
    try {
      docker = new EngineClient(config.docker_socket_path, parseEngineAddress(config.docker_socket_path), pinned);
      parseEngineAddress(config.podman_socket_path);
    } catch (err) {
      if (err instanceof EngineAddressError) throw PluginError.invalidArgument(`invalid engine socket path: ${err.message}`);
      throw err;
    }
    const templateProblem = checkPodmanTemplate(config.podman_socket_path_template);
    if (templateProblem) throw PluginError.invalidArgument(`invalid podman_socket_path_template: ${templateProblem}`);
    try {
      parseEngineAddress(fillTemplate(config.podman_socket_path_template, 1000));
    } catch (err) {
      throw PluginError.invalidArgument(`invalid podman_socket_path_template: ${reason(err)}`);
    }

    const useNew = config.use_new_container_locator ?? true;
    let matchers: CgroupMatchers | undefined;
    if (config.container_id_cgroup_matchers.length > 0) {
      if (useNew) {
        throw PluginError.invalidArgument(
          'the new container locator and custom cgroup matchers cannot both be used; to continue using custom matchers set use_new_container_locator = false',
        );
      }
      try {
        matchers = new CgroupMatchers(config.container_id_cgroup_matchers);
      } catch (err) {
        if (err instanceof MatcherError) throw PluginError.invalidArgument(`container_id_cgroup_matchers: ${err.message}`);
        throw err;
      }
      this.log?.warn('Using the legacy container locator with custom cgroup matchers. This feature will be removed in a future release.');
    }
    const extractor = new ContainerInfoExtractor({
      procRoot: this.procRoot,
      verbose: config.verbose_container_locator_logs,
      ...(this.log ? { log: this.log } : {}),
    });
    return { config: { ...config }, docker, matchers, extractor };
  }

  apply(state: State): void {
    this.state = state;
    this.podmanClients.clear();
  }

  configure(config: DockerConfig): void {
    this.apply(this.build(config));
  }

  /** Selector values (without the `docker:` type) of process `pid`. */
  async attest(pid: number): Promise<string[]> {
    const st = this.state;
    if (!st) throw PluginError.failedPrecondition('not configured');
    if (!Number.isInteger(pid) || pid <= 0 || pid > MAX_PID) {
      throw PluginError.invalidArgument(`pid must be a positive 32-bit integer, got ${pid}`);
    }

    const started = await this.startTime(pid);
    const selectors = await this.attestContainer(st, pid);

    let again: string | undefined;
    try {
      again = await processStartTime(this.procRoot, pid);
    } catch {
      again = undefined;
    }
    if (again !== started) throw PluginError.internal(`process ${pid} exited during attestation`);
    return selectors;
  }

  private async attestContainer(st: State, pid: number): Promise<string[]> {
    let containerId: string | undefined;
    let cgroups: CgroupLine[] | undefined;
    try {
      if (st.matchers) {
        cgroups = await this.cgroups(pid);
        containerId = cgroups === undefined ? undefined : findWithMatchers(st.matchers, cgroups);
      } else {
        containerId = await st.extractor.containerId(pid);
      }
    } catch (err) {
      throw this.locateError(pid, err);
    }
    if (containerId === undefined) return [];

    if (cgroups === undefined) {
      try {
        cgroups = await this.cgroups(pid);
      } catch (err) {
        this.log?.warn('Failed to read cgroups for Podman detection, falling back to Docker client', { pid, error: reason(err) });
      }
    }
    const client = this.clientFor(st, cgroups ?? []);
    const signal = AbortSignal.timeout(st.config.engine_timeout);

    let inspect;
    try {
      inspect = await this.retry(signal, () => client.inspectContainer(containerId, signal));
    } catch (err) {
      throw this.engineError(containerId, err);
    }

    const values: string[] = [];
    for (const key of Object.keys(inspect.config.labels).sort()) values.push(`label:${key}:${inspect.config.labels[key]}`);
    for (const e of inspect.config.env) values.push(`env:${e}`);
    const imageName = inspect.config.image;
    if (imageName !== '') {
      values.push(`image_id:${imageName}`);
      try {
        const id = await client.inspectImageId(imageName, signal);
        if (id !== '') values.push(`image_config_digest:${id}`);
      } catch (err) {
        this.log?.debug('Image inspect failed; image_config_digest selector omitted', { image: imageName, error: reason(err) });
      }
    }
    return values;
  }

  private async cgroups(pid: number): Promise<CgroupLine[] | undefined> {
    let text: string;
    try {
      text = await readBounded(join(this.procRoot, String(pid), 'cgroup'));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      if (code === 'ESRCH') throw new ProcessGoneError(pid);
      throw err;
    }
    return parseCgroupFile(text);
  }

  /** The Docker client, or a Podman one when the cgroups say libpod (rootless: per user). */
  private clientFor(st: State, cgroups: CgroupLine[]): EngineClient {
    for (const cg of cgroups) {
      if (!PODMAN_CGROUP.test(cg.path)) continue;
      let address = st.config.podman_socket_path;
      const m = USER_SLICE_UID.exec(cg.path);
      if (m) {
        const uid = Number(m[1]);
        if (Number.isSafeInteger(uid) && uid <= 0xffffffff) address = fillTemplate(st.config.podman_socket_path_template, uid);
        else this.log?.warn('Failed to parse rootless Podman UID from cgroup path, falling back to rootful Podman socket', { uid: m[1], cgroup_path: cg.path });
      }
      let client = this.podmanClients.get(address);
      if (!client) {
        if (this.podmanClients.size >= MAX_PODMAN_CLIENTS) this.podmanClients.clear();
        client = new EngineClient(address, parseEngineAddress(address), st.config.docker_version === '' ? undefined : normaliseApiVersion(st.config.docker_version));
        this.podmanClients.set(address, client);
      }
      return client;
    }
    return st.docker;
  }

  /** Tries once plus {@link RETRIES} times with doubling backoff, while the failure is transient and time remains. */
  private async retry<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await fn();
      } catch (err) {
        if (i === RETRIES || !(err instanceof EngineError) || !err.transient || signal.aborted) throw err;
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, this.initialBackoffMs * 2 ** i);
          function done() {
            clearTimeout(t);
            signal.removeEventListener('abort', done);
            resolve();
          }
          signal.addEventListener('abort', done, { once: true });
        });
        if (signal.aborted) throw err;
      }
    }
  }

  private async startTime(pid: number): Promise<string> {
    try {
      return await processStartTime(this.procRoot, pid);
    } catch (err) {
      if (err instanceof ProcessGoneError) throw new PluginError(Status.INTERNAL, `failed to get process: process ${pid} does not exist`, { cause: err });
      throw new PluginError(Status.INTERNAL, `failed to get process ${pid}: ${reason(err)}`, { cause: err });
    }
  }

  private locateError(pid: number, err: unknown): PluginError {
    if (err instanceof PluginError) return err;
    if (err instanceof ContainerInfoConflictError) return PluginError.failedPrecondition(err.message);
    if (err instanceof ProcessGoneError) return PluginError.internal(`process ${pid} exited during attestation`, err);
    if (err instanceof CgroupParseError) return PluginError.internal(err.message, err);
    return PluginError.internal(`unable to locate the container of pid ${pid}: ${reason(err)}`, err);
  }

  private engineError(containerId: string, err: unknown): PluginError {
    const what = `unable to inspect container ${containerId}`;
    if (err instanceof EngineError) {
      const code = err.kind === 'unreachable' || err.kind === 'timeout' ? Status.UNAVAILABLE : Status.INTERNAL;
      const hint = err.kind === 'timeout' ? ` (engine_timeout is ${formatDuration(this.state?.config.engine_timeout ?? 0)})` : '';
      return new PluginError(code, `${what}: ${err.message}${hint}`, { cause: err });
    }
    return PluginError.internal(`${what}: ${reason(err)}`, err);
  }
}

/** The legacy locator: one container ID across all matching cgroup lines. */
function findWithMatchers(matchers: CgroupMatchers, cgroups: CgroupLine[]): string | undefined {
  let found: string | undefined;
  for (const cg of cgroups) {
    const id = matchers.find(cg.path);
    if (id === undefined) continue;
    if (id === '') throw PluginError.internal('a container_id_cgroup_matchers pattern matched, but no container id was found');
    if (found !== undefined && found !== id) throw PluginError.failedPrecondition(`multiple container IDs found in cgroups (${found}, ${id})`);
    found = id;
  }
  return found;
}

/**
 * The agent WorkloadAttestor `docker` (SPIRE's selectors and `plugin_data`
 * keys). AttestReference is UNIMPLEMENTED, as in SPIRE: the agent falls back
 * to Attest for PID references.
 */
export function dockerWorkloadAttestorPlugin(
  opts: DockerWorkloadAttestorOptions = {},
): PluginDefinition<typeof WORKLOAD_ATTESTOR_SERVICE, BuiltConfig<State>> {
  const attestor = new DockerWorkloadAttestor(opts);
  const config = schemaConfig(configSchema, { apply: () => undefined });
  return {
    service: WORKLOAD_ATTESTOR_SERVICE,
    impl: {
      Attest: async (req) => ({ selector_values: await attestor.attest(req.pid) }),
      AttestReference: () => Promise.reject(new PluginError(Status.UNIMPLEMENTED, 'AttestReference not implemented')),
    },
    config: {
      async build(input) {
        const built = await config.build(input);
        return { value: attestor.build(built.value), trustDomain: built.trustDomain };
      },
      apply: ({ value }) => attestor.apply(value),
    },
  };
}
