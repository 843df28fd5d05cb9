/**
 * The HCL v1 tokenizer: identifiers, quoted strings, heredocs, numbers,
 * booleans, punctuation and the three comment styles, each token with its
 * source position.
 *
 * @module
 */

import { syntaxError } from './issues.js';
import type { Pos } from './nodes.js';

/** The kinds of HCL tokens. */
export type TokenType =
  | 'ident'
  | 'string'
  | 'heredoc'
  | 'number'
  | 'bool'
  | '{'
  | '}'
  | '['
  | ']'
  | '='
  | ','
  | 'eof'
  | 'illegal';

/**
 * One HCL token. `text` is the source text; `value` is the decoded string
 * (strings, heredocs), the identifier, or the text of other tokens; `num` and
 * `integer` are set for numbers, `bool` for booleans.
 */
export interface Token {
  readonly type: TokenType;
  readonly pos: Pos;
  readonly text: string;
  readonly value: string;
  readonly num: number;
  readonly integer: boolean;
  readonly bool: boolean;
}

const IDENT_START = /[\p{L}_]/u;
const IDENT_PART = /[\p{L}\p{N}_.-]/u;
const NUMBER_TAIL = /[\p{L}\p{N}_.]/u;
const ANCHOR = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Describes a token for error messages: `string "x"`, `"}"`, `end of file`. */
export function describeToken(tok: Token): string {
  switch (tok.type) {
    case 'ident':
      return `identifier ${JSON.stringify(tok.value)}`;
    case 'string':
      return `string ${quoteShort(tok.value)}`;
    case 'heredoc':
      return 'heredoc string';
    case 'number':
      return `number ${tok.text}`;
    case 'bool':
      return `bool ${tok.text}`;
    case 'eof':
      return 'end of file';
    default:
      return JSON.stringify(tok.text);
  }
}

