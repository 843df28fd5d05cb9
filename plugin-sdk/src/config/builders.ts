/**
 * The schema builders, exposed as {@link s}.
 *
 * @module
 */

import { closest, decodeGroup, firstSeen, formatPath, groupEntries, inWhere, objectEntries, report, typeError, valueIssue } from './decode.js';
import { formatDuration, parseDuration } from './duration.js';
import { quoteShort } from './lexer.js';
import { defineKey, toPlain } from './nodes.js';
import type { ConfigNode, ObjectEntry, PlainValue, Pos } from './nodes.js';
import { INVALID } from './schema.js';
import type {
  AnyOptions,
  AnySchema,
  CommonOptions,
  ConfigEntry,
  DecodeContext,
  Def,
  DurationOptions,
  EntriesOptions,
  Infer,
  InferShape,
  Invalid,
  KeyPath,
  ListOptions,
  NumberOptions,
  ObjectOptions,
  Presence,
  Req,
  Schema,
  SchemaKind,
  Shape,
  StringOptions,
} from './schema.js';

interface Base<T> {
  readonly kind: SchemaKind;
  readonly expected: string;
  readonly required?: boolean | undefined;
  readonly defaultValue?: (() => T) | undefined;
  readonly deprecated?: string | undefined;
  readonly objectLike?: boolean;
  readonly check?: ((value: T) => string | undefined) | undefined;
  readonly decode: (node: ConfigNode, path: KeyPath, ctx: DecodeContext, keyPos: Pos | undefined) => T | Invalid;
  readonly decodeRepeated?: (entries: readonly ObjectEntry[], path: KeyPath, ctx: DecodeContext) => T | Invalid;
}

function make<T, P extends Presence>(base: Base<T>): Schema<T, P> {
  if (base.required && base.defaultValue) throw new TypeError(`a ${base.kind} schema cannot be both required and have a default`);
  const presence = (base.defaultValue ? 'default' : base.required ? 'required' : 'optional') as P;
  const check = base.check;
  const decode = check
    ? (node: ConfigNode, path: KeyPath, ctx: DecodeContext, keyPos: Pos | undefined): T | Invalid => {
        const v = base.decode(node, path, ctx, keyPos);
        if (v === INVALID) return v;
        const msg = check(v);
        return msg === undefined ? v : valueIssue(ctx, 'invalid', path, node.pos, msg);
      }
    : base.decode;
  const repeated = base.decodeRepeated;
  const decodeRepeated =
    repeated && check
      ? (entries: readonly ObjectEntry[], path: KeyPath, ctx: DecodeContext): T | Invalid => {
          const v = repeated(entries, path, ctx);
          if (v === INVALID) return v;
          const msg = check(v);
          return msg === undefined ? v : valueIssue(ctx, 'invalid', path, entries[0]!.value.pos, msg);
        }
      : repeated;
  return {
    kind: base.kind,
    presence,
    expected: base.expected,
    deprecated: base.deprecated,
    objectLike: base.objectLike ?? false,
    defaultValue: base.defaultValue,
    decode,
    decodeRepeated,
  };
}

function constant<T>(value: T | undefined): (() => T) | undefined {
  return value === undefined ? undefined : () => structuredClone(value);
}

function rangeText(min: number | undefined, max: number | undefined, fmt: (n: number) => string): string {
  if (min !== undefined && max !== undefined) return `must be between ${fmt(min)} and ${fmt(max)}`;
  return min !== undefined ? `must be >= ${fmt(min)}` : `must be <= ${fmt(max ?? 0)}`;
}

function outOfRange(v: number, min: number | undefined, max: number | undefined): boolean {
  return (min !== undefined && v < min) || (max !== undefined && v > max);
}

function stringValue(node: ConfigNode): string | undefined {
  if (node.kind === 'string') return node.value;
  if (node.kind === 'number') return node.raw; // HCL v1 decodes number literals into strings
  return undefined;
}

/**
 * A string (HCL number literals are accepted as their source text).
 *
 * @example
 * ```ts
 * s.string({ required: true }); // Schema<string, 'required'>
 * ```
 */
