/**
 * Configuration issues (errors and warnings) and their formatting.
 *
 * @module
 */

import type { Pos } from './nodes.js';

/**
 * What kind of problem an issue reports.
 *
 * - `syntax`: the text is not valid HCL / JSON,
 * - `unknown_key`: a key the schema does not define,
 * - `type`: a value of the wrong type,
 * - `missing`: a required key is absent,
 * - `duplicate`: a key given more than once,
 * - `range`: a number, duration or list length out of bounds,
 * - `enum`: a value not among the allowed ones,
 * - `duration`: a malformed Go duration string,
 * - `invalid`: rejected by a pattern or custom check,
 * - `deprecated`: a deprecated key is used (a warning).
 *
 * @example
 * ```ts
 * const code: IssueCode = 'unknown_key';
 * ```
 */
export type IssueCode =
  | 'syntax'
  | 'unknown_key'
  | 'type'
  | 'missing'
  | 'duplicate'
  | 'range'
  | 'enum'
  | 'duration'
  | 'invalid'
  | 'deprecated';

/**
 * One problem found in a configuration. `path` is the dotted key path
 * (`plugins.KeyManager.disk.plugin_data.keys_path`, list items as `[i]`);
 * `message` is complete without the position (which {@link describeIssues}
 * prepends).
 *
 * @example
 * ```ts
 * const issue: ConfigIssue = {
 *   code: 'type', severity: 'error', path: 'server.bind_port',
 *   message: 'server.bind_port: expected integer, got string "abc"',
 *   pos: { filename: 'server.conf', line: 3, column: 17, offset: 40 },
 * };
 * ```
 */
export interface ConfigIssue {
  readonly code: IssueCode;
  readonly severity: 'error' | 'warning';
  readonly message: string;
  readonly path: string;
  readonly pos?: Pos;
}

/**
 * Formats a position as `file:line:col` (`line:col` without a file name; just
 * the file name, or `''`, for positionless nodes).
 *
 * @example
 * ```ts
 * formatPos({ filename: 'server.conf', line: 12, column: 5, offset: 0 }); // 'server.conf:12:5'
 * ```
 */
export function formatPos(pos: Pos): string {
  if (pos.line <= 0) return pos.filename;
  const lc = `${pos.line}:${pos.column}`;
  return pos.filename ? `${pos.filename}:${lc}` : lc;
}

/**
 * Formats one issue as `file:line:col: message` (warnings get a `warning: `
 * prefix on the message).
 *
 * @example
 * ```ts
 * describeIssue(issue); // 'server.conf:12:5: unknown key "bind_adress" in server (did you mean "bind_address"?)'
 * ```
 */
export function describeIssue(issue: ConfigIssue): string {
  const where = issue.pos ? formatPos(issue.pos) : '';
  const text = issue.severity === 'warning' ? `warning: ${issue.message}` : issue.message;
  return where ? `${where}: ${text}` : text;
}

/**
 * Formats issues one per line, as `file:line:col: message`.
 *
 * @example
 * ```ts
 * const r = buildConfig(schema, text, { filename: 'server.conf' });
 * if (!r.ok) process.stderr.write(describeIssues(r.errors) + '\n');
 * ```
 */
export function describeIssues(issues: readonly ConfigIssue[]): string {
  return issues.map(describeIssue).join('\n');
}

/** How many issues {@link ConfigError} puts in its `message`. */
const MESSAGE_ISSUES = 3;

/**
 * An error carrying configuration issues. Its `message` joins the first few
 * issues (`; `-separated, with `(and N more)`); `issues` holds them all.
 *
 * @example
 * ```ts
 * try {
 *   parseConfig('server {', { filename: 'server.conf' });
 * } catch (err) {
 *   if (err instanceof ConfigError) console.log(err.issues[0]?.pos?.line);
 * }
 * ```
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    const shown = issues.slice(0, MESSAGE_ISSUES).map(describeIssue);
    const more = issues.length > MESSAGE_ISSUES ? ` (and ${issues.length - MESSAGE_ISSUES} more)` : '';
    super(issues.length === 0 ? 'invalid configuration' : shown.join('; ') + more);
    this.issues = issues;
  }
}

/** Creates a `syntax` issue at `pos`. */
export function syntaxIssue(pos: Pos, message: string): ConfigIssue {
  return { code: 'syntax', severity: 'error', message, path: '', pos };
}

/** Throws a {@link ConfigError} holding one `syntax` issue. */
export function syntaxError(pos: Pos, message: string): never {
  throw new ConfigError([syntaxIssue(pos, message)]);
}
