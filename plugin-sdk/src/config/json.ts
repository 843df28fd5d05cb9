/**
 * A JSON parser producing the same {@link ConfigNode} tree as the HCL parser,
 * with line/column positions. The top level must be an object; `null` is
 * rejected (HCL has no null); duplicate keys are kept as separate entries.
 *
 * @module
 */

import { formatPos, syntaxError } from './issues.js';
import { quoteShort } from './lexer.js';
import { MAX_DEPTH } from './parser.js';
import type { ConfigNode, ObjectEntry, ObjectNode, Pos } from './nodes.js';

type JsonTokenType = '{' | '}' | '[' | ']' | ':' | ',' | 'string' | 'number' | 'true' | 'false' | 'null' | 'eof' | 'illegal';

interface JsonToken {
  readonly type: JsonTokenType;
  readonly pos: Pos;
  readonly text: string;
  /** Decoded string for `string` tokens. */
  readonly str: string;
}

/**
 * Parses JSON configuration text into an object node. Throws a
 * {@link ConfigError} with one `syntax` issue on the first error.
 */
export function parseJSONConfig(text: string, filename = ''): ObjectNode {
  const p = new JsonParser(text, filename);
  const t = p.tok;
  if (t.type !== '{') {
    const found = t.type === '[' ? 'an array' : describe(t);
    syntaxError(t.pos, `JSON configuration must be an object at the top level, found ${found}`);
  }
  const node = p.value(0);
  const after = p.tok;
  if (after.type !== 'eof') syntaxError(after.pos, `unexpected ${describe(after)} after the top-level object`);
  return node as ObjectNode;
}

function describe(t: JsonToken): string {
  switch (t.type) {
    case 'string':
      return `string ${quoteShort(t.str)}`;
    case 'number':
      return `number ${t.text}`;
    case 'true':
    case 'false':
      return `bool ${t.text}`;
    case 'null':
      return 'null';
    case 'eof':
      return 'end of file';
    default:
      return JSON.stringify(t.text);
  }
}

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/;
const WORD = /^[\p{L}\p{N}_$.+-]+/u;

class JsonParser {
  private i = 0;
  private line = 1;
  private col = 1;
  tok: JsonToken;

  constructor(
    private readonly src: string,
    private readonly filename: string,
  ) {
    if (src.charCodeAt(0) === 0xfeff) this.i = 1;
    this.tok = this.lex();
  }

  private pos(): Pos {
    return { filename: this.filename, line: this.line, column: this.col, offset: this.i };
  }

  private advanceTo(to: number): void {
    while (this.i < to) {
      if (this.src.charCodeAt(this.i) === 10) {
        this.line++;
        this.col = 1;
      } else {
        this.col++;
      }
      this.i++;
    }
  }

  private advance(): JsonToken {
    const t = this.tok;
    this.tok = this.lex();
    return t;
  }

  private lex(): JsonToken {
    const src = this.src;
    while (this.i < src.length && ' \t\n\r'.includes(src[this.i]!)) this.advanceTo(this.i + 1);
    const pos = this.pos();
    const make = (type: JsonTokenType, end: number, str = ''): JsonToken => {
      this.advanceTo(end);
      return { type, pos, text: src.slice(pos.offset, end), str };
    };
    if (this.i >= src.length) return make('eof', this.i);
    const c = src[this.i]!;
    if ('{}[]:,'.includes(c)) return make(c as JsonTokenType, this.i + 1);
    if (c === '"') return this.string(pos);
    if (c === '-' || (c >= '0' && c <= '9')) {
      const word = WORD.exec(src.slice(this.i, this.i + 512))?.[0] ?? c;
      const num = NUMBER.exec(word)?.[0];
      if (num === undefined || num.length !== word.length) {
        this.advanceTo(this.i + word.length);
        syntaxError(pos, `invalid number ${JSON.stringify(word)}`);
      }
      return make('number', this.i + num.length);
    }
    const word = WORD.exec(src.slice(this.i, this.i + 512))?.[0];
    if (word === 'true' || word === 'false' || word === 'null') return make(word, this.i + word.length);
    const cp = String.fromCodePoint(src.codePointAt(this.i)!);
    return make('illegal', this.i + (word?.length ?? cp.length));
  }