function string(opts: Req<StringOptions>): Schema<string, 'required'>;
function string(opts: Def<StringOptions, string>): Schema<string, 'default'>;
function string(opts?: StringOptions): Schema<string, 'optional'>;
function string(o: StringOptions = {}): Schema<string, Presence> {
  return make({
    kind: 'string',
    expected: 'string',
    required: o.required,
    defaultValue: constant(o.default),
    deprecated: o.deprecated,
    check: o.check,
    decode: (node, path, ctx) => {
      const v = stringValue(node);
      if (v === undefined) return typeError(ctx, path, node, 'string');
      if (o.nonEmpty && v === '') return valueIssue(ctx, 'invalid', path, node.pos, 'must not be empty');
      if (o.pattern && !new RegExp(`^(?:${o.pattern.source})$`, o.pattern.flags.replace(/[gy]/g, '')).test(v)) {
        return valueIssue(ctx, 'invalid', path, node.pos, `invalid value ${quoteShort(v)} (must match /${o.pattern.source}/)`);
      }
      return v;
    },
  });
}

const INT_STRING = /^[+-]?\d+$/;
const NUMBER_STRING = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function numeric(kind: 'int' | 'number', o: NumberOptions): Schema<number, Presence> {
  const expected = kind === 'int' ? 'integer' : 'number';
  return make({
    kind,
    expected,
    required: o.required,
    defaultValue: constant(o.default),
    deprecated: o.deprecated,
    check: o.check,
    decode: (node, path, ctx) => {
      let v: number;
      if (node.kind === 'number') v = node.value;
      else if (node.kind === 'string' && (kind === 'int' ? INT_STRING : NUMBER_STRING).test(node.value)) v = Number(node.value);
      else return typeError(ctx, path, node, expected);
      if (kind === 'int' && !Number.isInteger(v)) return typeError(ctx, path, node, expected);
      const shown = node.kind === 'number' ? node.raw : node.value;
      if (kind === 'int' && !Number.isSafeInteger(v)) {
        return valueIssue(ctx, 'range', path, node.pos, `value ${shown} is out of range (too large for an integer)`);
      }
      if (outOfRange(v, o.min, o.max)) {
        return valueIssue(ctx, 'range', path, node.pos, `value ${shown} is out of range (${rangeText(o.min, o.max, String)})`);
      }
      return v;
    },
  });
}

/**
 * An integer; a string of decimal digits is accepted too (`bind_port = "8081"`).
 *
 * @example
 * ```ts
 * s.int({ min: 0, max: 65535, default: 8081 }); // Schema<number, 'default'>
 * ```
 */
function int(opts: Req<NumberOptions>): Schema<number, 'required'>;
function int(opts: Def<NumberOptions, number>): Schema<number, 'default'>;
function int(opts?: NumberOptions): Schema<number, 'optional'>;
function int(opts: NumberOptions = {}): Schema<number, Presence> {
  return numeric('int', opts);
}

/**
 * Any finite number (or numeric string).
 *
 * @example
 * ```ts
 * s.number({ min: 0, max: 1 });
 * ```
 */
function number(opts: Req<NumberOptions>): Schema<number, 'required'>;
function number(opts: Def<NumberOptions, number>): Schema<number, 'default'>;
function number(opts?: NumberOptions): Schema<number, 'optional'>;
function number(opts: NumberOptions = {}): Schema<number, Presence> {
  return numeric('number', opts);
}

const BOOL_STRINGS: ReadonlyMap<string, boolean> = new Map([
  ...['1', 't', 'T', 'TRUE', 'true', 'True'].map((k): [string, boolean] => [k, true]),
  ...['0', 'f', 'F', 'FALSE', 'false', 'False'].map((k): [string, boolean] => [k, false]),
]);

/**
 * A boolean; Go `strconv.ParseBool` strings (`"true"`, `"0"`, ...) are accepted too.
 *
 * @example
 * ```ts
 * s.bool({ default: false });
 * ```
 */