/** JSON-quotes a string, shortened to about 40 characters. */
export function quoteShort(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 37)}...` : s);
}

/**
 * Splits HCL v1 source into tokens on demand (`next()`), so that syntax
 * errors surface in source order. Lexical errors that cannot be a token
 * (unterminated strings, heredocs and comments, bad escapes and numbers)
 * throw a {@link ConfigError}; stray characters become `illegal` tokens for
 * the parser to report in context.
 */
export class Lexer {
  private i = 0;
  private line = 1;
  private col = 1;

  constructor(
    private readonly src: string,
    private readonly filename: string,
  ) {
    if (src.charCodeAt(0) === 0xfeff) this.i = 1;
  }

  /** The current position. */
  pos(): Pos {
    return { filename: this.filename, line: this.line, column: this.col, offset: this.i };
  }

  /** Advances over source up to (not including) index `to`, tracking lines. */
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

  private make(type: TokenType, pos: Pos, value?: string, extra?: Partial<Pick<Token, 'num' | 'integer' | 'bool'>>): Token {
    const text = this.src.slice(pos.offset, this.i);
    return {
      type,
      pos,
      text,
      value: value ?? text,
      num: extra?.num ?? 0,
      integer: extra?.integer ?? false,
      bool: extra?.bool ?? false,
    };
  }

  /** Returns the next token (`eof` at the end, repeatedly). */
  next(): Token {
    this.skipSpaceAndComments();
    const pos = this.pos();
    const src = this.src;
    if (this.i >= src.length) return this.make('eof', pos, '');
    const c = src[this.i]!;
    switch (c) {
      case '{':
      case '}':
      case '[':
      case ']':
      case '=':
      case ',':
        this.advanceTo(this.i + 1);
        return this.make(c, pos);
      case '"':
        return this.string(pos);
      case '<':
        if (src[this.i + 1] === '<') return this.heredoc(pos);
        break;
      case '-':
        if (isDigit(src[this.i + 1])) return this.number(pos);
        break;
      case '.':
        if (isDigit(src[this.i + 1])) return this.number(pos);
        break;
      default:
        if (isDigit(c)) return this.number(pos);
        if (IDENT_START.test(codePointAt(src, this.i))) return this.ident(pos);
    }
    this.advanceTo(this.i + codePointAt(src, this.i).length);
    return this.make('illegal', pos);
  }

  private skipSpaceAndComments(): void {
    const src = this.src;
    for (;;) {
      const c = src[this.i];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') {
        this.advanceTo(this.i + 1);
      } else if (c === '#' || (c === '/' && src[this.i + 1] === '/')) {
        const nl = src.indexOf('\n', this.i);
        this.advanceTo(nl === -1 ? src.length : nl);
      } else if (c === '/' && src[this.i + 1] === '*') {
        const start = this.pos();
        const end = src.indexOf('*/', this.i + 2);
        if (end === -1) syntaxError(start, 'unterminated block comment (missing "*/")');
        this.advanceTo(end + 2);
      } else {
        return;
      }
    }
  }

  private ident(pos: Pos): Token {
    const src = this.src;
    let j = this.i;
    while (j < src.length) {
      const ch = codePointAt(src, j);
      if (!IDENT_PART.test(ch)) break;
      j += ch.length;
    }
    this.advanceTo(j);
    const text = src.slice(pos.offset, j);
    if (text === 'true' || text === 'false') return this.make('bool', pos, text, { bool: text === 'true' });
    return this.make('ident', pos, text);
  }

  private number(pos: Pos): Token {
    const src = this.src;
    let j = this.i;
    const neg = src[j] === '-';
    if (neg) j++;
    let integer = true;
    let bad = false;
    let value = 0;
    if (src[j] === '0' && (src[j + 1] === 'x' || src[j + 1] === 'X')) {
      j += 2;
      const digitsStart = j;
      while (isHex(src[j])) j++;
      if (j === digitsStart) bad = true;
      value = parseInt(src.slice(digitsStart, j) || '0', 16);
    } else {
      const intStart = j;
      while (isDigit(src[j])) j++;
      const intPart = src.slice(intStart, j);
      if (src[j] === '.') {
        integer = false;
        j++;
        while (isDigit(src[j])) j++;
      }
      if (src[j] === 'e' || src[j] === 'E') {
        integer = false;
        j++;
        if (src[j] === '+' || src[j] === '-') j++;
        const expStart = j;
        while (isDigit(src[j])) j++;
        if (j === expStart) bad = true;
      }
      if (integer && intPart.length > 1 && intPart.startsWith('0')) {
        // HCL v1 follows Go's ParseInt(s, 0, 64): a leading 0 means octal.
        if (!/^[0-7]+$/.test(intPart)) {
          this.consumeNumberTail(j);
          syntaxError(pos, `invalid octal number ${JSON.stringify(src.slice(pos.offset, this.i))}`);
        }
        value = parseInt(intPart, 8);
      } else {
        value = Number(src.slice(neg ? this.i + 1 : this.i, j));
      }
    }
    if (j < src.length && NUMBER_TAIL.test(codePointAt(src, j))) bad = true;
    if (bad) {
      this.consumeNumberTail(j);
      const text = src.slice(pos.offset, this.i);
      const hint = /[\p{L}_]/u.test(text.replace(/^-?0[xX]/, '').replace(/[eE][+-]?\d*$/, '')) ? ' (use quotes for strings)' : '';
      syntaxError(pos, `invalid number ${JSON.stringify(text)}${hint}`);
    }
    this.advanceTo(j);
    return this.make('number', pos, undefined, { num: neg ? -value : value, integer });
  }

  private consumeNumberTail(from: number): void {
    let j = from;
    while (j < this.src.length) {
      const ch = codePointAt(this.src, j);
      if (!NUMBER_TAIL.test(ch) && ch !== '-') break;
      j += ch.length;
    }
    this.advanceTo(j);
  }

  /** A double-quoted string; `${...}` is kept literally and may contain quotes. */
  private string(pos: Pos): Token {
    const src = this.src;
    let j = this.i + 1;
    let out = '';
    let depth = 0; // brace depth inside ${ ... }
    for (;;) {
      if (j >= src.length) syntaxError(pos, 'unterminated string (missing closing quote before end of file)');
      const c = src[j]!;
      if (c === '\n') syntaxError(pos, 'unterminated string (missing closing quote before end of line; use a heredoc for multi-line text)');
      if (c === '"' && depth === 0) {
        j++;
        break;
      }
      if (c === '\\') {
        const [decoded, len] = this.escape(j);
        out += decoded;
        j += len;
        continue;
      }
      if (c === '$' && src[j + 1] === '{') {
        depth++;
        out += '${';
        j += 2;
        continue;
      }
      if (depth > 0 && c === '{') depth++;
      else if (depth > 0 && c === '}') depth--;
      out += c;
      j++;
    }
    this.advanceTo(j);
    return this.make('string', pos, out);
  }

  /** Decodes the escape sequence at `at` (a backslash): [text, length]. */
  private escape(at: number): [string, number] {
    const src = this.src;
    const c = src[at + 1];
    const bad = (len: number, why = ''): never => {
      this.advanceTo(at);
      return syntaxError(this.pos(), `invalid escape sequence ${JSON.stringify(src.slice(at, at + len))} in string${why}`);
    };
    switch (c) {
      case 'n':
        return ['\n', 2];
      case 't':
        return ['\t', 2];
      case 'r':
        return ['\r', 2];
      case '"':
        return ['"', 2];
      case '\\':
        return ['\\', 2];
      case 'a':
        return ['\x07', 2];
      case 'b':
        return ['\b', 2];
      case 'f':
        return ['\f', 2];
      case 'v':
        return ['\v', 2];
      case 'x':
      case 'u':
      case 'U': {
        const n = c === 'x' ? 2 : c === 'u' ? 4 : 8;
        let run = 0;
        while (run < n && isHex(src[at + 2 + run])) run++;
        if (run < n) bad(2 + run + (at + 2 + run < src.length && src[at + 2 + run] !== '\n' ? 1 : 0));
        const hex = src.slice(at + 2, at + 2 + n);
        const cp = parseInt(hex, 16);
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) bad(2 + n, ' (not a valid Unicode code point)');
        return [String.fromCodePoint(cp), 2 + n];
      }
      default:
        if (c !== undefined && c >= '0' && c <= '7') {
          const oct = src.slice(at + 1, at + 4);
          if (!/^[0-7]{3}$/.test(oct)) bad(1 + oct.length);
          const v = parseInt(oct, 8);
          if (v > 255) bad(4, ' (octal value over 255)');
          return [String.fromCharCode(v), 4];
        }
        if (c === undefined || c === '\n') return bad(1);
        return bad(1 + codePointAt(src, at + 1).length);
    }
  }

  private heredoc(pos: Pos): Token {
    const src = this.src;
    let j = this.i + 2;
    const indented = src[j] === '-';
    if (indented) j++;
    const anchor = ANCHOR.exec(src.slice(j, j + 256))?.[0] ?? '';
    if (!anchor) syntaxError(pos, `invalid heredoc: expected an anchor name after "${indented ? '<<-' : '<<'}"`);
    j += anchor.length;
    if (src[j] === '\r') j++;
    if (src[j] !== '\n') {
      this.advanceTo(j);
      syntaxError(this.pos(), `heredoc anchor ${JSON.stringify(anchor)} must be followed by a newline`);
    }
    j++;
    const lines: string[] = [];
    for (;;) {
      if (j >= src.length) syntaxError(pos, `unterminated heredoc (missing closing ${JSON.stringify(anchor)} line)`);
      const nl = src.indexOf('\n', j);
      const lineEnd = nl === -1 ? src.length : nl;
      let line = src.slice(j, lineEnd);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line.trim() === anchor) {
        j += line.indexOf(anchor) + anchor.length;
        const value = indented ? unindent(lines, /^[ \t]*/.exec(line)![0]) : lines.map((l) => `${l}\n`).join('');
        this.advanceTo(j);
        return this.make('heredoc', pos, value);
      }
      lines.push(line);
      j = lineEnd + 1;
    }
  }
}

/**
 * `<<-` heredocs: removes the closing marker's indentation from every line,
 * provided every non-blank line has it (HCL v1); otherwise keeps lines as-is.
 */
function unindent(lines: readonly string[], prefix: string): string {
  const ok = lines.every((l) => l.startsWith(prefix) || l.trim() === '');
  return lines.map((l) => `${!ok ? l : l.startsWith(prefix) ? l.slice(prefix.length) : ''}\n`).join('');
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

function isHex(c: string | undefined): boolean {
  return c !== undefined && /^[0-9A-Fa-f]$/.test(c);
}

/** The code point (one or two UTF-16 units) starting at `i`, or `''` at the end. */
function codePointAt(s: string, i: number): string {
  const cp = s.codePointAt(i);
  return cp === undefined ? '' : String.fromCodePoint(cp);
}
