import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { PositionIndex } from '@spire-ts/common';
import { describeIssues } from '@spire-ts/plugin-sdk';
import type { ConfigIssue } from '@spire-ts/plugin-sdk';
import { mergeConfig, parseFile, validateConfig } from '@spire-ts/agent';
import type { FlagValues, MergedConfig, Validation } from '@spire-ts/agent';

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

export const fixture = (name: string): string => readFileSync(`${FIXTURES}${name}`, 'utf8');

/** Issues as the `file:line:col: message` lines the CLI prints. */
export function lines(issues: readonly ConfigIssue[]): string[] {
  return issues.length ? describeIssues(issues).split('\n') : [];
}

export const BUNDLE = '  trust_bundle_path = "/etc/spire/bundle.pem"';

/**
 * A minimal valid agent config: `extra` starts at line 5 inside the agent
 * block; for a one-line `extra`, the block ends on line 6 and the plugins
 * block starts on line 7.
 */
export function agent(extra = BUNDLE, plugins = PLUGINS): string {
  return `agent {\n  server_address = "127.0.0.1"\n  server_port = 8081\n  trust_domain = "example.org"\n${extra}\n}\n${plugins}`;
}

export const PLUGINS = 'plugins {\n  KeyManager "memory" {}\n  NodeAttestor "join_token" {}\n  WorkloadAttestor "unix" {}\n}\n';

/** parseFile → mergeConfig → validateConfig on a text that must parse. */
export function check(text: string, flags: FlagValues = {}, platform: NodeJS.Platform = 'linux'): Validation & { merged: MergedConfig; index: PositionIndex } {
  const r = parseFile(text, { filename: 'agent.conf' });
  if (!r.ok) throw new Error(`expected the file to parse:\n${describeIssues(r.errors)}`);
  const merged = mergeConfig(r.file, flags, 'agent.conf');
  return { ...validateConfig(merged, r.index, { platform }), merged, index: r.index };
}