function bool(opts: Req<CommonOptions<boolean>>): Schema<boolean, 'required'>;
function bool(opts: Def<CommonOptions<boolean>, boolean>): Schema<boolean, 'default'>;
function bool(opts?: CommonOptions<boolean>): Schema<boolean, 'optional'>;
function bool(o: CommonOptions<boolean> = {}): Schema<boolean, Presence> {
  return make({
    kind: 'bool',
    expected: 'boolean',
    required: o.required,
    defaultValue: constant(o.default),
    deprecated: o.deprecated,
    check: o.check,
    decode: (node, path, ctx) => {
      if (node.kind === 'bool') return node.value;
      // HCL v1 decodes strings into bools with Go's strconv.ParseBool.
      const v = node.kind === 'string' ? BOOL_STRINGS.get(node.value) : undefined;
      return v ?? typeError(ctx, path, node, 'boolean');
    },
  });
}

function toMs(v: number | string | undefined, what: string): number | undefined {
  if (typeof v !== 'string') return v;
  try {
    return parseDuration(v);
  } catch (err) {
    throw new TypeError(`bad duration ${what}: ${(err as Error).message}`);
  }
}

/**
 * A Go duration string (`"1h30m"`), decoded to milliseconds.
 *
 * @example
 * ```ts
 * s.duration({ default: '24h' }); // "1h" -> 3_600_000
 * ```
 */
function duration(opts: Req<DurationOptions>): Schema<number, 'required'>;
function duration(opts: Def<DurationOptions, number | string>): Schema<number, 'default'>;
function duration(opts?: DurationOptions): Schema<number, 'optional'>;
function duration(o: DurationOptions = {}): Schema<number, Presence> {
  const min = toMs(o.min, 'minimum');
  const max = toMs(o.max, 'maximum');
  const expected = 'duration string (like "1h30m")';
  return make({
    kind: 'duration',
    expected,
    required: o.required,
    defaultValue: constant(toMs(o.default, 'default')),
    deprecated: o.deprecated,
    check: o.check,
    decode: (node, path, ctx) => {
      if (node.kind !== 'string') return typeError(ctx, path, node, expected);
      let ms: number;
      try {
        ms = parseDuration(node.value);
      } catch (err) {
        return valueIssue(ctx, 'duration', path, node.pos, (err as Error).message);
      }
      if (outOfRange(ms, min, max)) {
        return valueIssue(ctx, 'range', path, node.pos, `duration ${quoteShort(node.value)} is out of range (${rangeText(min, max, formatDuration)})`);
      }
      return ms;
    },
  });
}

/**
 * One of the given strings; the value type is their literal union.
 *
 * @example
 * ```ts
 * s.enum(['ec-p256', 'rsa-2048'], { default: 'ec-p256' }); // Schema<'ec-p256' | 'rsa-2048', 'default'>
 * ```
 */
function enumOf<const V extends readonly [string, ...string[]]>(values: V, opts: Req<CommonOptions<V[number]>>): Schema<V[number], 'required'>;
function enumOf<const V extends readonly [string, ...string[]]>(values: V, opts: Def<CommonOptions<V[number]>, V[number]>): Schema<V[number], 'default'>;
function enumOf<const V extends readonly [string, ...string[]]>(values: V, opts?: CommonOptions<V[number]>): Schema<V[number], 'optional'>;
function enumOf<const V extends readonly [string, ...string[]]>(values: V, o: CommonOptions<V[number]> = {}): Schema<V[number], Presence> {
  const allowed: ReadonlySet<string> = new Set(values);
  const list = values.map((v) => JSON.stringify(v)).join(', ');
  if (o.default !== undefined && !allowed.has(o.default)) throw new TypeError(`enum default ${JSON.stringify(o.default)} is not one of ${list}`);
  const isMember = (v: string): v is V[number] => allowed.has(v);
  return make({
    kind: 'enum',
    expected: `one of ${list}`,
    required: o.required,
    defaultValue: constant(o.default),
    deprecated: o.deprecated,
    check: o.check,
    decode: (node, path, ctx) => {
      const v = stringValue(node);
      if (v === undefined) return typeError(ctx, path, node, `one of ${list}`);
      if (isMember(v)) return v;
      const near = closest(v, values);
      const hint = near ? ` (did you mean ${JSON.stringify(near)}?)` : '';
      return valueIssue(ctx, 'enum', path, node.pos, `invalid value ${quoteShort(v)}, expected one of ${list}${hint}`);
    },
  });
}

/**
 * A list; for object items, repeated blocks (and a single block) make up the list.
 *
 * @example
 * ```ts
 * s.list(s.string(), { default: [] }); // Schema<string[], 'default'>
 * ```
 */
