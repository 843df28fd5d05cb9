/**
 * Schemas that validate a {@link ConfigNode} tree and produce typed values,
 * collecting every issue with its position. Build them with the `s`
 * helpers (builders.ts); run them with `buildConfig`.
 *
 * @module
 */

import type { ConfigIssue } from './issues.js';
import type { ConfigNode, ObjectEntry, Pos } from './nodes.js';

/**
 * Whether a field may be absent: `'optional'` (value type includes absence),
 * `'required'` (absence is an error) or `'default'` (absence yields the
 * default).
 *
 * @example
 * ```ts
 * const p: Presence = s.string({ required: true }).presence; // 'required'
 * ```
 */
export type Presence = 'optional' | 'required' | 'default';

/**
 * The kinds of schema.
 *
 * @example
 * ```ts
 * s.list(s.string()).kind; // 'list'
 * ```
 */
export type SchemaKind =
  | 'string'
  | 'int'
  | 'number'
  | 'bool'
  | 'duration'
  | 'enum'
  | 'list'
  | 'map'
  | 'object'
  | 'entries'
  | 'raw'
  | 'plain';

/** Marks a value that failed validation (its issues are in the context). */
export const INVALID: unique symbol = Symbol('invalid');

/** The type of {@link INVALID}. */
export type Invalid = typeof INVALID;

/** A key path: object keys and list indexes. */
export type KeyPath = readonly (string | number)[];

/** Where issues are collected while decoding. */
export interface DecodeContext {
  readonly errors: ConfigIssue[];
  readonly notes: ConfigIssue[];
}

/**
 * A schema producing values of type `T`; `P` records whether the field is
 * optional, required or defaulted (it drives the inferred object type).
 * Create schemas with `s`; the members are used by `buildConfig`.
 *
 * @example
 * ```ts
 * const port: Schema<number, 'default'> = s.int({ min: 0, max: 65535, default: 8081 });
 * ```
 */
export interface Schema<T, P extends Presence = Presence> {
  readonly kind: SchemaKind;
  readonly presence: P;
  /** What the schema expects, for "expected X, got Y" messages. */
  readonly expected: string;
  /** Deprecation message: using the key produces a warning note. */
  readonly deprecated: string | undefined;
  /** True for schemas whose values are objects (objects, maps, entries, raw, plain). */
  readonly objectLike: boolean;
  /** A fresh copy of the default value, if any. */
  readonly defaultValue: (() => T) | undefined;
  /** @internal Decodes one node. `keyPos` is where the owning key was written. */
  readonly decode: (node: ConfigNode, path: KeyPath, ctx: DecodeContext, keyPos: Pos | undefined) => T | Invalid;
  /** @internal Decodes a key that occurs several times; absent means "duplicate key" is an error. */
  readonly decodeRepeated: ((entries: readonly ObjectEntry[], path: KeyPath, ctx: DecodeContext) => T | Invalid) | undefined;
}

/**
 * The value type a schema produces.
 *
 * @example
 * ```ts
 * const schema = s.object({ port: s.int({ required: true }) });
 * type Config = Infer<typeof schema>; // { port: number }
 * ```
 */
export type Infer<S> = S extends Schema<infer T, Presence> ? T : never;

/**
 * The fields of an object schema.
 *
 * @example
 * ```ts
 * const shape = { keys_path: s.string({ required: true }) } satisfies Shape;
 * ```
 */
export type Shape = { readonly [key: string]: Schema<unknown, Presence> };

/** Any schema. */
export type AnySchema = Schema<unknown, Presence>;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/**
 * The value type of an object schema: optional fields become optional
 * properties, required and defaulted fields are always present.
 *
 * @example
 * ```ts
 * type T = InferShape<{ a: Schema<string, 'required'>; b: Schema<number, 'optional'> }>;
 * // { a: string; b?: number }
 * ```
 */
export type InferShape<S extends Shape> = Simplify<
  { -readonly [K in keyof S as S[K]['presence'] extends 'optional' ? K : never]?: Infer<S[K]> } & {
    -readonly [K in keyof S as S[K]['presence'] extends 'optional' ? never : K]: Infer<S[K]>;
  }