  private string(pos: Pos): JsonToken {
    const src = this.src;
    let j = this.i + 1;
    for (;;) {
      if (j >= src.length) syntaxError(pos, 'unterminated string (missing closing quote before end of file)');
      const code = src.charCodeAt(j);
      if (code === 0x22) break;
      if (code === 0x0a) syntaxError(pos, 'unterminated string (missing closing quote before end of line)');
      if (code < 0x20) {
        this.advanceTo(j);
        syntaxError(this.pos(), `invalid control character U+${code.toString(16).padStart(4, '0').toUpperCase()} in string (escape it)`);
      }
      if (code === 0x5c) {
        const e = src[j + 1];
        const ok = e !== undefined && ('"\\/bfnrt'.includes(e) || (e === 'u' && /^[0-9A-Fa-f]{4}$/.test(src.slice(j + 2, j + 6))));
        if (!ok) {
          this.advanceTo(j);
          const shown = e === 'u' ? src.slice(j, j + 6) : src.slice(j, j + 2);
          syntaxError(this.pos(), `invalid escape sequence ${JSON.stringify(shown)} in string`);
        }
        j += e === 'u' ? 6 : 2;
        continue;
      }
      j++;
    }
    const raw = src.slice(this.i, j + 1);
    this.advanceTo(j + 1);
    return { type: 'string', pos, text: raw, str: JSON.parse(raw) as string };
  }

  value(depth: number): ConfigNode {
    const t = this.tok;
    switch (t.type) {
      case 'string':
        this.advance();
        return { kind: 'string', pos: t.pos, value: t.str, heredoc: false };
      case 'number':
        this.advance();
        return { kind: 'number', pos: t.pos, value: Number(t.text), raw: t.text, integer: !/[.eE]/.test(t.text) };
      case 'true':
      case 'false':
        this.advance();
        return { kind: 'bool', pos: t.pos, value: t.type === 'true' };
      case 'null':
        return syntaxError(t.pos, 'null is not supported in configuration (omit the key instead)');
      case '{':
        if (depth >= MAX_DEPTH) syntaxError(t.pos, `nesting too deep (more than ${MAX_DEPTH} levels)`);
        this.advance();
        return this.object(t.pos, depth + 1);
      case '[':
        if (depth >= MAX_DEPTH) syntaxError(t.pos, `nesting too deep (more than ${MAX_DEPTH} levels)`);
        this.advance();
        return this.array(t.pos, depth + 1);
      default:
        return syntaxError(t.pos, `expected a value, found ${describe(t)}`);
    }
  }

  private unclosed(at: Pos, close: string, what: string, open: Pos): never {
    return syntaxError(at, `unexpected end of file: missing "${close}" to close ${what} opened at ${formatPos({ ...open, filename: '' })}`);
  }

  private object(pos: Pos, depth: number): ObjectNode {
    const entries: ObjectEntry[] = [];
    if (this.tok.type === '}') {
      this.advance();
      return { kind: 'object', pos, entries };
    }
    for (;;) {
      const k = this.tok;
      if (k.type === 'eof') this.unclosed(k.pos, '}', 'object', pos);
      if (k.type !== 'string') {
        const trailing = k.type === '}' && entries.length > 0 ? ' (trailing commas are not allowed in JSON)' : '';
        syntaxError(k.pos, `expected a string key, found ${describe(k)}${trailing}`);
      }
      this.advance();
      const colon = this.tok;
      if (colon.type !== ':') syntaxError(colon.pos, `expected ":" after key ${JSON.stringify(k.str)}, found ${describe(colon)}`);
      this.advance();
      entries.push({ key: k.str, keyPos: k.pos, value: this.value(depth), form: 'assign' });
      const t = this.advance();
      if (t.type === '}') return { kind: 'object', pos, entries };
      if (t.type === 'eof') this.unclosed(t.pos, '}', 'object', pos);
      if (t.type !== ',') syntaxError(t.pos, `expected "," or "}" after object member, found ${describe(t)}`);
    }
  }

  private array(pos: Pos, depth: number): ConfigNode {
    const items: ConfigNode[] = [];
    if (this.tok.type === ']') {
      this.advance();
      return { kind: 'list', pos, items };
    }
    for (;;) {
      const next: JsonToken = this.tok;
      if (next.type === 'eof') this.unclosed(next.pos, ']', 'array', pos);
      if (next.type === ']') syntaxError(next.pos, 'expected a value, found "]" (trailing commas are not allowed in JSON)');
      items.push(this.value(depth));
      const t = this.advance();
      if (t.type === ']') return { kind: 'list', pos, items };
      if (t.type === 'eof') this.unclosed(t.pos, ']', 'array', pos);
      if (t.type !== ',') syntaxError(t.pos, `expected "," or "]" after array element, found ${describe(t)}`);
    }
  }
}
