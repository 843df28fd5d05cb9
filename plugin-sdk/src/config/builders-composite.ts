/** Composite schema builders: list, map, entries, object, raw, plain. */
import { closest, decodeGroup, firstSeen, formatPath, groupEntries, inWhere, objectEntries, report, typeError, valueIssue } from './decode.js';

import { defineKey, toPlain } from './nodes.js';
import type { ConfigNode, ObjectEntry, PlainValue, Pos } from './nodes.js';
import { INVALID } from './schema.js';
import type { AnyOptions, AnySchema, CommonOptions, ConfigEntry, DecodeContext, Def, EntriesOptions, Infer, InferShape, Invalid, KeyPath, ListOptions, ObjectOptions, Presence, Req, Schema, Shape } from './schema.js';
import { constant, make, outOfRange, rangeText } from './builders-base.js';

/**
 * A list; for object items, repeated blocks (and a single block) make up the list.
 *
 * @example
 * ```ts
 * s.list(s.string(), { default: [] }); // Schema<string[], 'default'>
 * ```
 */
export function list<I extends AnySchema>(item: I, opts: Req<ListOptions<Infer<I>>>): Schema<Infer<I>[], 'required'>;
export function list<I extends AnySchema>(item: I, opts: Def<ListOptions<Infer<I>>, Infer<I>[]>): Schema<Infer<I>[], 'default'>;
export function list<I extends AnySchema>(item: I, opts?: ListOptions<Infer<I>>): Schema<Infer<I>[], 'optional'>;
export function list<I extends AnySchema>(item: I, o: ListOptions<Infer<I>> = {}): Schema<Infer<I>[], Presence> {
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
export function map<V extends AnySchema>(value: V, opts: Req<CommonOptions<Record<string, Infer<V>>>>): Schema<Record<string, Infer<V>>, 'required'>;
export function map<V extends AnySchema>(
  value: V,
  opts: Def<CommonOptions<Record<string, Infer<V>>>, Record<string, Infer<V>>>,
): Schema<Record<string, Infer<V>>, 'default'>;
export function map<V extends AnySchema>(value: V, opts?: CommonOptions<Record<string, Infer<V>>>): Schema<Record<string, Infer<V>>, 'optional'>;
export function map<V extends AnySchema>(value: V, o: CommonOptions<Record<string, Infer<V>>> = {}): Schema<Record<string, Infer<V>>, Presence> {
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
export function entries<V extends AnySchema>(value: V, opts: EntriesOptions & { readonly required: true }): Schema<ConfigEntry<Infer<V>>[], 'required'>;
export function entries<V extends AnySchema>(value: V, opts?: EntriesOptions): Schema<ConfigEntry<Infer<V>>[], 'optional'>;
export function entries<V extends AnySchema>(value: V, o: EntriesOptions = {}): Schema<ConfigEntry<Infer<V>>[], Presence> {
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
export function object<const S extends Shape>(shape: S, opts: ObjectOptions<InferShape<S>> & { readonly required: true }): Schema<InferShape<S>, 'required'>;
export function object<const S extends Shape>(shape: S, opts: ObjectOptions<InferShape<S>> & { readonly fillDefaults: true }): Schema<InferShape<S>, 'default'>;
export function object<const S extends Shape>(shape: S, opts?: ObjectOptions<InferShape<S>>): Schema<InferShape<S>, 'optional'>;
export function object<const S extends Shape>(shape: S, o: ObjectOptions<InferShape<S>> = {}): Schema<InferShape<S>, Presence> {
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
export function raw(opts: AnyOptions & { readonly required: true }): Schema<ConfigNode, 'required'>;
export function raw(opts?: AnyOptions): Schema<ConfigNode, 'optional'>;
export function raw(o: AnyOptions = {}): Schema<ConfigNode, Presence> {
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
export function plain(opts: AnyOptions & { readonly required: true }): Schema<PlainValue, 'required'>;
export function plain(opts?: AnyOptions): Schema<PlainValue, 'optional'>;
export function plain(o: AnyOptions = {}): Schema<PlainValue, Presence> {
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

