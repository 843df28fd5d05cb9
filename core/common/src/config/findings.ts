/**
 * Helpers shared by the spire-agent and spire-server configuration checks.
 *
 * @module
 */

import type { ConfigIssue, Pos } from '@spire-ts/plugin-sdk';

/**
 * What a side's `validateConfig` found.
 *
 * @example
 * ```ts
 * const { errors, warnings }: ConfigValidation = validateConfig(merged, index);
 * ```
 */
export interface ConfigValidation {
  readonly errors: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
}

/**
 * Collects errors and warnings as they are found.
 *
 * @example
 * ```ts
 * const f = new ConfigFindings();
 * f.add('error', 'agent.data_dir', pos, 'missing required key "data_dir"');
 * ```
 */
export class ConfigFindings implements ConfigValidation {
  readonly errors: ConfigIssue[] = [];
  readonly warnings: ConfigIssue[] = [];

  add(severity: 'error' | 'warning', path: string, pos: Pos | undefined, message: string): void {
    const issue: ConfigIssue = { code: 'invalid', severity, path, message, ...(pos ? { pos } : {}) };
    (severity === 'error' ? this.errors : this.warnings).push(issue);
  }
}

/**
 * Whether a merged value counts as set (Go's zero values do not).
 *
 * @example
 * ```ts
 * isSet(''); // false
 * ```
 */
export function isSet(v: unknown): boolean {
  return v !== undefined && v !== '' && v !== 0 && v !== false;
}
