/**
 * The `-output json` form of SPIRE's CLI: protojson with proto field names
 * and unpopulated fields emitted (int64 as strings, bytes as base64, enums
 * by name, wrappers unwrapped), nulls dropped and object keys sorted, one
 * compact line (goJson) — what SPIRE's cliprinter prints. Field types come from the
 * service descriptors @spire-ts/proto ships (descriptors/<service>.json).
 *
 * @module
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { goJson } from '@spire-ts/common';
import { PROTO_ROOT } from '@spire-ts/proto';

interface FieldJson {
  readonly type: string;
  readonly id: number;
  readonly rule?: string;
  readonly keyType?: string;
  readonly options?: { readonly proto3_optional?: boolean };
}

interface NamespaceJson {
  readonly nested?: Readonly<Record<string, NamespaceJson>>;
  readonly fields?: Readonly<Record<string, FieldJson>>;
  readonly oneofs?: Readonly<Record<string, { readonly oneof: readonly string[] }>>;
  readonly values?: Readonly<Record<string, number>>;
}

const roots = new Map<string, NamespaceJson>();

function rootOf(service: string): NamespaceJson {
  let root = roots.get(service);
  if (!root) {
    if (!/^[A-Za-z0-9_.]+$/.test(service)) throw new TypeError(`protojson: bad service name ${JSON.stringify(service)}`);
    root = JSON.parse(readFileSync(join(PROTO_ROOT, 'descriptors', `${service}.json`), 'utf8')) as NamespaceJson;
    roots.set(service, root);
  }
  return root;
}

function lookup(root: NamespaceJson, path: readonly string[]): NamespaceJson | undefined {
  let ns: NamespaceJson | undefined = root;
  for (const part of path) {
    ns = ns?.nested?.[part];
    if (!ns) return undefined;
  }
  return ns;
}

/** Resolves a (possibly relative) type name from the scope `scope` (the full name of the referring message). */
function resolve(root: NamespaceJson, scope: readonly string[], name: string): { path: string[]; ns: NamespaceJson } | undefined {
  const parts = name.replace(/^\./, '').split('.');
  for (let n = scope.length; n >= 0; n--) {
    const path = [...scope.slice(0, n), ...parts];
    const ns = lookup(root, path);
    if (ns) return { path, ns };
  }
  return undefined;
}

const INT64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const WRAPPERS = new Set(['DoubleValue', 'FloatValue', 'Int64Value', 'UInt64Value', 'Int32Value', 'UInt32Value', 'BoolValue', 'StringValue', 'BytesValue']);

function scalarDefault(type: string): unknown {
  if (type === 'bool') return false;
  if (type === 'string' || type === 'bytes') return '';
  if (INT64.has(type)) return '0';
  return 0;
}

function scalar(type: string, value: unknown): unknown {
  if (INT64.has(type)) return String(value);
  if (type === 'bytes') return value instanceof Uint8Array ? Buffer.from(value).toString('base64') : String(value);
  if ((type === 'double' || type === 'float') && typeof value === 'number' && !Number.isFinite(value)) {
    return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
  }
  return value;
}

function convertValue(root: NamespaceJson, scope: readonly string[], type: string, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  const t = resolve(root, scope, type);
  if (!t) return scalar(type, value);
  if (t.ns.values) {
    if (typeof value === 'number') return Object.entries(t.ns.values).find(([, v]) => v === value)?.[0] ?? value;
    return value;
  }
  const full = t.path.join('.');
  if (full.startsWith('google.protobuf.') && WRAPPERS.has(t.path[t.path.length - 1]!)) {
    const inner = (value as { value?: unknown }).value;
    const field = t.ns.fields!.value!;
    return inner === undefined ? scalarDefault(field.type) : scalar(field.type, inner);
  }
  return convertMessage(root, t.path, t.ns, value as Readonly<Record<string, unknown>>);
}

function convertMessage(root: NamespaceJson, path: readonly string[], ns: NamespaceJson, msg: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const inOneof = new Set(Object.values(ns.oneofs ?? {}).flatMap((o) => o.oneof));
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(ns.fields ?? {})) {
    const value = msg[name];
    if (field.rule === 'repeated') {
      const items = Array.isArray(value) ? value : [];
      out[name] = items.map((v) => convertValue(root, path, field.type, v)).filter((v) => v !== null);
      continue;
    }
    if (field.keyType) {
      const map: Record<string, unknown> = {};
      for (const [k, v] of Object.entries((value ?? {}) as Record<string, unknown>)) {
        const c = convertValue(root, path, field.type, v);
        if (c !== null) map[k] = c;
      }
      out[name] = map;
      continue;
    }
    if (value === undefined || value === null) {
      if (inOneof.has(name)) continue;
      const t = resolve(root, path, field.type);
      if (t && !t.ns.values) continue; // unset message: null, dropped
      out[name] = t?.ns.values ? (Object.entries(t.ns.values).find(([, v]) => v === 0)?.[0] ?? 0) : scalarDefault(field.type);
      continue;
    }
    const c = convertValue(root, path, field.type, value);
    if (c !== null) out[name] = c;
  }
  return out;
}

/**
 * The proto-JSON object of `message` (a JS object as grpc-js gives or takes
 * it) of type `typeName`, looked up in `service`'s descriptor.
 *
 * @example
 * ```ts
 * protoJsonObject('spire.api.server.entry.v1.Entry', 'spire.api.server.entry.v1.CountEntriesResponse', { count: 2 }); // { count: 2 }
 * ```
 */
export function protoJsonObject(service: string, typeName: string, message: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const root = rootOf(service);
  const t = resolve(root, [], typeName);
  if (!t || !t.ns.fields) throw new TypeError(`protojson: no message ${typeName} in the ${service} descriptor`);
  return convertMessage(root, t.path, t.ns, message);
}

/**
 * The line SPIRE prints for `-output json`: sorted keys, compact, newline.
 *
 * @example
 * ```ts
 * protoJsonLine('spire.api.server.agent.v1.Agent', 'spire.api.server.agent.v1.CountAgentsResponse', { count: 3 }); // '{"count":3}\n'
 * ```
 */
export function protoJsonLine(service: string, typeName: string, message: Readonly<Record<string, unknown>>): string {
  return `${goJson(protoJsonObject(service, typeName, message))}\n`;
}
