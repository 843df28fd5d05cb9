/**
 * Prints a node tree or plain object as HCL (v1-compatible) text, e.g. to
 * send `plugin_data` to a plugin in Configure.
 *
 * @module
 */

import { fromPlain, isConfigNode } from './nodes.js';
import type { ConfigNode, ObjectEntry, ObjectNode } from './nodes.js';

/**
 * Options of {@link printHCL}.
 *
 * @example
 * ```ts
 * printHCL({ a: { b: 1 } }, { indent: '    ' });
 * ```
 */
export interface PrintOptions {
  /** One level of indentation (default two spaces). */
  readonly indent?: string;
  /** Scalar lists longer than this are printed one item per line (default 80). */
  readonly width?: number;
}

/**
 * Prints an object (a {@link ConfigNode} object or a plain JavaScript object)
 * as the body of an HCL file: `key = value` lines, nested objects as blocks
 * (labels kept as `key "label" { ... }` for parsed blocks), multi-line strings
 * ending in a newline as `<<EOF` heredocs, other strings quoted with escapes.
 * The output is valid HCL v1, and `parseConfig(printHCL(x))` yields the same
 * plain value as `x`. Throws `TypeError` for non-objects and for values with
 * no HCL representation (see {@link fromPlain}).
 *
 * @example
 * ```ts
 * printHCL({ keys_path: '/opt/keys.json', clusters: { demo: { allow: ['a', 'b'] } } });
 * // keys_path = "/opt/keys.json"
 * // clusters {
 * //   demo {
 * //     allow = ["a", "b"]
 * //   }
 * // }
 * ```
 */
export function printHCL(value: ConfigNode | object, opts: PrintOptions = {}): string {
  const node = isConfigNode(value) ? value : fromPlain(value);
  if (node.kind !== 'object') throw new TypeError(`printHCL needs an object, got a ${node.kind}`);
  const p = new Printer(opts.indent ?? '  ', opts.width ?? 80);
  const body = p.body(node.entries, 0);
  return body === '' ? '' : `${body}\n`;
}

const IDENT = /^[\p{L}_][\p{L}\p{N}_.-]*$/u;

function printKey(key: string): string {
  return IDENT.test(key) && key !== 'true' && key !== 'false' ? key : quote(key);
}

/** Quotes a string for HCL; `${` that the lexer would not see closed is written `\u0024{`. */
export function quote(s: string): string {
  let out = '"';
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    const code = c.charCodeAt(0);
    if (c === '$' && s[i + 1] === '{') {
      if (depth > 0 || interpolationCloses(s, i + 2)) {
        depth++;
        out += '${';
        i++;
      } else {
        out += '\\u0024';
      }
      continue;
    }
    if (depth > 0 && c === '{') depth++;
    else if (depth > 0 && c === '}') depth--;
    if (c === '"') out += '\\"';
    else if (c === '\\') out += '\\\\';
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += c;
  }
  return `${out}"`;
}

/** Whether a `${` whose body starts at `from` is closed (as the lexer counts braces). */
function interpolationCloses(s: string, from: number): boolean {
  let depth = 1;
  for (let i = from; i < s.length; i++) {
    if (s[i] === '$' && s[i + 1] === '{') {
      depth++;
      i++;
    } else if (s[i] === '{') depth++;
    else if (s[i] === '}' && --depth === 0) return true;
  }
  return false;
}

/** A heredoc for multi-line text ending in a newline, or undefined. */
function heredoc(s: string): string | undefined {
  if (!s.includes('\n') || !s.endsWith('\n') || s.includes('\r')) return undefined;
  const lines = new Set(s.split('\n').map((l) => l.trim()));
  let anchor = 'EOF';
  for (let n = 1; lines.has(anchor); n++) anchor = `EOF${n}`;
  return `<<${anchor}\n${s}${anchor}`;
}

function isScalar(n: ConfigNode): boolean {
  return n.kind !== 'object' && n.kind !== 'list';
}

class Printer {
  constructor(
    private readonly unit: string,
    private readonly width: number,
  ) {}

  body(entries: readonly ObjectEntry[], level: number): string {
    return entries.map((e) => this.entry(e, level)).join('\n');
  }

  private entry(e: ObjectEntry, level: number): string {
    const ind = this.unit.repeat(level);
    const key = printKey(e.key);
    let v = e.value;
    if (v.kind === 'object' && e.form !== 'assign') {
      let head = key;
      for (let only = soleLabel(v); only; only = soleLabel(v)) {
        head += ` ${quote(only.key)}`;
        v = only.value;
      }
      return `${ind}${head} ${this.object(v as ObjectNode, level)}`;
    }
    if (v.kind === 'string') {
      const doc = heredoc(v.value);
      if (doc) return `${ind}${key} = ${doc}`;
    }
    return `${ind}${key} = ${this.value(v, level)}`;
  }

  private object(o: ObjectNode, level: number): string {
    if (o.entries.length === 0) return '{}';
    return `{\n${this.body(o.entries, level + 1)}\n${this.unit.repeat(level)}}`;
  }

  private value(v: ConfigNode, level: number): string {
    switch (v.kind) {
      case 'string':
        return quote(v.value);
      case 'number':
        return v.raw;
      case 'bool':
        return String(v.value);
      case 'object':
        return this.object(v, level);
      case 'list': {
        if (v.items.length === 0) return '[]';
        if (v.items.every(isScalar)) {
          const line = `[${v.items.map((i) => this.value(i, level)).join(', ')}]`;
          if (line.length + this.unit.length * level <= this.width) return line;
        }
        const ind = this.unit.repeat(level + 1);
        return `[\n${v.items.map((i) => `${ind}${this.value(i, level + 1)},`).join('\n')}\n${this.unit.repeat(level)}]`;
      }
    }
  }
}

/** The single `'label'` entry of an object written as `key "label" { ... }`. */
function soleLabel(o: ConfigNode): ObjectEntry | undefined {
  if (o.kind !== 'object' || o.entries.length !== 1) return undefined;
  const only = o.entries[0]!;
  return only.form === 'label' && only.value.kind === 'object' ? only : undefined;
}
