/** Scalar schema builders: string, int, number, bool, duration, enum. */
import { closest, typeError, valueIssue } from './decode.js';
import { formatDuration, parseDuration } from './duration.js';
import { quoteShort } from './lexer.js';

import type { CommonOptions, Def, DurationOptions, NumberOptions, Presence, Req, Schema, StringOptions } from './schema.js';
import { constant, make, outOfRange, rangeText, stringValue } from './builders-base.js';

/**
 * A string (HCL number literals are accepted as their source text).
 *
 * @example
 * ```ts
 * s.string({ required: true }); // Schema<string, 'required'>
 * ```
 */
export function string(opts: Req<StringOptions>): Schema<string, 'required'>;
export function string(opts: Def<StringOptions, string>): Schema<string, 'default'>;
export function string(opts?: StringOptions): Schema<string, 'optional'>;
export function string(o: StringOptions = {}): Schema<string, Presence> {
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
export function int(opts: Req<NumberOptions>): Schema<number, 'required'>;
export function int(opts: Def<NumberOptions, number>): Schema<number, 'default'>;
export function int(opts?: NumberOptions): Schema<number, 'optional'>;
export function int(opts: NumberOptions = {}): Schema<number, Presence> {
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
export function number(opts: Req<NumberOptions>): Schema<number, 'required'>;
export function number(opts: Def<NumberOptions, number>): Schema<number, 'default'>;
export function number(opts?: NumberOptions): Schema<number, 'optional'>;
export function number(opts: NumberOptions = {}): Schema<number, Presence> {
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
export function bool(opts: Req<CommonOptions<boolean>>): Schema<boolean, 'required'>;
export function bool(opts: Def<CommonOptions<boolean>, boolean>): Schema<boolean, 'default'>;
export function bool(opts?: CommonOptions<boolean>): Schema<boolean, 'optional'>;
export function bool(o: CommonOptions<boolean> = {}): Schema<boolean, Presence> {
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
export function duration(opts: Req<DurationOptions>): Schema<number, 'required'>;
export function duration(opts: Def<DurationOptions, number | string>): Schema<number, 'default'>;
export function duration(opts?: DurationOptions): Schema<number, 'optional'>;
export function duration(o: DurationOptions = {}): Schema<number, Presence> {
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
export function enumOf<const V extends readonly [string, ...string[]]>(values: V, opts: Req<CommonOptions<V[number]>>): Schema<V[number], 'required'>;
export function enumOf<const V extends readonly [string, ...string[]]>(values: V, opts: Def<CommonOptions<V[number]>, V[number]>): Schema<V[number], 'default'>;
export function enumOf<const V extends readonly [string, ...string[]]>(values: V, opts?: CommonOptions<V[number]>): Schema<V[number], 'optional'>;
export function enumOf<const V extends readonly [string, ...string[]]>(values: V, o: CommonOptions<V[number]> = {}): Schema<V[number], Presence> {
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