function list<I extends AnySchema>(item: I, opts: Req<ListOptions<Infer<I>>>): Schema<Infer<I>[], 'required'>;
function list<I extends AnySchema>(item: I, opts: Def<ListOptions<Infer<I>>, Infer<I>[]>): Schema<Infer<I>[], 'default'>;
function list<I extends AnySchema>(item: I, opts?: ListOptions<Infer<I>>): Schema<Infer<I>[], 'optional'>;
function list<I extends AnySchema>(item: I, o: ListOptions<Infer<I>> = {}): Schema<Infer<I>[], Presence> {
  type T = Infer<I>;
  /** Decodes items; each comes with the position of the key that wrote it, if any (repeated blocks). */
  const decodeItems = (items: readonly (readonly [ConfigNode, Pos | undefined])[], pos: Pos, path: KeyPath, ctx: DecodeContext): T[] | Invalid => {
    const out: T[] = [];
    let ok = true;
    items.forEach(([n, keyPos], i) => {
      const v = item.decode(n, [...path, i], ctx, keyPos);
      if (v === INVALID) ok = false;
      else out.push(v as T);
    });
    if (!ok) return INVALID;
    if (outOfRange(out.length, o.minItems, o.maxItems)) {
      const bound = rangeText(o.minItems, o.maxItems, String);
      return valueIssue(ctx, 'range', path, pos, `list has ${out.length} item${out.length === 1 ? '' : 's'} (${bound} items)`);
    }
    return out;
  };
  return make({
    kind: 'list',
    expected: 'list',
    required: o.required,
    defaultValue: constant(o.default),
    deprecated: o.deprecated,
    check: o.check,
    decode: (node, path, ctx, keyPos) => {
      if (node.kind === 'list') return decodeItems(node.items.map((n) => [n, undefined] as const), node.pos, path, ctx);
      // A single block for a list of objects is a one-item list.
      if (node.kind === 'object' && item.objectLike) return decodeItems([[node, keyPos]], node.pos, path, ctx);
      return typeError(ctx, path, node, 'list');
    },
    // Repeated blocks accumulate into a list of objects.
    decodeRepeated: item.objectLike
      ? (entries, path, ctx) =>
          decodeItems(
            entries.flatMap((e): (readonly [ConfigNode, Pos | undefined])[] =>
              e.value.kind === 'list' ? e.value.items.map((n) => [n, undefined] as const) : [[e.value, e.keyPos]],
            ),
            entries[0]!.value.pos,
            path,
            ctx,
          )
      : undefined,
  });
}

/**
 * An object with free-form keys. Repeated keys merge when the value schema is a
 * map or entries (block labels continue below), otherwise they are duplicates.
 *
 * @example
 * ```ts
 * s.map(s.object({ service_account_allow_list: s.list(s.string()) })); // clusters "demo" { ... }
 * ```
 */
function map<V extends AnySchema>(value: V, opts: Req<CommonOptions<Record<string, Infer<V>>>>): Schema<Record<string, Infer<V>>, 'required'>;
function map<V extends AnySchema>(
  value: V,
  opts: Def<CommonOptions<Record<string, Infer<V>>>, Record<string, Infer<V>>>,
): Schema<Record<string, Infer<V>>, 'default'>;
function map<V extends AnySchema>(value: V, opts?: CommonOptions<Record<string, Infer<V>>>): Schema<Record<string, Infer<V>>, 'optional'>;
function map<V extends AnySchema>(value: V, o: CommonOptions<Record<string, Infer<V>>> = {}): Schema<Record<string, Infer<V>>, Presence> {
  type T = Infer<V>;
  const decodeEntries = (entries: readonly ObjectEntry[], path: KeyPath, ctx: DecodeContext): Record<string, T> | Invalid => {
    const out: Record<string, T> = {};
    let ok = true;
    for (const [key, group] of groupEntries(entries)) {
      const v = decodeGroup(value, group, [...path, key], ctx);
      if (v === INVALID) ok = false;
      else defineKey(out, key, v as T);
    }
    return ok ? out : INVALID;
  };
  return make({
    kind: 'map',
    expected: 'object',
    objectLike: true,
    required: o.required,
    defaultValue: constant(o.default),
    deprecated: o.deprecated,
    check: o.check,
    decode: (node, path, ctx) => {
      const entries = objectEntries(node, path, ctx);
      return entries === INVALID ? INVALID : decodeEntries(entries, path, ctx);
    },
    // Repeated keys merge (`KeyManager "a" {}` + `KeyManager "b" {}`).
    decodeRepeated: (group, path, ctx) => mergeRepeated(group, path, ctx, decodeEntries),
  });
}

