/**
 * The schema builders, exposed as {@link s}.
 *
 * @module
 */

import { bool, duration, enumOf, int, number, string } from './builders-scalar.js';
import { entries, list, map, object, plain, raw } from './builders-composite.js';

/**
 * Schema builders.
 *
 * - `s.string(opts)`: a string (HCL number literals are accepted as their text);
 *   `nonEmpty`, `pattern`.
 * - `s.int(opts)`: an integer; also a string of digits (`bind_port = "8081"`);
 *   `min`, `max`.
 * - `s.number(opts)`: any number (or numeric string); `min`, `max`.
 * - `s.bool(opts)`: a boolean (or a Go `ParseBool` string such as `"true"`).
 * - `s.duration(opts)`: a Go duration string, as milliseconds; `min`, `max`.
 * - `s.enum(values, opts)`: one of the given strings (literal union type).
 * - `s.list(item, opts)`: a list; `minItems`, `maxItems`. For object items,
 *   repeated blocks accumulate into the list.
 * - `s.map(value, opts)`: free-form keys; repeated keys merge when the value
 *   is itself a map or entries (block labels), otherwise they are duplicates.
 * - `s.object(shape, opts)`: known keys; unknown keys are errors (or
 *   `unknownKeys: 'warn' | 'ignore'`), with "did you mean" suggestions.
 * - `s.entries(value, opts)`: like map, but keeps source order, positions and
 *   repeated keys (`unique: true` reports repeats).
 * - `s.raw()`: the `ConfigNode` itself (e.g. `plugin_data`, re-printed
 *   for plugins with `printHCL`).
 * - `s.plain()`: the value as plain JavaScript (`toPlain`).
 *
 * Every schema takes `required`, `deprecated` and (scalars, lists, maps,
 * objects) `default` and `check`.
 *
 * @example
 * ```ts
 * const schema = s.object({
 *   keys_path: s.string({ required: true }),
 *   key_type: s.enum(['ec-p256', 'rsa-2048'], { default: 'ec-p256' }),
 *   max_open_conns: s.int({ min: 0, default: 100 }),
 *   conn_max_lifetime: s.duration(),
 *   admin_ids: s.list(s.string()),
 *   clusters: s.map(s.object({ service_account_allow_list: s.list(s.string(), { default: [] }) })),
 *   enabled: s.bool({ default: false }),
 * });
 * type Config = Infer<typeof schema>;
 * ```
 */
export const s = {
  string,
  int,
  number,
  bool,
  duration,
  enum: enumOf,
  list,
  map,
  object,
  entries,
  raw,
  plain,
} as const;
