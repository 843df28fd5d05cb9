import {
  PluginError,
  Status,
  s,
  schemaConfig,
  type BuiltConfig,
  type Logger,
  type PluginDefinition,
} from '@spire-ts/plugin-sdk';
import { SizeLimitError, sha256File } from './digest.js';
import { IdNameFile } from './names.js';
import { ProcReader, effective, type ProcStatFile, type ProcStatus } from './proc.js';
import { DecodeError, PID_REFERENCE_TYPE, decodePidReference, messageNameOf } from './reference.js';

export const WORKLOAD_ATTESTOR_SERVICE = 'spire.plugin.agent.workloadattestor.v1.WorkloadAttestor';

const configSchema = s.object({
  discover_workload_path: s.bool({ default: false }),
  workload_size_limit: s.int({ default: 0 }),
});

/** The `plugin_data` of the `unix` WorkloadAttestor (SPIRE's keys). */
export interface UnixConfig {
  /** Add `path` and `sha256` selectors from the workload's binary. */
  discover_workload_path: boolean;
  /** Largest binary to hash, in bytes: 0 = no limit, negative = never hash. */
  workload_size_limit: number;
}

/** Options of {@link unixWorkloadAttestorPlugin} (for tests; the binary passes none). */
export interface UnixWorkloadAttestorOptions {
  /** procfs root; default `$HOST_PROC` or `/proc` (as SPIRE). */
  procRoot?: string;
  /** Default `/etc/passwd`. */
  passwdFile?: string;
  /** Default `/etc/group`. */
  groupFile?: string;
  /** How long a check that the account files are unchanged stands (default 1000 ms: an edit shows within it). */
  accountRecheckMs?: number;
  log?: Logger;
}

const MAX_PID = 2 ** 31 - 1;

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The `unix` workload attestor: selectors from the calling process's
 * effective uid and gid, their names, its supplementary groups and, with
 * `discover_workload_path`, its binary's path and SHA-256.
 */
export class UnixWorkloadAttestor {
  private config: UnixConfig | undefined;
  private readonly proc: ProcReader;
  private readonly users: IdNameFile;
  private readonly groups: IdNameFile;

  constructor(opts: UnixWorkloadAttestorOptions = {}) {
    const warned = new Set<string>();
    const onError = (path: string, err: NodeJS.ErrnoException) => {
      if (warned.has(path)) return;
      warned.add(path);
      opts.log?.warn('cannot read account database; name selectors omitted', { path, error: err.message });
    };
    this.proc = new ProcReader(opts.procRoot ?? (process.env.HOST_PROC || '/proc'));
    this.users = new IdNameFile(opts.passwdFile ?? '/etc/passwd', onError, opts.accountRecheckMs);
    this.groups = new IdNameFile(opts.groupFile ?? '/etc/group', onError, opts.accountRecheckMs);
  }

  configure(config: UnixConfig): void {
    this.config = { ...config };
  }

  /** Selector values (without the `unix:` type) of process `pid`. */
  async attest(pid: number): Promise<string[]> {
    const config = this.config;
    if (!config) throw PluginError.failedPrecondition('not configured');
    if (!Number.isInteger(pid) || pid <= 0 || pid > MAX_PID) {
      throw PluginError.invalidArgument(`pid must be a positive 32-bit integer, got ${pid}`);
    }

    // The start time names this process across pid reuse: read before and after
    // everything else through one open stat file (bound to the process it was
    // opened for), it proves every file read was this process's.
    let stat: ProcStatFile;
    let started: string;
    try {
      stat = this.proc.openStat(pid);
    } catch (err) {
      throw this.procError(pid, err, 'failed to get process');
    }
    try {
      started = stat.startTime();
    } catch (err) {
      stat.close();
      throw this.procError(pid, err, 'failed to get process');
    }
    try {
      return await this.attestProcess(pid, config, started, stat);
    } finally {
      stat.close();
    }
  }

