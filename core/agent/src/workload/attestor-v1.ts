/**
 * The agent's view of a WorkloadAttestor plugin
 * (`spire.plugin.agent.workloadattestor.v1.WorkloadAttestor`), as SPIRE's
 * pkg/agent/plugin/workloadattestor/v1.go: selectors typed with the plugin
 * name; a plugin that only implements `AttestReference` is asked with a
 * `spiffe.broker.WorkloadPIDReference`. Errors are prefixed
 * `workloadattestor(<name>): ` once and keep the plugin's gRPC code.
 */
import { PluginHostError, describe, type ManagedPlugin } from '@spire-ts/common';
import { Status, isServiceError } from '@spire-ts/plugin-sdk';
import type { Selector } from './cache.js';

type Service = 'spire.plugin.agent.workloadattestor.v1.WorkloadAttestor';

/** Anything that turns a pid into selectors. */
export interface WorkloadAttestor {
  /** The plugin name; the type of every selector it returns. */
  readonly name: string;
  attest(pid: number, options?: { deadlineMs?: number }): Promise<Selector[]>;
}

const PID_REFERENCE_TYPE_URL = 'type.googleapis.com/spiffe.broker.WorkloadPIDReference';

/** Protobuf encoding of `spiffe.broker.WorkloadPIDReference { int32 pid = 1; }` for a positive pid. */
function encodePidReference(pid: number): Buffer {
  const bytes = [0x08];
  let v = pid >>> 0;
  while (v >= 0x80) {
    bytes.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

/**
 * @example
 * ```ts
 * const unix = new WorkloadAttestorV1(managedPlugin); // WorkloadAttestor "unix"
 * await unix.attest(pid); // [{ type: 'unix', value: 'uid:1000' }, ...]
 * ```
 */
export class WorkloadAttestorV1 implements WorkloadAttestor {
  readonly name: string;
  readonly #plugin: ManagedPlugin<Service>;

  constructor(plugin: ManagedPlugin<Service>) {
    this.#plugin = plugin;
    this.name = plugin.name;
  }

  async attest(pid: number, options: { deadlineMs?: number } = {}): Promise<Selector[]> {
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid > 0x7fff_ffff) {
      throw this.#fail(Status.INVALID_ARGUMENT, `invalid value for PID: ${String(pid)}`);
    }
    const callOptions = options.deadlineMs !== undefined ? { deadlineMs: options.deadlineMs } : undefined;
    let values: string[];
    try {
      values = (await this.#plugin.call('Attest', { pid }, callOptions)).selector_values;
    } catch (err) {
      if (!(isServiceError(err) && err.code === Status.UNIMPLEMENTED)) throw this.#wrap(err);
      try {
        const reference = { type_url: PID_REFERENCE_TYPE_URL, value: encodePidReference(pid) };
        values = (await this.#plugin.call('AttestReference', { reference }, callOptions)).selector_values;
      } catch (err2) {
        throw this.#wrap(err2);
      }
    }
    return this.#selectors(values);
  }

  #selectors(values: readonly unknown[]): Selector[] {
    return values.map((value) => {
      if (typeof value !== 'string' || value === '') {
        throw this.#fail(Status.INTERNAL, `plugin returned an invalid selector value ${JSON.stringify(value)}`);
      }
      return { type: this.name, value };
    });
  }

  #fail(code: Status, msg: string, cause?: unknown): PluginHostError {
    return new PluginHostError('ERR_PLUGIN_UNAVAILABLE', `${this.#plugin.label}: ${msg}`, { cause, grpcCode: code });
  }

  #wrap(err: unknown): PluginHostError {
    if (err instanceof PluginHostError) return err;
    const code = isServiceError(err) ? (err.code as Status) : Status.INTERNAL;
    return this.#fail(code, `failed to attest: ${describe(err)}`, err);
  }
}
