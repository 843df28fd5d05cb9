import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describeIssues } from '@spire-ts/plugin-sdk';
import type { ConfigIssue } from '@spire-ts/plugin-sdk';
import { mergeConfig, parseFile, validateConfig } from '@spire-ts/server';
import type { FlagValues, MergedConfig, PositionIndex, Validation } from '@spire-ts/server';

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

export const fixture = (name: string): string => readFileSync(`${FIXTURES}${name}`, 'utf8');

/** Issues as the `file:line:col: message` lines the CLI prints. */
export function lines(issues: readonly ConfigIssue[]): string[] {
  return issues.length ? describeIssues(issues).split('\n') : [];
}

/**
 * A minimal valid server config: `extra` starts at line 4 inside the server
 * block; for a one-line `extra`, the block ends on line 5 and the plugins
 * block takes lines 6-9.
 */
export function server(extra = '', plugins = PLUGINS): string {
  return `server {\n  trust_domain = "example.org"\n  data_dir = "/var/lib/spire"\n${extra}\n}\n${plugins}`;
}

export const PLUGINS = 'plugins {\n  DataStore "sql" {}\n  KeyManager "memory" {}\n}\n';

/** parseFile → mergeConfig → validateConfig on a text that must parse. */
export function check(text: string, flags: FlagValues = {}, platform: NodeJS.Platform = 'linux'): Validation & { merged: MergedConfig; index: PositionIndex } {
  const r = parseFile(text, { filename: 'server.conf' });
  if (!r.ok) throw new Error(`expected the file to parse:\n${describeIssues(r.errors)}`);
  const merged = mergeConfig(r.file, flags, 'server.conf');
  return { ...validateConfig(merged, r.index, { platform }), merged, index: r.index };
}
