/**
 * Configuration blocks spire-server and spire-agent share, in SPIRE's shape:
 * `health_checks { ... }`, `telemetry { ... }` (accepted and checked; metrics
 * are not implemented yet) and the developer feature flags.
 *
 * @module
 */

import { s } from '@spire-ts/plugin-sdk';
import type { Infer } from '@spire-ts/plugin-sdk';
import { checkSpiffeId } from './values.js';

/** Developer feature flags SPIRE knows (`experimental.feature_flags`). */
export const FEATURE_FLAGS = ['i_am_a_test_flag', 'wit-svid'] as const;

const absolutePath = (p: string): string | undefined => (p.startsWith('/') ? undefined : `must start with "/" (got ${JSON.stringify(p)})`);

/** `health_checks { ... }` (no flags, so its defaults apply here). */
export const healthChecksSchema = s.object(
  {
    listener_enabled: s.bool({ default: false }),
    bind_address: s.string({ default: 'localhost' }),
    bind_port: s.int({ min: 0, max: 65535, default: 80 }),
    live_path: s.string({ default: '/live', check: absolutePath }),
    ready_path: s.string({ default: '/ready', check: absolutePath }),
  },
  { fillDefaults: true },
);

const addressList = s.list(s.object({ address: s.string({ required: true, nonEmpty: true }) }));

/** The `health_checks` block with its defaults. */
export type HealthChecksConfig = Infer<typeof healthChecksSchema>;

/** `telemetry { ... }`: accepted and checked, but metrics are not implemented yet. */
export const telemetrySchema = s.object({
  Prometheus: s.object({
    host: s.string(),
    port: s.int({ min: 0, max: 65535 }),
    tls: s.object({
      cert_file: s.string(),
      key_file: s.string(),
      client_ca_file: s.string(),
      use_spire_svid: s.bool(),
      authorized_spiffe_ids: s.list(s.string({ check: checkSpiffeId })),
    }),
  }),
  DogStatsd: addressList,
  Statsd: addressList,
  M3: s.list(s.object({ address: s.string({ required: true, nonEmpty: true }), env: s.string() })),
  InMem: s.object({}),
  MetricPrefix: s.string(),
  EnableTrustDomainLabel: s.bool(),
  EnableHostnameLabel: s.bool(),
  AllowedPrefixes: s.list(s.string()),
  BlockedPrefixes: s.list(s.string()),
  AllowedLabels: s.list(s.string()),
  BlockedLabels: s.list(s.string()),
});
