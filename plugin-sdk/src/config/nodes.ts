/**
 * The configuration node tree shared by the HCL and JSON parsers, plus
 * conversions to and from plain JavaScript values.
 *
 * @module
 */

/**
 * A position in a configuration source. `line` and `column` are 1-based
 * (columns count UTF-16 code units, a tab is one column); `offset` is the
 * 0-based index into the source text. Nodes built from plain values (see
 * {@link fromPlain}) have `line` 0, meaning "no source position".
 *
 * @example
 * ```ts
 * const node = parseConfig('a = 1', { filename: 'x.conf' });
 * const pos: Pos = node.entries[0]!.keyPos; // { filename: 'x.conf', line: 1, column: 1, offset: 0 }
 * ```
 */
export interface Pos {
  readonly filename: string;
  readonly line: number;
  readonly column: number;
  readonly offset: number;
}

/**
 * How an object entry was written in the source:
 * - `'assign'`: `key = value` (and every JSON member),
 * - `'block'`: `key { ... }`, or the first key of `key "label" { ... }`,
 * - `'label'`: a key produced by a block label (`"label"` above).
 *
 * @example
 * ```ts
 * const root = parseConfig('KeyManager "disk" { }');
 * const km = root.entries[0]!;                     // form 'block'
 * const disk = (km.value as ObjectNode).entries[0]!; // form 'label'
 * ```
 */
export type EntryForm = 'assign' | 'block' | 'label';

/**
 * One `key = value` (or block) inside an object, in source order. Objects may
 * hold several entries with the same key: HCL repeated blocks accumulate.
 *
 * @example
 * ```ts
 * const root = parseConfig('server { bind_port = 8081 }');
 * const entry: ObjectEntry = root.entries[0]!;
 * entry.key;          // 'server'
 * entry.value.kind;   // 'object'
 * ```
 */
export interface ObjectEntry {
  readonly key: string;
  readonly keyPos: Pos;
  readonly value: ConfigNode;
  readonly form: EntryForm;
}

/**
 * An object: ordered entries, duplicates kept. `pos` is the position of its
 * `{` (or 1:1 for a file's top-level body; the label position for the objects
 * that HCL block labels expand into).
 *
 * @example
 * ```ts
 * const obj: ObjectNode = parseConfig('a = 1\nb = "x"');
 * obj.entries.map((e) => e.key); // ['a', 'b']
 * ```
 */
export interface ObjectNode {
  readonly kind: 'object';
  readonly pos: Pos;
  readonly entries: readonly ObjectEntry[];
}

/**
 * A list `[a, b, c]` (or a JSON array).
 *
 * @example
 * ```ts
 * const list = parseConfig('ids = ["a", "b"]').entries[0]!.value as ListNode;
 * list.items.length; // 2
 * ```
 */
export interface ListNode {
  readonly kind: 'list';
  readonly pos: Pos;
  readonly items: readonly ConfigNode[];
}

/**
 * A string: quoted (escapes decoded, `${...}` kept literally) or heredoc.
 *
 * @example
 * ```ts
 * const str = parseConfig('a = "x\\ty"').entries[0]!.value as StringNode;
 * str.value; // 'x\ty'
 * ```
 */
export interface StringNode {
  readonly kind: 'string';
  readonly pos: Pos;
  readonly value: string;
  /** True when written as a heredoc (`<<EOF`). */
  readonly heredoc: boolean;
}

/**
 * A number. `raw` is the source text (`0x1F`, `-2.5e3`, `0755`); `integer` is
 * true for integer literals (decimal, hex, HCL-v1 octal).
 *
 * @example
 * ```ts
 * const n = parseConfig('a = 0x10').entries[0]!.value as NumberNode;
 * n.value;   // 16
 * n.integer; // true
 * ```
 */
export interface NumberNode {
  readonly kind: 'number';
  readonly pos: Pos;
  readonly value: number;
  readonly raw: string;
  readonly integer: boolean;
}

/**
 * A boolean `true` / `false`.
 *
 * @example
 * ```ts
 * const b = parseConfig('enabled = true').entries[0]!.value as BoolNode;
 * b.value; // true
 * ```
 */
export interface BoolNode {
  readonly kind: 'bool';
  readonly pos: Pos;
  readonly value: boolean;
}

/**
 * Any configuration value node; discriminate on `kind`.
 *
 * @example
 * ```ts
 * function describe(node: ConfigNode): string {
 *   switch (node.kind) {
 *     case 'object': return `object with ${node.entries.length} entries`;
 *     case 'list': return `list of ${node.items.length}`;
 *     default: return String(node.value);
 *   }
 * }
 * ```
 */
export type ConfigNode = ObjectNode | ListNode | StringNode | NumberNode | BoolNode;

