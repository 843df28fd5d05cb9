/**
 * The `run` and `validate` command plumbing shared by spire-agent and
 * spire-server: SPIRE's flags, output and exit codes, parameterised by the
 * side. The process (output streams, files, environment) is passed in, so
 * tests can run commands in-process too.
 *
 * @module
 */

import { appendFileSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describeIssues, formatPos, makeDirectories } from '@spire-ts/plugin-sdk';
import type { ConfigIssue, EnvSource, PluginSide } from '@spire-ts/plugin-sdk';
import { createCoreLogger, nullLogger } from '../log/logger.js';
import type { LogFields, LogFormat, LogLevel, Logger } from '../log/logger.js';
import { Catalog } from '../plugin/catalog.js';
import { markHostShuttingDown, reapPluginsSync } from '../plugin/reaper.js';
import type { PluginDeclaration } from '../plugin/catalog.js';
import type { HostServiceRegistration } from '../plugin/managed.js';
import type { GoFlagsResult } from './flags.js';
import { byPosition } from './load.js';
import type { LoadIO, SideLoadResult } from './load.js';

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
  /** Aborted when a long-running command (`run`) should stop (SIGINT/SIGTERM for the process). */
  readonly stopSignal?: AbortSignal;
}

/**
 * What a side's `run` gets once its configuration is valid and its plugins
 * are loaded; it serves until `io.stopSignal` aborts and resolves with the exit code.
 */
export interface ServeContext<Config, HS extends SideHostServices = SideHostServices> {
  readonly config: Config;
  readonly catalog: Catalog;
  readonly log: Logger;
  readonly io: CliIO;
  /** The host services the plugins were started with (bound to the side's stores by `serve`). */
  readonly hostServices: HS | undefined;
}

/** The host services one side offers its plugins (SPIRE's server: AgentStore to NodeAttestors). */
export interface SideHostServices {
  /** The host services offered to one plugin. */
  forPlugin(decl: PluginDeclaration): HostServiceRegistration[];
}

/** Exit code for a missing or unknown command (as SPIRE's CLI library returns). */
export const EXIT_NO_COMMAND = 127;

/**
 * The part of a side's runtime configuration the commands use.
 *
 * @example
 * ```ts
 * const c: SideRuntimeConfig = { trustDomain: 'example.org', plugins: [], log: { level: 'INFO', format: 'text', file: undefined } };
 * ```
 */
export interface SideRuntimeConfig {
  readonly trustDomain: string;
  readonly plugins: readonly PluginDeclaration[];
  readonly log: { readonly level: LogLevel; readonly format: LogFormat; readonly file: string | undefined };
}

/**
 * What `validate` reports for one plugin.
 *
 * @example
 * ```ts
 * const v: SidePluginValidation = { id: 'KeyManager "memory"', notes: [] };
 * ```
 */
export interface SidePluginValidation {
  readonly id: string;
  readonly notes: readonly string[];
}

/**
 * How one side's command line differs from the other's.
 *
 * @example
 * ```ts
 * const cli = sideCli({ side: 'agent', noun: 'agent', ... });
 * ```
 */
export interface SideCliSpec<Flags, Config extends SideRuntimeConfig, HS extends SideHostServices = SideHostServices> {
  readonly side: PluginSide;
  /** A new set of host services for one `run` (created before the plugins start). */
  readonly hostServices?: () => HS;
  /** What `run` reports once the configuration and plugins are up, when the side has no {@link serve}. */
  readonly notBuiltYet: string;
  /** Runs the side with its loaded catalog until stopped; the catalog is closed afterwards. */
  readonly serve?: (ctx: ServeContext<Config, HS>) => Promise<number>;
  readonly parseFlags: (args: readonly string[]) => GoFlagsResult<Flags>;
  readonly flagsUsage: (command: string) => string;
  readonly loadConfig: (flags: Flags, io: LoadIO) => SideLoadResult<Config>;
  readonly validatePlugins: (
    decls: Config['plugins'],
    opts: { readonly trustDomain: string; readonly log: Logger },
  ) => Promise<readonly SidePluginValidation[]>;
  /** The fields of the "Starting spire-<side>" log line. */
  readonly startFields: (config: Config) => LogFields;
  /** The plugins `run` launches (default: all). */
  readonly launched?: (config: Config) => readonly PluginDeclaration[];
  /**
   * The side's other commands (admin or client verbs) by name, with their
   * synopses: listed with `run` and `validate` in the top-level usage. The
   * side's own `main` dispatches them before calling {@link SideCli.main}.
   */
  readonly moreCommands?: Readonly<Record<string, string>>;
}

