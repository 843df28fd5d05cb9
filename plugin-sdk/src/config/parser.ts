/**
 * The HCL v1 parser: builds a {@link ConfigNode} tree with positions.
 *
 * Grammar (newlines are not significant, as in HCL v1):
 * ```
 * body  := { item [","] }
 * item  := key "=" value | key { key } "{" body "}"
 * key   := identifier | string
 * value := string | heredoc | number | bool | "{" body "}" | "[" [ value { "," value } [","] ] "]"
 * ```
 * A block `a "b" "c" { body }` becomes the entry `a` whose value is the object
 * `{ b = { c = { body } } }` (entries of form `'label'`).
 *
 * @module
 */

import { formatPos, syntaxError } from './issues.js';
import { Lexer, describeToken } from './lexer.js';
import type { Token } from './lexer.js';
import type { ConfigNode, ListNode, ObjectEntry, ObjectNode, Pos } from './nodes.js';

/** Nesting deeper than this is rejected (it protects the recursive parser). */
export const MAX_DEPTH = 256;

/**
 * Parses HCL v1 text into an object node (the file's top-level body).
 * Throws a {@link ConfigError} with one `syntax` issue on the first error.
 */
export function parseHCL(text: string, filename = ''): ObjectNode {
  return new Parser(text, filename).file();
}

interface Opener {
  readonly pos: Pos;
  readonly what: string;
}

class Parser {
  private readonly lexer: Lexer;
  private tok: Token;
  private depth = 0;

  constructor(
    text: string,
    private readonly filename: string,
  ) {
    this.lexer = new Lexer(text, filename);
    this.tok = this.lexer.next();
  }

  private advance(): Token {
    const t = this.tok;
    this.tok = this.lexer.next();
    return t;
  }

  file(): ObjectNode {
    const entries = this.body(null);
    return { kind: 'object', pos: { filename: this.filename, line: 1, column: 1, offset: 0 }, entries };
  }

  private enter(pos: Pos): void {
    if (++this.depth > MAX_DEPTH) syntaxError(pos, `nesting too deep (more than ${MAX_DEPTH} levels)`);
  }

  /** Items up to the closing `}` of `open` (consumed), or to end of file. */
  private body(open: Opener | null): ObjectEntry[] {
    if (open) this.enter(open.pos);
    const entries: ObjectEntry[] = [];
    for (;;) {
      const t = this.tok;
      if (t.type === 'eof') {
        if (open) syntaxError(t.pos, `unexpected end of file: missing "}" to close ${open.what} opened at ${formatPos({ ...open.pos, filename: '' })}`);
        return entries;
      }
      if (t.type === '}') {
        if (!open) syntaxError(t.pos, 'unexpected "}" (no open block to close)');
        this.advance();
        this.depth--;
        return entries;
      }
      if (t.type !== 'ident' && t.type !== 'string') {
        const hint = t.type === '=' ? ' (missing key before "=")' : '';
        syntaxError(t.pos, `expected key${open ? ' or "}"' : ''}, found ${describeToken(t)}${hint}`);
      }
      entries.push(this.item());
      if (this.tok.type === ',') this.advance();
    }
  }

  private item(): ObjectEntry {
    const keys: Token[] = [];
    while (this.tok.type === 'ident' || this.tok.type === 'string') keys.push(this.advance());
    const first = keys[0]!;
    const t = this.tok;
    if (t.type === '=' && keys.length === 1) {
      this.advance();
      return { key: first.value, keyPos: first.pos, value: this.value(`after "=" for key ${JSON.stringify(first.value)}`), form: 'assign' };
    }
    if (t.type !== '{') return failItem(keys, t);
    this.advance();
    const what = `block ${keys.map((k, i) => (i === 0 ? JSON.stringify(k.value) : labelText(k))).join(' ')}`;
    let value: ConfigNode = { kind: 'object', pos: t.pos, entries: this.body({ pos: t.pos, what }) };
    for (let k = keys.length - 1; k >= 1; k--) {
      const label = keys[k]!;
      value = { kind: 'object', pos: label.pos, entries: [{ key: label.value, keyPos: label.pos, value, form: 'label' }] };
    }
    return { key: first.value, keyPos: first.pos, value, form: 'block' };
  }

  /** A value; `where` completes "expected value ..." errors. */
  private value(where: string): ConfigNode {
    const t = this.tok;
    switch (t.type) {
      case 'string':
      case 'heredoc':
        this.advance();
        return { kind: 'string', pos: t.pos, value: t.value, heredoc: t.type === 'heredoc' };
      case 'number':
        this.advance();
        return { kind: 'number', pos: t.pos, value: t.num, raw: t.text, integer: t.integer };
      case 'bool':
        this.advance();
        return { kind: 'bool', pos: t.pos, value: t.bool };
      case '{': {
        this.advance();
        return { kind: 'object', pos: t.pos, entries: this.body({ pos: t.pos, what: 'object' }) };
      }
      case '[':
        this.advance();
        return this.list(t.pos);
      default: {
        const hint = t.type === 'ident' ? ' (use quotes for strings)' : '';
        return syntaxError(t.pos, `expected value ${where}, found ${describeToken(t)}${hint}`);
      }
    }
  }

  private list(pos: Pos): ListNode {
    this.enter(pos);
    const items: ConfigNode[] = [];
    const unclosed = (at: Pos): never =>
      syntaxError(at, `unexpected end of file: missing "]" to close list opened at ${formatPos({ ...pos, filename: '' })}`);
    for (;;) {
      if (this.tok.type === ']') {
        this.advance();
        this.depth--;
        return { kind: 'list', pos, items };
      }
      if (this.tok.type === 'eof') unclosed(this.tok.pos);
      items.push(this.value('in list'));
      const t = this.tok;
      if (t.type === ',') this.advance();
      else if (t.type === 'eof') unclosed(t.pos);
      else if (t.type !== ']') syntaxError(t.pos, `expected "," or "]" after list item, found ${describeToken(t)}`);
    }
  }
}

function labelText(k: Token): string {
  return JSON.stringify(k.value);
}

/**
 * Reports a malformed item (`keys` followed by `t`, which is neither a valid
 * `=` nor `{`). Keys split over lines are read as an unfinished item followed
 * by the next one, so `trust_domain "example.org"` (a forgotten `=`) is
 * reported at the string, naming the key.
 */
function failItem(keys: readonly Token[], t: Token): never {
  const first = keys[0]!;
  if (keys.length === 1) {
    syntaxError(t.pos, `expected "=" or "{" after key ${JSON.stringify(first.value)}, found ${describeToken(t)}`);
  }
  for (let j = 1; j < keys.length; j++) {
    if (keys[j]!.pos.line > keys[j - 1]!.pos.line) return failItem(keys.slice(0, j), keys[j]!);
  }
  if (keys.length === 2 && t.type !== '=') {
    syntaxError(keys[1]!.pos, `expected "=" or "{" after key ${JSON.stringify(first.value)}, found ${describeToken(keys[1]!)}`);
  }
  const labels = keys.map((k, i) => (i === 0 ? k.value : labelText(k))).join(' ');
  return syntaxError(t.pos, `expected "{" after block labels ${labels}, found ${describeToken(t)}`);
}
