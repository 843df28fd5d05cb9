import { buildConfig, ConfigError, type Presence, type Schema } from './config/index.js';
import { PluginError } from './errors.js';
import type { ConfigHandler, ConfigureInput } from './serve.js';

/** A built configuration together with what the host sent. */
export interface BuiltConfig<T> {
  value: T;
  trustDomain: string;
}

/**
 * The usual {@link ConfigHandler}: `plugin_data` (HCL or JSON) checked against
 * a schema — unknown keys, wrong types and missing keys are reported with
 * their position — then optional cross-field checks, then `apply`.
 *
 * @example
 * ```ts
 * const config = schemaConfig(s.object({ keys_path: s.string({ required: true }) }), {
 *   apply: ({ value }) => store.open(value.keys_path),
 * });
 * await serve({ service, impl, config });
 * ```
 */
export function schemaConfig<T>(
  schema: Schema<T, Presence>,
  opts: {
    /**
     * Extra checks, run on Validate as on Configure (e.g. that the files the
     * configuration names can be read); throw (a PluginError or any Error),
     * or reject, to refuse the configuration.
     */
    check?: (value: T, input: ConfigureInput) => void | Promise<void>;
    /** Require a non-empty trust domain in the core configuration. */
    requireTrustDomain?: boolean;
    apply: (config: BuiltConfig<T>) => void | Promise<void>;
  },
): ConfigHandler<BuiltConfig<T>> {
  return {
    build(input) {
      if (opts.requireTrustDomain && input.trustDomain === '') {
        throw PluginError.invalidArgument('core configuration is missing the trust domain');
      }
      const res = buildConfig(schema, input.hclConfiguration, { filename: 'plugin_data' });
      if (!res.ok) throw new ConfigError(res.errors);
      const built = { value: res.value, trustDomain: input.trustDomain };
      const checked = opts.check?.(res.value, input);
      return checked instanceof Promise ? checked.then(() => built) : built;
    },
    apply: (cfg) => opts.apply(cfg),
  };
}