>;

/**
 * Options every schema accepts. `required` and `default` are mutually
 * exclusive. `check` runs after the built-in validation and returns an error
 * message (or `undefined` when the value is fine).
 *
 * @example
 * ```ts
 * const opts: CommonOptions<string> = { required: true, check: (v) => (v.startsWith('spiffe://') ? undefined : 'must be a SPIFFE ID') };
 * ```
 */
export interface CommonOptions<T> {
  readonly required?: boolean;
  readonly default?: T;
  readonly deprecated?: string;
  readonly check?: (value: T) => string | undefined;
}

/** Options that make a field required (an overload parameter type). */
export type Req<O> = O & { readonly required: true; readonly default?: undefined };

/** Options that give a field a default (an overload parameter type). */
export type Def<O, D> = O & { readonly default: D };

/**
 * Options of `s`.string.
 *
 * @example
 * ```ts
 * s.string({ required: true, nonEmpty: true, pattern: /[a-z0-9.-]+/ });
 * ```
 */
export interface StringOptions extends CommonOptions<string> {
  /** Reject `""`. */
  readonly nonEmpty?: boolean;
  /** The whole value must match. */
  readonly pattern?: RegExp;
}

/**
 * Options of `s`.int and `s`.number (bounds are inclusive).
 *
 * @example
 * ```ts
 * s.int({ min: 0, max: 65535, default: 8081 });
 * ```
 */
export interface NumberOptions extends CommonOptions<number> {
  readonly min?: number;
  readonly max?: number;
}

/**
 * Options of `s`.duration: default and bounds in milliseconds or as
 * duration strings.
 *
 * @example
 * ```ts
 * s.duration({ default: '24h', min: '1m', max: 7 * 24 * 3_600_000 });
 * ```
 */
export interface DurationOptions extends Omit<CommonOptions<number>, 'default'> {
  readonly default?: number | string;
  readonly min?: number | string;
  readonly max?: number | string;
}

/**
 * Options of `s`.list.
 *
 * @example
 * ```ts
 * s.list(s.string(), { minItems: 1, default: ['spiffe://example.org/admin'] });
 * ```
 */
export interface ListOptions<T> extends CommonOptions<T[]> {
  readonly minItems?: number;
  readonly maxItems?: number;
}

/**
 * Options of `s`.object.
 *
 * @example
 * ```ts
 * s.object({ listener_enabled: s.bool({ default: false }) }, { fillDefaults: true, unknownKeys: 'warn' });
 * ```
 */
export interface ObjectOptions<T> {
  readonly required?: boolean;
  /** When the key is absent, decode it as `{}` so that field defaults apply. */
  readonly fillDefaults?: boolean;
  /** What to do with keys the shape does not define (default `'error'`). */
  readonly unknownKeys?: 'error' | 'warn' | 'ignore';
  readonly deprecated?: string;
  readonly check?: (value: T) => string | undefined;
}

/**
 * Options of `s`.entries.
 *
 * @example
 * ```ts
 * s.entries(pluginSchema, { unique: true, required: true });
 * ```
 */
export interface EntriesOptions {
  readonly required?: boolean;
  /** Report a key that occurs more than once (across repeated blocks too). */
  readonly unique?: boolean;
  readonly deprecated?: string;
}

/**
 * Options of `s`.raw and `s`.plain.
 *
 * @example
 * ```ts
 * s.raw({ deprecated: 'use plugin_data instead' });
 * ```
 */
export interface AnyOptions {
  readonly required?: boolean;
  readonly deprecated?: string;
}

/**
 * One entry produced by `s`.entries: a key with its position and value,
 * in source order.
 *
 * @example
 * ```ts
 * const e: ConfigEntry<string> = { key: 'a', pos: node.entries[0]!.keyPos, value: 'x' };
 * ```
 */
export interface ConfigEntry<T> {
  readonly key: string;
  readonly pos: Pos;
  readonly value: T;
}
