/** Shared machinery of the schema builders. */
import { valueIssue } from './decode.js';

import type { ConfigNode, ObjectEntry, Pos } from './nodes.js';
import { INVALID } from './schema.js';
import type { DecodeContext, Invalid, KeyPath, Presence, Schema, SchemaKind } from './schema.js';

export interface Base<T> {
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

export function make<T, P extends Presence>(base: Base<T>): Schema<T, P> {
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

export function constant<T>(value: T | undefined): (() => T) | undefined {
  return value === undefined ? undefined : () => structuredClone(value);
}

export function rangeText(min: number | undefined, max: number | undefined, fmt: (n: number) => string): string {
  if (min !== undefined && max !== undefined) return `must be between ${fmt(min)} and ${fmt(max)}`;
  return min !== undefined ? `must be >= ${fmt(min)}` : `must be <= ${fmt(max ?? 0)}`;
}

export function outOfRange(v: number, min: number | undefined, max: number | undefined): boolean {
  return (min !== undefined && v < min) || (max !== undefined && v > max);
}

export function stringValue(node: ConfigNode): string | undefined {
  if (node.kind === 'string') return node.value;
  if (node.kind === 'number') return node.raw; // HCL v1 decodes number literals into strings
  return undefined;
}

