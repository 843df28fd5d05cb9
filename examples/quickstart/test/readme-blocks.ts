// Reading the repository README's examples for test/readme.test.ts: each
// example is a fenced block preceded by `<!-- readme-test: NAME -->`; a tiny
// shell-line parser (words, quotes, `# comments`, `> file`, a trailing `&`)
// for the ```sh blocks; and the rewriting of the README's production paths
// and ports into a test's own directory.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const README = `${REPO}README.md`;

export interface Block {
  name: string;
  lang: string;
  body: string;
}

/** Every marked block of the README, by name (a name used twice is an error). */
export function readmeBlocks(text = readFileSync(README, 'utf8')): Map<string, Block> {
  const blocks = new Map<string, Block>();
  const re = /<!-- readme-test: ([\w-]+) -->\n```(\w*)\n([\s\S]*?)\n```/g;
  for (const m of text.matchAll(re)) {
    if (blocks.has(m[1]!)) throw new Error(`README.md: readme-test block "${m[1]}" is marked twice`);
    blocks.set(m[1]!, { name: m[1]!, lang: m[2]!, body: m[3]! });
  }
  const markers = text.split('<!-- readme-test:').length - 1;
  if (markers !== blocks.size) throw new Error(`README.md: ${markers} readme-test markers but ${blocks.size} blocks follow one directly`);
  return blocks;
}

export function block(blocks: Map<string, Block>, name: string): Block {
  const b = blocks.get(name);
  if (!b) throw new Error(`README.md has no block marked <!-- readme-test: ${name} -->`);
  return b;
}

/** One command line of a ```sh block. */
export interface ShLine {
  /** The line as written (for messages). */
  text: string;
  argv: string[];
  /** `> path`: stdout goes to this file. */
  stdoutTo?: string;
  /** A trailing `&`: a long-running process. */
  background: boolean;
  /** The comment after `#`, if any. */
  comment: string;
}

/** Splits a line into words as sh would for the simple lines the README uses (no variables, no pipes). */
export function parseShLine(text: string): ShLine | undefined {
  const words: string[] = [];
  let cur: string | undefined;
  let comment = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unterminated ${c} in: ${text}`);
      cur = (cur ?? '') + text.slice(i + 1, end);
      i = end;
    } else if (c === ' ' || c === '\t') {
      if (cur !== undefined) words.push(cur);
      cur = undefined;
    } else if (c === '#' && cur === undefined) {
      comment = text.slice(i + 1).trim();
      break;
    } else if (c === '|' || c === '$' || c === '`' || c === ';' || c === '<' && !/^<\w+>/.test(text.slice(i))) {
      throw new Error(`README sh lines must stay simple (no ${c}): ${text}`);
    } else {
      cur = (cur ?? '') + c;
    }
  }
  if (cur !== undefined) words.push(cur);
  if (words.length === 0) return undefined;
  const line: ShLine = { text: text.trim(), argv: words, background: false, comment };
  if (words.at(-1) === '&') {
    line.background = true;
    words.pop();
  }
  const redirect = words.indexOf('>');
  if (redirect >= 0) {
    if (redirect !== words.length - 2) throw new Error(`"> file" must end the line: ${text}`);
    line.stdoutTo = words[redirect + 1];
    words.splice(redirect, 2);
  }
  return line;
}

export function shLines(b: Block): ShLine[] {
  return b.body.split('\n').flatMap((l) => parseShLine(l) ?? []);
}

/**
 * The README's production locations → the test's own: the data
 * directories, /etc/spire, the two sockets, the ports and the workload's
 * uid (the README registers user 1000; the test's workloads run as this
 * process's user).
 */
export interface Places {
  dir: string;
  port: number;
  healthPort: number;
  uid: number;
}

export function serverSocket(p: Places): string {
  return `${p.dir}/server/private/api.sock`;
}
export function agentSocket(p: Places): string {
  return `${p.dir}/agent/public/api.sock`;
}

export function substitute(text: string, p: Places): string {
  return text
    .replaceAll('/tmp/spire-server/private/api.sock', serverSocket(p))
    .replaceAll('/tmp/spire-agent/public/api.sock', agentSocket(p))
    .replaceAll('/var/lib/spire-server', `${p.dir}/server`)
    .replaceAll('/var/lib/spire-agent', `${p.dir}/agent`)
    .replaceAll('/etc/spire', `${p.dir}/etc`)
    .replaceAll('"8081"', `"${p.port}"`)
    .replaceAll('"8080"', `"${p.healthPort}"`)
    .replaceAll('unix:uid:1000', `unix:uid:${p.uid}`);
}

/** `config` with its `DataStore "sql" { ... }` block replaced by `replacement`. */
export function replaceDataStore(config: string, replacement: string): string {
  return replaceBlock(config, 'DataStore "sql"', replacement);
}

/** `config` with its `<header> { ... }` block (e.g. `KeyManager "disk"`) replaced by `replacement`. */
export function replaceBlock(config: string, header: string, replacement: string): string {
  const start = config.search(new RegExp(`^\\s*${header} \\{`, 'm'));
  if (start < 0) throw new Error(`no ${header} block in the config`);
  let depth = 0;
  for (let i = config.indexOf('{', start); i < config.length; i++) {
    if (config[i] === '{') depth++;
    else if (config[i] === '}' && --depth === 0) return config.slice(0, start) + '\n' + replacement + config.slice(i + 1);
  }
  throw new Error('unbalanced braces in the server config');
}

/**
 * The runs of two or more plain words (or a lone `label:`) in a README output line: the parts
 * that must be written literally in the program printing it (IDs, serials,
 * numbers, paths and elisions vary from run to run and are left out).
 */
export function literalRuns(line: string): string[] {
  const runs: string[] = [];
  let run: string[] = [];
  const flush = (): void => {
    // Two words or more, or one label such as "identity:".
    if (run.length >= 2 || (run.length === 1 && run[0]!.endsWith(':'))) runs.push(run.join(' '));
    run = [];
  };
  for (const word of line.trim().split(/\s+/)) {
    if (/^[A-Za-z][A-Za-z-]*[:,.]?$/.test(word)) {
      run.push(word);
      if (/[:,.]$/.test(word)) flush();
    } else {
      flush();
    }
  }
  flush();
  return runs;
}