/** Decodes repeated object-valued keys as one merged object (all errors reported). */
function mergeRepeated<T>(
  group: readonly ObjectEntry[],
  path: KeyPath,
  ctx: DecodeContext,
  decodeAll: (all: readonly ObjectEntry[], path: KeyPath, ctx: DecodeContext) => T | Invalid,
): T | Invalid {
  const all: ObjectEntry[] = [];
  let ok = true;
  for (const e of group) {
    const es = objectEntries(e.value, path, ctx);
    if (es === INVALID) ok = false;
    else all.push(...es);
  }
  const out = decodeAll(all, path, ctx);
  return ok ? out : INVALID;
}

/**
 * Like map, but an ordered list of `{ key, pos, value }` that keeps repeated keys
 * (unless `unique`).
 *
 * @example
 * ```ts
 * s.map(s.entries(pluginSchema, { unique: true })); // plugins { KeyManager "disk" {...} ... }
 * ```
 */
function entries<V extends AnySchema>(value: V, opts: EntriesOptions & { readonly required: true }): Schema<ConfigEntry<Infer<V>>[], 'required'>;
function entries<V extends AnySchema>(value: V, opts?: EntriesOptions): Schema<ConfigEntry<Infer<V>>[], 'optional'>;
function entries<V extends AnySchema>(value: V, o: EntriesOptions = {}): Schema<ConfigEntry<Infer<V>>[], Presence> {
  type T = Infer<V>;
  const decodeAll = (all: readonly ObjectEntry[], path: KeyPath, ctx: DecodeContext): ConfigEntry<T>[] | Invalid => {
    const out: ConfigEntry<T>[] = [];
    const seen = new Map<string, Pos>();
    let ok = true;
    for (const e of all) {
      const childPath = [...path, e.key];
      const first = seen.get(e.key);
      if (o.unique && first) {
        report(ctx, 'duplicate', childPath, e.keyPos, `duplicate key ${JSON.stringify(e.key)}${inWhere(path)} (first defined at ${firstSeen(first)})`);
        ok = false;
        continue;
      }
      seen.set(e.key, e.keyPos);
      if (value.deprecated !== undefined) {
        report(ctx, 'deprecated', childPath, e.keyPos, `${formatPath(childPath)} is deprecated: ${value.deprecated}`, 'warning');
      }
      const v = value.decode(e.value, childPath, ctx, e.keyPos);
      if (v === INVALID) ok = false;
      else out.push({ key: e.key, pos: e.keyPos, value: v as T });
    }
    return ok ? out : INVALID;
  };
  return make({
    kind: 'entries',
    expected: 'object',
    objectLike: true,
    required: o.required,
    deprecated: o.deprecated,
    decode: (node, path, ctx) => {
      const all = objectEntries(node, path, ctx);
      return all === INVALID ? INVALID : decodeAll(all, path, ctx);
    },
    decodeRepeated: (group, path, ctx) => mergeRepeated(group, path, ctx, decodeAll),
  });
}

/**
 * An object with known keys; the value type is inferred from the shape.
 *
 * @example
 * ```ts
 * s.object({ keys_path: s.string({ required: true }) }, { required: true });
 * ```
 */
