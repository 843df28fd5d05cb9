/**
 * The `spire-agent` command line: `run` and `validate`, with SPIRE's flags,
 * output and exit codes. The process (output streams, files, environment)
 * is passed in, so tests can run commands in-process too.
 *
 * @module
 */

import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Catalog, createCoreLogger, nullLogger } from '@spire-ts/common';
import type { Logger } from '@spire-ts/common';
import { describeIssues, formatPos } from '@spire-ts/plugin-sdk';
import type { ConfigIssue, EnvSource } from '@spire-ts/plugin-sdk';
import { flagsUsage, parseFlags } from '../config/flags.js';
import type { FlagValues } from '../config/flags.js';
import { byPosition, loadConfig } from '../config/load.js';
import type { LoadResult } from '../config/load.js';
import type { RuntimeConfig } from '../config/runtime.js';
import { isBuiltIntoAgent, validatePlugins } from '../catalog/validate.js';

/**
 * What the CLI may touch.
 *
 * @example
 * ```ts
 * const io: CliIO = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), readFile, cwd: '/tmp', env: {} };
 * ```
 */
export interface CliIO {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly readFile: (path: string) => string;
  readonly cwd: string;
  readonly env?: EnvSource;
  readonly version?: string;
}

interface Command {
  readonly synopsis: string;
  readonly run: (args: readonly string[], io: CliIO) => Promise<number>;
}

/** Exit code for a missing or unknown command (as SPIRE's CLI library returns). */
export const EXIT_NO_COMMAND = 127;

/** What `run` reports once the configuration and plugins are up. */
export const NOT_BUILT_YET =
  'the configuration is valid and the plugins loaded and stopped again, but the rest of spire-agent ' +
  '(node attestation, the SVID cache, the Workload API) is not built yet: there is no agent to run';

const COMMANDS: Readonly<Record<string, Command>> = {
  run: { synopsis: 'Runs the agent', run: runCommand },
  validate: { synopsis: 'Validates a SPIRE agent configuration file', run: validateCommand },
};

function topUsage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 4;
  const lines = Object.entries(COMMANDS).map(([name, c]) => `    ${name.padEnd(width)}${c.synopsis}`);
  return `Usage: spire-agent [--version] [--help] <command> [<args>]\n\nAvailable commands are:\n${lines.join('\n')}\n`;
}

/**
 * Runs `spire-agent <args>` and resolves with the exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await main(['validate', '-config', 'agent.conf'], io);
 * ```
 */
export async function main(args: readonly string[], io: CliIO): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined) {
    io.stderr(topUsage());
    return EXIT_NO_COMMAND;
  }
  if (name === '-h' || name === '-help' || name === '--help') {
    io.stderr(topUsage());
    return 0;
  }
  if (name === '-v' || name === '-version' || name === '--version') {
    io.stdout(`${io.version ?? 'unknown'}\n`);
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    io.stderr(`spire-agent: unknown command ${JSON.stringify(name)}\n\n${topUsage()}`);
    return EXIT_NO_COMMAND;
  }
  return command.run(rest, io);
}

/** Parses flags, or prints the help or the error and gives the exit code. */
function flagsOrExit(command: string, args: readonly string[], io: CliIO): { flags: FlagValues } | { code: number } {
  const r = parseFlags(args);
  if (r.kind === 'help') {
    io.stderr(flagsUsage(command));
    return { code: 0 };
  }
  if (r.kind === 'error') {
    io.stderr(`${r.message}\n${flagsUsage(command)}`);
    return { code: 1 };
  }
  return { flags: r.flags };
}

function load(flags: FlagValues, io: CliIO): LoadResult {
  return loadConfig(flags, { readFile: io.readFile, cwd: io.cwd, ...(io.env ? { env: io.env } : {}) });
}

function allIssues(r: LoadResult): ConfigIssue[] {
  return (r.ok ? [...r.warnings] : [...r.errors, ...r.warnings]).sort(byPosition);
}

/** `spire-agent validate`: checks the configuration and each plugin's plugin_data, without starting anything else. */
export async function validateCommand(args: readonly string[], io: CliIO): Promise<number> {
  const f = flagsOrExit('validate', args, io);
  if ('code' in f) return f.code;
  const loaded = load(f.flags, io);
  if (!loaded.ok) {
    io.stderr(`SPIRE agent configuration file is invalid:\n${describeIssues(allIssues(loaded))}\n`);
    return 1;
  }
  if (loaded.warnings.length) io.stderr(`${describeIssues(loaded.warnings)}\n`);
  let results;
  try {
    results = await validatePlugins(loaded.config.plugins, { trustDomain: loaded.config.trustDomain, log: nullLogger });
  } catch (err) {
    io.stderr(`Could not validate configuration file: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const invalid = results.filter((r) => r.notes.length > 0);
  if (invalid.length) {
    let out = 'SPIRE agent configuration file is invalid.\nValidation errors:\n';
    for (const r of invalid) out += `\t${r.id}:\n${r.notes.map((n) => `\t\t${n}\n`).join('')}`;
    io.stderr(out);
    return 1;
  }
  io.stdout('SPIRE agent configuration file is valid.\n');
  return 0;
}

function agentLogger(config: RuntimeConfig, io: CliIO): Logger {
  const file = config.log.file;
  let write = (line: string): void => io.stderr(line);
  if (file) {
    mkdirSync(dirname(file), { recursive: true });
    appendFileSync(file, '', { mode: 0o640 });
    write = (line) => appendFileSync(file, line);
  }
  return createCoreLogger({ level: config.log.level, format: config.log.format, write });
}

/**
 * `spire-agent run`: loads and checks the configuration, then starts the
 * plugin catalog. The rest of the agent is not built yet, so it then stops
 * the plugins and exits 1 saying so.
 */
export async function runCommand(args: readonly string[], io: CliIO): Promise<number> {
  const f = flagsOrExit('run', args, io);
  if ('code' in f) return f.code;
  const loaded = load(f.flags, io);
  if (!loaded.ok) {
    io.stderr(`${describeIssues(allIssues(loaded))}\n`);
    return 1;
  }
  const config = loaded.config;
  let log: Logger;
  try {
    log = agentLogger(config, io);
  } catch (err) {
    io.stderr(`could not open log file ${JSON.stringify(config.log.file)}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  /** Errors also reach the terminal when logs go to a file. */
  const fail = (msg: string, fields?: Record<string, unknown>): number => {
    log.error(msg, fields);
    if (config.log.file) io.stderr(`spire-agent: ${msg}${fields?.error ? `: ${String(fields.error)}` : ''}\n`);
    return 1;
  };
  for (const w of loaded.warnings) log.warn(w.message, w.pos ? { config: formatPos(w.pos) } : undefined);
  log.info('Starting spire-agent', { trust_domain: config.trustDomain, config: config.configPath, data_dir: config.dataDir, server: `${config.serverAddress}:${config.serverPort}` });
  // NodeAttestor "join_token" is part of the agent, not a plugin process.
  const launched = config.plugins.filter((d) => !isBuiltIntoAgent(d));
  let catalog: Catalog;
  try {
    catalog = await Catalog.load(launched, { side: 'agent', trustDomain: config.trustDomain, log });
  } catch (err) {
    return fail('Failed to load plugins', { error: err instanceof Error ? err.message : String(err) });
  }
  await catalog.close();
  log.info('Plugins stopped');
  return fail(NOT_BUILT_YET);
}