/**
 * One side's commands.
 *
 * @example
 * ```ts
 * const code = await cli.main(['validate'], io);
 * ```
 */
export interface SideCli {
  readonly main: (args: readonly string[], io: CliIO) => Promise<number>;
  readonly runCommand: (args: readonly string[], io: CliIO) => Promise<number>;
  readonly validateCommand: (args: readonly string[], io: CliIO) => Promise<number>;
}

interface Command {
  readonly synopsis: string;
  readonly run: (args: readonly string[], io: CliIO) => Promise<number>;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Builds `spire-<side>`'s `main`, `run` and `validate`.
 *
 * @example
 * ```ts
 * export const { main, runCommand, validateCommand } = sideCli(spec);
 * ```
 */
export function sideCli<Flags, Config extends SideRuntimeConfig, HS extends SideHostServices = SideHostServices>(
  spec: SideCliSpec<Flags, Config, HS>,
): SideCli {
  const bin = `spire-${spec.side}`;
  const title = `SPIRE ${spec.side} configuration file`;

  /** Parses flags, or prints the help or the error and gives the exit code. */
  function flagsOrExit(command: string, args: readonly string[], io: CliIO): { flags: Flags } | { code: number } {
    const r = spec.parseFlags(args);
    if (r.kind === 'help') {
      io.stderr(spec.flagsUsage(command));
      return { code: 0 };
    }
    if (r.kind === 'error') {
      io.stderr(`${r.message}\n${spec.flagsUsage(command)}`);
      return { code: 1 };
    }
    return { flags: r.flags };
  }

  function load(flags: Flags, io: CliIO): SideLoadResult<Config> {
    return spec.loadConfig(flags, { readFile: io.readFile, cwd: io.cwd, ...(io.env ? { env: io.env } : {}) });
  }

  function allIssues(r: SideLoadResult<Config>): ConfigIssue[] {
    return (r.ok ? [...r.warnings] : [...r.errors, ...r.warnings]).sort(byPosition);
  }

  async function validateCommand(args: readonly string[], io: CliIO): Promise<number> {
    const f = flagsOrExit('validate', args, io);
    if ('code' in f) return f.code;
    const loaded = load(f.flags, io);
    if (!loaded.ok) {
      io.stderr(`${title} is invalid:\n${describeIssues(allIssues(loaded))}\n`);
      return 1;
    }
    if (loaded.warnings.length) io.stderr(`${describeIssues(loaded.warnings)}\n`);
    let results;
    try {
      results = await spec.validatePlugins(loaded.config.plugins, { trustDomain: loaded.config.trustDomain, log: nullLogger });
    } catch (err) {
      io.stderr(`Could not validate configuration file: ${errorText(err)}\n`);
      return 1;
    }
    const invalid = results.filter((r) => r.notes.length > 0);
    if (invalid.length) {
      let out = `${title} is invalid.\nValidation errors:\n`;
      for (const r of invalid) out += `\t${r.id}:\n${r.notes.map((n) => `\t\t${n}\n`).join('')}`;
      io.stderr(out);
      return 1;
    }
    io.stdout(`${title} is valid.\n`);
    return 0;
  }

  function sideLogger(config: Config, io: CliIO): Logger {
    const file = config.log.file;
    let write = (line: string): void => io.stderr(line);
    if (file) {
      makeDirectories(dirname(file), 0o777);
      appendFileSync(file, '', { mode: 0o640 });
      write = (line) => appendFileSync(file, line);
    }
    return createCoreLogger({ level: config.log.level, format: config.log.format, write });
  }

  async function runCommand(args: readonly string[], io: CliIO): Promise<number> {
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
      log = sideLogger(config, io);
    } catch (err) {
      io.stderr(`could not open log file ${JSON.stringify(config.log.file)}: ${errorText(err)}\n`);
      return 1;
    }
    /** Errors also reach the terminal when logs go to a file. */
    const fail = (msg: string, fields?: Record<string, unknown>): number => {
      log.error(msg, fields);
      if (config.log.file) io.stderr(`${bin}: ${msg}${fields?.error ? `: ${String(fields.error)}` : ''}\n`);
      return 1;
    };
    for (const w of loaded.warnings) log.warn(w.message, w.pos ? { config: formatPos(w.pos) } : undefined);
    log.info(`Starting ${bin}`, spec.startFields(config));
    const launched = spec.launched ? spec.launched(config) : config.plugins;
    const hostServices = spec.hostServices?.();
    let catalog: Catalog;
    try {
      catalog = await Catalog.load([...launched], {
        side: spec.side,
        trustDomain: config.trustDomain,
        log,
        ...(hostServices ? { hostServices: (decl: PluginDeclaration) => hostServices.forPlugin(decl) } : {}),
      });
    } catch (err) {
      return fail('Failed to load plugins', { error: errorText(err) });
    }
    if (spec.serve) {
      let code: number;
      try {
        code = await spec.serve({ config, catalog, log, io, hostServices });
      } catch (err) {
        code = fail(`${bin} failed`, { error: errorText(err) });
      }
      await catalog.close();
      log.info('Plugins stopped');
      return code;
    }
    await catalog.close();
    log.info('Plugins stopped');
    return fail(spec.notBuiltYet);
  }