  private async attestProcess(pid: number, config: UnixConfig, started: string, stat: ProcStatFile): Promise<string[]> {
    let status: ProcStatus;
    try {
      status = await this.proc.status(pid);
    } catch (err) {
      throw this.procError(pid, err, 'failed to read process status');
    }

    const values: string[] = [];
    const uid = effective(status.uids);
    values.push(`uid:${uid}`);
    const user = await this.users.lookup(uid);
    if (user !== undefined) values.push(`user:${user}`);

    const gid = effective(status.gids);
    values.push(`gid:${gid}`);
    const groupNames = await this.groups.names();
    const group = groupNames.get(gid);
    if (group !== undefined) values.push(`group:${group}`);

    for (const sgid of status.groups) {
      values.push(`supplementary_gid:${sgid}`);
      const name = groupNames.get(sgid);
      if (name !== undefined) values.push(`supplementary_group:${name}`);
    }

    if (config.discover_workload_path) {
      let path: string;
      try {
        path = await this.proc.exe(pid);
      } catch (err) {
        throw this.procError(pid, err, 'path lookup');
      }
      values.push(`path:${path}`);

      if (config.workload_size_limit >= 0) {
        // Hash through /proc/<pid>/exe, not `path`: it opens the very file
        // the process runs, whatever its mount namespace and even if deleted.
        try {
          values.push(`sha256:${await sha256File(this.proc.path(pid, 'exe'), config.workload_size_limit)}`);
        } catch (err) {
          if (err instanceof SizeLimitError) {
            throw PluginError.internal(
              `SHA256 digest: workload binary ${JSON.stringify(path)} of pid ${pid} is ${err.message} (workload_size_limit = ${config.workload_size_limit})`,
            );
          }
          throw this.procError(pid, err, 'SHA256 digest');
        }
      }
    }

    let again: string | undefined;
    try {
      again = stat.startTime();
    } catch {
      again = undefined;
    }
    if (again !== started) throw PluginError.internal(`process ${pid} exited during attestation`);
    return values;
  }

  /** Selector values of a workload reference packed in an `Any`. */
  async attestReference(reference: { type_url: string; value: Uint8Array } | null | undefined): Promise<string[]> {
    if (!reference) throw PluginError.invalidArgument('reference is required');
    if (messageNameOf(reference.type_url) !== PID_REFERENCE_TYPE) {
      throw PluginError.invalidArgument(`unsupported reference type ${JSON.stringify(reference.type_url)}`);
    }
    let pid: number;
    try {
      pid = decodePidReference(reference.value);
    } catch (err) {
      if (err instanceof DecodeError) throw PluginError.invalidArgument(`malformed ${PID_REFERENCE_TYPE}: ${err.message}`);
      throw err;
    }
    return this.attest(pid);
  }

  private procError(pid: number, err: unknown, what: string): PluginError {
    if (err instanceof PluginError) return err;
    if (errno(err) === 'ENOENT' || errno(err) === 'ESRCH') {
      return new PluginError(Status.INTERNAL, `${what}: process ${pid} does not exist`, { cause: err });
    }
    return new PluginError(Status.INTERNAL, `${what}: pid ${pid}: ${reason(err)}`, { cause: err });
  }
}

/**
 * The agent WorkloadAttestor `unix` (SPIRE's selectors and `plugin_data`
 * keys: `discover_workload_path`, `workload_size_limit`).
 */
export function unixWorkloadAttestorPlugin(
  opts: UnixWorkloadAttestorOptions = {},
): PluginDefinition<typeof WORKLOAD_ATTESTOR_SERVICE, BuiltConfig<UnixConfig>> {
  const attestor = new UnixWorkloadAttestor(opts);
  return {
    service: WORKLOAD_ATTESTOR_SERVICE,
    impl: {
      Attest: async (req) => ({ selector_values: await attestor.attest(req.pid) }),
      AttestReference: async (req) => ({ selector_values: await attestor.attestReference(req.reference) }),
    },
    config: schemaConfig(configSchema, { apply: ({ value }) => attestor.configure(value) }),
  };
}
