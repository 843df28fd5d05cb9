/**
 * The admin verbs of `spire-server` (entry, agent, bundle, token, x509,
 * jwt, healthcheck), dispatched by their one- or two-word names as
 * SPIRE's command line does.
 *
 * @module
 */

import { agentBan, agentCount, agentEvict, agentList, agentShow, tokenGenerate } from './agent.js';
import { bundleCount, bundleDelete, bundleList, bundleSet, bundleShow } from './bundle.js';
import { runAdminCommand } from './command.js';
import type { AdminCommand, AdminIO } from './command.js';
import { entryCount, entryCreate, entryDelete, entryShow, entryUpdate } from './entry.js';
import { federationCreate, federationDelete, federationList, federationRefresh, federationShow, federationUpdate } from './federation.js';
import { healthcheck, jwtMint, x509Mint } from './mint.js';

export type { AdminIO } from './command.js';

/** Every admin command, by its full name (`entry create`). */
export const ADMIN_COMMANDS: readonly AdminCommand[] = [
  agentBan,
  agentCount,
  agentEvict,
  agentList,
  agentShow,
  bundleCount,
  bundleDelete,
  bundleList,
  bundleSet,
  bundleShow,
  entryCount,
  entryCreate,
  entryDelete,
  entryShow,
  entryUpdate,
  federationCreate,
  federationDelete,
  federationList,
  federationRefresh,
  federationShow,
  federationUpdate,
  healthcheck,
  jwtMint,
  tokenGenerate,
  x509Mint,
];

/** The first words of the admin commands (`entry`, `healthcheck`, ...). */
export const ADMIN_GROUPS: ReadonlySet<string> = new Set(ADMIN_COMMANDS.map((c) => c.name.split(' ')[0]!));

const GROUP_NOUNS: Readonly<Record<string, string>> = {
  agent: 'Manages attested agents',
  bundle: 'Manages trust bundles',
  entry: 'Manages registration entries',
  federation: 'Manages federation relationships',
  jwt: 'Mints JWT-SVIDs',
  token: 'Generates join tokens',
  x509: 'Mints X509-SVIDs',
};

/** Synopses of the admin groups for the top-level help (`entry`: `Manages registration entries (count, create, ...)`). */
export const ADMIN_SYNOPSES: Readonly<Record<string, string>> = Object.fromEntries(
  [...ADMIN_GROUPS].map((group) => {
    const single = ADMIN_COMMANDS.find((c) => c.name === group);
    if (single) return [group, single.synopsis];
    const subs = ADMIN_COMMANDS.filter((c) => c.name.startsWith(`${group} `)).map((c) => c.name.slice(group.length + 1));
    return [group, `${GROUP_NOUNS[group] ?? group} (${subs.join(', ')})`];
  }),
);

/** `Available subcommands are:` lines for a group. */
function groupUsage(group: string): string {
  const subs = ADMIN_COMMANDS.filter((c) => c.name.startsWith(`${group} `));
  const width = Math.max(...subs.map((c) => c.name.length - group.length - 1)) + 4;
  const lines = subs.map((c) => `    ${c.name.slice(group.length + 1).padEnd(width)}${c.synopsis}`);
  return `Usage: spire-server ${group} <subcommand> [options]\n\nAvailable subcommands are:\n${lines.join('\n')}\n`;
}

/**
 * Runs `spire-server <group> [<subcommand>] <flags>` for an admin group and
 * resolves with the exit code: a missing or unknown subcommand lists the
 * group's subcommands and exits 1.
 *
 * @example
 * ```ts
 * await adminMain(['entry', 'count', '-socketPath', '/tmp/api.sock'], io);
 * ```
 */
export async function adminMain(args: readonly string[], io: AdminIO): Promise<number> {
  const [group, sub, ...rest] = args;
  const single = ADMIN_COMMANDS.find((c) => c.name === group);
  if (single) return runAdminCommand(single, args.slice(1), io);
  const command = sub === undefined ? undefined : ADMIN_COMMANDS.find((c) => c.name === `${group} ${sub}`);
  if (command) return runAdminCommand(command, rest, io);
  if (sub === '-h' || sub === '-help' || sub === '--help') {
    io.stderr(groupUsage(group!));
    return 0;
  }
  io.stderr(`${sub === undefined ? `spire-server ${group}: a subcommand is required` : `spire-server ${group}: unknown subcommand ${JSON.stringify(sub)}`}\n\n${groupUsage(group!)}`);
  return 1;
}