function object<const S extends Shape>(shape: S, opts: ObjectOptions<InferShape<S>> & { readonly required: true }): Schema<InferShape<S>, 'required'>;
function object<const S extends Shape>(shape: S, opts: ObjectOptions<InferShape<S>> & { readonly fillDefaults: true }): Schema<InferShape<S>, 'default'>;
function object<const S extends Shape>(shape: S, opts?: ObjectOptions<InferShape<S>>): Schema<InferShape<S>, 'optional'>;
function object<const S extends Shape>(shape: S, o: ObjectOptions<InferShape<S>> = {}): Schema<InferShape<S>, Presence> {
  type T = InferShape<S>;
  const unknownKeys = o.unknownKeys ?? 'error';
  const known = Object.keys(shape);
  const decodeEntries = (all: readonly ObjectEntry[], at: Pos, path: KeyPath, ctx: DecodeContext): T | Invalid => {
    const out: Record<string, unknown> = {};
    let ok = true;
    const groups = groupEntries(all);
    for (const [key, group] of groups) {
      const field = Object.hasOwn(shape, key) ? shape[key] : undefined;
      if (!field) {
        if (unknownKeys === 'ignore') continue;
        const near = closest(key, known);
        const hint = near ? ` (did you mean ${JSON.stringify(near)}?)` : '';
        for (const e of group) {
          report(ctx, 'unknown_key', [...path, key], e.keyPos, `unknown key ${JSON.stringify(key)}${inWhere(path)}${hint}`, unknownKeys === 'warn' ? 'warning' : 'error');
        }
        if (unknownKeys === 'error') ok = false;
        continue;
      }
      const v = decodeGroup(field, group, [...path, key], ctx);
      if (v === INVALID) ok = false;
      else defineKey(out, key, v);
    }
    for (const key of known) {
      if (groups.has(key)) continue;
      const field = shape[key]!;
      if (field.presence === 'required') {
        report(ctx, 'missing', [...path, key], at, `missing required key ${JSON.stringify(key)}${inWhere(path)}`);
        ok = false;
      } else if (field.defaultValue) {
        defineKey(out, key, field.defaultValue());
      }
    }
    return ok ? (out as T) : INVALID;
  };
  const decode = (node: ConfigNode, path: KeyPath, ctx: DecodeContext, keyPos: Pos | undefined): T | Invalid => {
    const all = objectEntries(node, path, ctx);
    return all === INVALID ? INVALID : decodeEntries(all, keyPos ?? node.pos, path, ctx);
  };
  const fill = o.fillDefaults
    ? (): T => {
        const ctx: DecodeContext = { errors: [], notes: [] };
        const v = decodeEntries([], { filename: '', line: 0, column: 0, offset: 0 }, [], ctx);
        if (v === INVALID) throw new TypeError(`fillDefaults: ${ctx.errors[0]?.message ?? 'object has required fields'}`);
        return v;
      }
    : undefined;
  if (fill) fill(); // fail fast when the shape has required fields
  return make({
    kind: 'object',
    expected: 'object',
    objectLike: true,
    required: o.required,
    defaultValue: fill,
    deprecated: o.deprecated,
    check: o.check,
    decode,
  });
}

/**
 * Any value, kept as its {@link ConfigNode} (e.g. `plugin_data`, to re-print with `printHCL`).
 *
 * @example
 * ```ts
 * s.object({ plugin_data: s.raw() });
 * ```
 */
function raw(opts: AnyOptions & { readonly required: true }): Schema<ConfigNode, 'required'>;
function raw(opts?: AnyOptions): Schema<ConfigNode, 'optional'>;
function raw(o: AnyOptions = {}): Schema<ConfigNode, Presence> {
  return make({ kind: 'raw', expected: 'any value', objectLike: true, required: o.required, deprecated: o.deprecated, decode: (node) => node });
}

/**
 * Any value, as plain JavaScript ({@link toPlain}).
 *
 * @example
 * ```ts
 * s.object({ labels: s.plain() });
 * ```
 */
function plain(opts: AnyOptions & { readonly required: true }): Schema<PlainValue, 'required'>;
function plain(opts?: AnyOptions): Schema<PlainValue, 'optional'>;
function plain(o: AnyOptions = {}): Schema<PlainValue, Presence> {
  return make({
    kind: 'plain',
    expected: 'any value',
    objectLike: true,
    required: o.required,
    deprecated: o.deprecated,
    decode: (node) => toPlain(node),
    decodeRepeated: (group) => group.map((e) => toPlain(e.value)),
  });
}

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
 * - `s.raw()`: the {@link ConfigNode} itself (e.g. `plugin_data`, re-printed
 *   for plugins with `printHCL`).
 * - `s.plain()`: the value as plain JavaScript ({@link toPlain}).
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
