/**
 * Stage 1 of the configuration pipeline: configuration text to a typed
 * {@link FileConfig}, with every structural problem found at once.
 *
 * @module
 */

import { parseSideFile } from '@spire-ts/common';
import type { ParseFileOptions, SideFileResult } from '@spire-ts/common';
import { agentFileSchema } from './schema.js';
import type { FileConfig } from './schema.js';

export { expandConfigEnv } from '@spire-ts/common';
export type { ParseFileOptions } from '@spire-ts/common';

/**
 * The outcome of {@link parseFile}: the typed file and where each key was
 * written, or every error; `notes` holds warnings in both cases.
 *
 * @example
 * ```ts
 * const r: FileResult = parseFile(text, { filename: 'agent.conf' });
 * if (!r.ok) process.stderr.write(describeIssues(r.errors) + '\n');
 * ```
 */
export type FileResult = SideFileResult<FileConfig>;

/**
 * Parses and checks a spire-agent configuration file (HCL, or the same
 * structure in JSON). Unknown keys (with a suggestion), wrong types, bad
 * values and duplicates are all reported as `file:line:col` issues.
 *
 * @example
 * ```ts
 * const r = parseFile('agent {\n  trust_domain = "example.org"\n}\n', { filename: 'agent.conf' });
 * if (r.ok) r.file.agent?.trust_domain; // 'example.org'
 * ```
 */
export function parseFile(text: string, opts: ParseFileOptions): FileResult {
  return parseSideFile(agentFileSchema, text, opts);
}