/**
 * A plain JavaScript configuration value, as produced by {@link toPlain}.
 *
 * @example
 * ```ts
 * const v: PlainValue = { server: { bind_port: 8081, admin_ids: ['spiffe://x/admin'] } };
 * ```
 */
export type PlainValue = string | number | boolean | PlainValue[] | PlainObject;

/**
 * A plain JavaScript configuration object.
 *
 * @example
 * ```ts
 * const o: PlainObject = { keys_path: '/opt/keys.json' };
 * ```
 */
export interface PlainObject {
  [key: string]: PlainValue;
}

/** The position used for nodes that have no source. */
export function noPos(filename = ''): Pos {
  return { filename, line: 0, column: 0, offset: 0 };
}

/** Sets `obj[key] = value` as an own enumerable property, even for `__proto__`. */
export function defineKey<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

const NODE_KINDS: ReadonlySet<string> = new Set(['object', 'list', 'string', 'number', 'bool']);

/**
 * Reports whether `value` looks like a {@link ConfigNode} (an object with a
 * known `kind` and a `pos`).
 *
 * @example
 * ```ts
 * isConfigNode(parseConfig('a = 1')); // true
 * isConfigNode({ a: 1 });             // false
 * ```
 */
export function isConfigNode(value: unknown): value is ConfigNode {
  if (typeof value !== 'object' || value === null) return false;
  const kind: unknown = Reflect.get(value, 'kind');
  const pos: unknown = Reflect.get(value, 'pos');
  return typeof kind === 'string' && NODE_KINDS.has(kind) && typeof pos === 'object' && pos !== null;
}

/**
 * Converts a node to plain JavaScript values. Objects become plain objects
 * (key order kept); a key that occurs several times (repeated HCL blocks)
 * becomes an array of its values in source order, which is exactly the JSON
 * form of repeated blocks.
 *
 * @example
 * ```ts
 * toPlain(parseConfig('plugins { KeyManager "disk" { a = 1 } KeyManager "memory" {} }'));
 * // { plugins: { KeyManager: [ { disk: { a: 1 } }, { memory: {} } ] } }
 * ```
 */
export function toPlain(node: ConfigNode): PlainValue {
  switch (node.kind) {
    case 'object': {
      const groups = new Map<string, PlainValue[]>();
      for (const entry of node.entries) {
        const group = groups.get(entry.key);
        const value = toPlain(entry.value);
        if (group) group.push(value);
        else groups.set(entry.key, [value]);
      }
      const out: PlainObject = {};
      for (const [key, values] of groups) defineKey(out, key, values.length === 1 ? values[0]! : values);
      return out;
    }
    case 'list':
      return node.items.map(toPlain);
    default:
      return node.value;
  }
}

/**
 * Builds a node tree from plain JavaScript values (positions have line 0).
 * Object properties whose value is `undefined` are skipped; `bigint` becomes
 * an integer number. Throws `TypeError` for anything else that has no config
 * representation (`null`, functions, non-finite numbers, ...).
 *
 * @example
 * ```ts
 * const node = fromPlain({ keys_path: '/tmp/keys.json', sizes: [1, 2] });
 * node.kind; // 'object'
 * ```
 */
export function fromPlain(value: unknown, filename = ''): ConfigNode {
  return fromPlainAt(value, noPos(filename), '', new Set());
}

function fromPlainAt(value: unknown, pos: Pos, path: string, seen: Set<object>): ConfigNode {
  switch (typeof value) {
    case 'string':
      return { kind: 'string', pos, value, heredoc: false };
    case 'boolean':
      return { kind: 'bool', pos, value };
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`cannot represent ${String(value)} in config at ${path || 'top level'}`);
      return { kind: 'number', pos, value, raw: String(value), integer: Number.isInteger(value) };
    case 'bigint':
      return { kind: 'number', pos, value: Number(value), raw: value.toString(), integer: true };
    case 'object': {
      if (value === null) throw new TypeError(`cannot represent null in config at ${path || 'top level'}`);
      if (seen.has(value)) throw new TypeError(`circular value in config at ${path || 'top level'}`);
      seen.add(value);
      try {
        if (Array.isArray(value)) {
          const items: ConfigNode[] = [];
          value.forEach((item: unknown, i) => items.push(fromPlainAt(item, pos, `${path}[${i}]`, seen)));
          return { kind: 'list', pos, items };
        }
        const entries: ObjectEntry[] = [];
        for (const [key, item] of Object.entries(value)) {
          if (item === undefined) continue;
          const child = fromPlainAt(item, pos, path ? `${path}.${key}` : key, seen);
          entries.push({ key, keyPos: pos, value: child, form: child.kind === 'object' ? 'block' : 'assign' });
        }
        return { kind: 'object', pos, entries };
      } finally {
        seen.delete(value);
      }
    }
    default:
      throw new TypeError(`cannot represent a ${typeof value} in config at ${path || 'top level'}`);
  }
}