  const commands: Readonly<Record<string, Command>> = {
    run: { synopsis: `Runs the ${spec.side}`, run: runCommand },
    validate: { synopsis: `Validates a ${title}`, run: validateCommand },
  };

  function topUsage(): string {
    // As SPIRE's (mitchellh/cli): every command, sorted by name.
    const listed = new Map<string, string>(Object.entries(spec.moreCommands ?? {}));
    for (const [name, c] of Object.entries(commands)) listed.set(name, c.synopsis);
    const names = [...listed.keys()].sort();
    const width = Math.max(...names.map((c) => c.length)) + 4;
    const lines = names.map((name) => `    ${name.padEnd(width)}${listed.get(name)}`.trimEnd());
    return `Usage: ${bin} [--version] [--help] <command> [<args>]\n\nAvailable commands are:\n${lines.join('\n')}\n`;
  }

  async function main(args: readonly string[], io: CliIO): Promise<number> {
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
    const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
    if (!command) {
      io.stderr(`${bin}: unknown command ${JSON.stringify(name)}\n\n${topUsage()}`);
      return EXIT_NO_COMMAND;
    }
    return command.run(rest, io);
  }

  return { main, runCommand, validateCommand };
}

/**
 * A second SIGINT or SIGTERM within this long of the first is the same stop
 * request delivered twice, and is ignored; a later one forces the exit.
 */
export const SECOND_SIGNAL_WINDOW_MS = 1000;

/**
 * Runs a side's `main` as the process: real stdio, files, cwd and
 * environment, the version from the package.json at `packageJsonUrl`, and
 * the exit code. The `spire-server` and `spire-agent` bins are this call.
 *
 * SIGINT or SIGTERM aborts `io.stopSignal` (and marks the host as shutting
 * down, so plugins that got the same signal are not restarted). A repeat
 * within {@link SECOND_SIGNAL_WINDOW_MS} is ignored; a later one exits at
 * once (130 or 143), SIGKILLing the plugins and removing their sockets first.
 */
export async function runProcessCli(
  main: (args: string[], io: CliIO) => Promise<number>,
  packageJsonUrl: URL,
): Promise<never> {
  let version: string | undefined;
  try {
    version = (JSON.parse(readFileSync(packageJsonUrl, 'utf8')) as { version?: string }).version;
  } catch {
    version = undefined;
  }
  const stop = new AbortController();
  let firstSignalAt: number | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    const now = performance.now();
    if (firstSignalAt === undefined) {
      firstSignalAt = now;
      // Synchronously, before any plugin exit is handled: a signal sent to the
      // whole process group reaches the plugins too, and their exit is no crash.
      markHostShuttingDown(sig);
      stop.abort(sig);
      return;
    }
    // The same stop request arriving twice (Ctrl-C to the process group, and a
    // supervisor passing it on) is not an impatient operator.
    if (now - firstSignalAt < SECOND_SIGNAL_WINDOW_MS) return;
    // A later signal while stopping: give up waiting, but leave no plugin or socket behind.
    process.stderr.write(`${sig} received again while stopping: exiting now, killing the plugins\n`);
    reapPluginsSync();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const code = await main(process.argv.slice(2), {
    stopSignal: stop.signal,
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    readFile: (path) => readFileSync(path, 'utf8'),
    cwd: process.cwd(),
    env: process.env,
    ...(version ? { version } : {}),
  });
  process.exit(code);
}
