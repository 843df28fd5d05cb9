import { Status } from '@spire-ts/plugin-sdk';

export type PluginErrorCode =
  | 'ERR_PLUGIN_NOT_FOUND'
  | 'ERR_PLUGIN_NOT_EXECUTABLE'
  | 'ERR_PLUGIN_CHECKSUM'
  | 'ERR_PLUGIN_EXITED'
  | 'ERR_PLUGIN_HANDSHAKE'
  | 'ERR_PLUGIN_TIMEOUT'
  | 'ERR_PLUGIN_INIT'
  | 'ERR_PLUGIN_CONFIGURE'
  | 'ERR_PLUGIN_CONFIG'
  | 'ERR_PLUGIN_UNAVAILABLE';

const MARKER = Symbol.for('@spire-ts/common/PluginHostError');

/**
 * A failure to load, configure or reach a plugin. `code` is stable for
 * programs; `message` names the plugin as SPIRE does (`keymanager(disk): ...`).
 */
export class PluginHostError extends Error {
  readonly code: PluginErrorCode;
  readonly grpcCode: Status;

  constructor(code: PluginErrorCode, message: string, options?: { cause?: unknown; grpcCode?: Status }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PluginHostError';
    this.code = code;
    this.grpcCode = options?.grpcCode ?? (code === 'ERR_PLUGIN_UNAVAILABLE' ? Status.UNAVAILABLE : Status.FAILED_PRECONDITION);
    Object.defineProperty(this, MARKER, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[MARKER] === true;
  }
}

/** SPIRE's prefix for plugin errors: `<lowercase type>(<name>)`. */
export function pluginLabel(type: string, name: string): string {
  return `${type.toLowerCase()}(${name})`;
}
