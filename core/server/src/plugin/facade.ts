import { PluginHostError, describe } from '@spire-ts/common';
import { Status, isServiceError } from '@spire-ts/plugin-sdk';

/**
 * Errors at the plugin facade boundary (SPIRE's facade.go): every message is
 * prefixed once with the plugin's label (`keymanager(disk): `), and the
 * plugin's gRPC code is kept.
 */
export class FacadeErrors {
  constructor(private readonly label: string) {}

  /** A failure the facade itself detects (e.g. a malformed plugin response). */
  fail(code: Status, msg: string, cause?: unknown): PluginHostError {
    return new PluginHostError('ERR_PLUGIN_UNAVAILABLE', `${this.label}: ${msg}`, { cause, grpcCode: code });
  }

  /** A failed plugin call, described as `what: <status>: <details>` (never prefixed twice). */
  wrap(err: unknown, what: string): PluginHostError {
    if (err instanceof PluginHostError) return err;
    const code = isServiceError(err) ? (err.code as Status) : Status.INTERNAL;
    return this.fail(code, `${what}: ${describe(err)}`, err);
  }
}
