import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, createReadStream, existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { createClient, type ServiceClientOf, type ServiceName } from '@spire-ts/proto';
import { APP_PROTOCOL_VERSION, type PluginType } from '@spire-ts/plugin-sdk';
import type { Logger } from '../log/logger.js';
import { PluginHostError, pluginLabel } from './errors.js';
import { HandshakeError, parseHandshake, type Handshake } from './handshake.js';
import { parsePluginStderr } from './hclog.js';
import { PluginRpc } from './h2rpc.js';
import { forgetPluginChild, pluginSocketParents, removePluginSocket, trackPluginChild, type ReapableChild } from './reaper.js';

/** How to start one plugin process. */
export interface LaunchSpec {
  type: PluginType;
  name: string;
  /** Executable to run (absolute, or relative to `cwd`). */
  command: string;
  args?: string[];
  /** Hex SHA-256 the file at `command` must have (`plugin_checksum`). */
  checksum?: string;
  /** Extra environment for the child. */
  env?: Record<string, string>;
  /** Give up waiting for the handshake line after this long (default 30 s). */
  handshakeTimeoutMs?: number;
  cwd?: string;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const STDERR_TAIL_LINES = 20;
const MAX_MESSAGE = 2 ** 31 - 1;
let setprivPath: string | null | undefined;

function setpriv(): string | null {
  if (setprivPath === undefined) {
    setprivPath = process.platform === 'linux' ? (['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) ?? null) : null;
  }
  return setprivPath;
}

/** Hex SHA-256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * A started, handshaken plugin process with a gRPC channel to it.
 */
export class PluginProcess {
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;
  private readonly channelOptions: grpc.ChannelOptions;
  private readonly clients = new Map<string, grpc.Client>();
  readonly channel: grpc.Channel;
  /** Lean unary client for the hot path (see PluginRpc). */
  readonly rpc: PluginRpc;

  /**
   * @param socketParents where the plugin may have made its private socket
   *   directory (see {@link removePluginSocket}); the socket, and that
   *   directory when empty, are removed once the process exited, so a
   *   SIGKILLed plugin leaves nothing behind either.
   */
  constructor(
    readonly child: ChildProcess,
    readonly handshake: Handshake,
    readonly label: string,
    exited: Promise<ExitInfo>,
    socketParents: readonly string[] = pluginSocketParents(process.env),
  ) {
    const cleanupNow = (): void => {
      if (handshake.network === 'unix') removePluginSocket(handshake.address, socketParents);
    };
    const reapable: ReapableChild = {
      killNow: () => {
        if (child.exitCode === null && child.signalCode === null) {
          try {
            child.kill('SIGKILL');
          } catch {
            /* gone */
          }
        }
      },
      cleanupNow,
    };
    trackPluginChild(reapable);
    this.exited = exited.then((info) => {
      forgetPluginChild(reapable);
      cleanupNow();
      return (this.exitInfo = info);
    });
    const target = handshake.network === 'unix' ? `unix:${handshake.address}` : handshake.address;
    this.channelOptions = {
      'grpc.max_receive_message_length': MAX_MESSAGE,
      'grpc.max_send_message_length': MAX_MESSAGE,
      // go-plugin dials the literal target "unused"; match its :authority.
      'grpc.default_authority': 'unused',
    };
    this.channel = new grpc.Channel(target, grpc.credentials.createInsecure(), this.channelOptions);
    this.rpc = new PluginRpc(handshake.address, { network: handshake.network });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** How the process exited, once it has. */
  get exitStatus(): ExitInfo | undefined {
    return this.exitInfo;
  }

  get hasExited(): boolean {
    return this.exitInfo !== undefined || this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** A typed client for `name` on this process's channel (cached). */
  client<N extends ServiceName>(name: N): ServiceClientOf<N> {
    let c = this.clients.get(name);
    if (!c) {
      c = createClient(name, 'unused', grpc.credentials.createInsecure(), { channelOverride: this.channel }) as unknown as grpc.Client;
      this.clients.set(name, c);
    }
    return c as unknown as ServiceClientOf<N>;
  }

  /** Closes the channel (does not stop the process). */
  closeChannel(): void {
    this.channel.close();
    this.rpc.close();
  }

  /** Sends a signal if the process is still running. */
  signal(sig: NodeJS.Signals): void {
    if (!this.hasExited) {
      try {
        this.child.kill(sig);
      } catch {
        /* gone */
      }
    }
  }

  /** Waits up to `ms` for exit; true if it exited. */
  async waitExit(ms: number): Promise<boolean> {
    if (this.hasExited) return true;
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      this.exited.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms))),
    ]);
    clearTimeout(timer);
    return done;
  }
}

function checkExecutable(label: string, path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new PluginHostError('ERR_PLUGIN_NOT_FOUND', `${label}: plugin executable not found: ${path}`);
  }
  if (!st.isFile()) throw new PluginHostError('ERR_PLUGIN_NOT_EXECUTABLE', `${label}: plugin path is not a regular file: ${path}`);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new PluginHostError('ERR_PLUGIN_NOT_EXECUTABLE', `${label}: plugin is not executable: ${path} (chmod +x it, or check its mount options)`);
  }
}

/**
 * Starts a plugin: verifies the binary (existence, mode, `plugin_checksum`),
 * runs it with the go-plugin environment and a parent-death signal, relays
 * its stderr into `log`, and waits for a valid handshake line.
 */
export async function launchPlugin(spec: LaunchSpec, log: Logger): Promise<PluginProcess> {
  const label = pluginLabel(spec.type, spec.name);
  const command = isAbsolute(spec.command) ? spec.command : resolve(spec.cwd ?? process.cwd(), spec.command);
  checkExecutable(label, command);
  if (spec.checksum !== undefined && spec.checksum !== '') {
    const want = spec.checksum.trim().toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(want)) {
      throw new PluginHostError('ERR_PLUGIN_CHECKSUM', `${label}: plugin_checksum must be 64 hex digits (SHA-256), got ${JSON.stringify(spec.checksum)}`);
    }
    const got = await sha256File(command);
    if (got !== want) {
      throw new PluginHostError('ERR_PLUGIN_CHECKSUM', `${label}: checksum mismatch for ${command}: expected ${want}, got ${got}; refusing to start it`);
    }
  }

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...spec.env,
    [spec.type]: spec.type,
    PLUGIN_PROTOCOL_VERSIONS: String(APP_PROTOCOL_VERSION),
    PLUGIN_MIN_PORT: '10000',
    PLUGIN_MAX_PORT: '25000',
  };
  const args = spec.args ?? [];
  // setpriv makes the kernel SIGKILL the plugin if we die, even by SIGKILL (SPIRE sets Pdeathsig too).
  // SPIRE_TS_PLUGIN_PDEATHSIG=0 is a test/diagnostic switch that runs the plugin without that wrapper,
  // leaving parent-death detection to the plugin itself (the SDK polls its ppid).
  const sp = process.env.SPIRE_TS_PLUGIN_PDEATHSIG === '0' ? null : setpriv();
  const [file, argv] = sp ? [sp, ['--pdeathsig', 'KILL', '--', command, ...args]] : [command, args];
  const child = spawn(file, argv, { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: spec.cwd, detached: false });

  const exited = new Promise<ExitInfo>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  const spawnError = new Promise<Error>((res) => child.once('error', res));

  // stderr: re-log under the plugin's name, and keep a tail for error messages.
  const tail: string[] = [];
  const plog = log.with({ plugin_type: spec.type, plugin_name: spec.name, subsystem_name: 'catalog' });
  const state = { panicking: false };
  createInterface({ input: child.stderr! }).on('line', (line) => {
    tail.push(line);
    if (tail.length > STDERR_TAIL_LINES) tail.shift();
    const entry = parsePluginStderr(line, state);
    plog[entry.level](entry.msg, entry.fields);
  });

  const stdout = createInterface({ input: child.stdout! });
  const firstLine = new Promise<string>((res) => {
    let seen = false;
    stdout.on('line', (line) => {
      if (!seen) {
        seen = true;
        res(line);
      } else {
        plog.debug('ignoring stdout line after handshake', { line });
      }
    });
  });
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    if (partial.length < 512) partial += d.toString('utf8');
  });

  const timeoutMs = spec.handshakeTimeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    firstLine.then((line) => ({ kind: 'line' as const, line })),
    exited.then((info) => ({ kind: 'exit' as const, info })),
    spawnError.then((err) => ({ kind: 'error' as const, err })),
    new Promise<{ kind: 'timeout' }>((res) => (timer = setTimeout(() => res({ kind: 'timeout' }), timeoutMs))),
  ]);
  clearTimeout(timer);

  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  const stderrTail = async (): Promise<string> => {
    await new Promise((r) => setTimeout(r, 20)); // let the last stderr lines arrive
    return tail.length ? `; plugin stderr:\n  ${tail.join('\n  ')}` : '';
  };

  switch (outcome.kind) {
    case 'error':
      throw new PluginHostError('ERR_PLUGIN_NOT_EXECUTABLE', `${label}: failed to start ${command}: ${outcome.err.message}`, { cause: outcome.err });
    case 'exit': {
      const { code, signal } = outcome.info;
      const how = signal ? `killed by ${signal}` : `exit code ${code}`;
      const half = partial && !partial.includes('\n') ? `; it printed an incomplete handshake ${JSON.stringify(partial.slice(0, 200))}` : '';
      throw new PluginHostError('ERR_PLUGIN_EXITED', `${label}: plugin exited before completing the handshake (${how})${half}${await stderrTail()}`);
    }
    case 'timeout': {
      await kill();
      const half = partial ? ` (partial handshake so far: ${JSON.stringify(partial.slice(0, 200))})` : '';
      throw new PluginHostError('ERR_PLUGIN_TIMEOUT', `${label}: timed out after ${timeoutMs} ms waiting for the plugin's handshake line${half}${await stderrTail()}`);
    }
    case 'line': {
      let hs: Handshake;
      try {
        hs = parseHandshake(outcome.line);
      } catch (err) {
        await kill();
        const msg = err instanceof HandshakeError ? err.message : String(err);
        throw new PluginHostError('ERR_PLUGIN_HANDSHAKE', `${label}: ${msg}`, { cause: err });
      }
      plog.debug('plugin handshake complete', { pid: child.pid, address: hs.address });
      return new PluginProcess(child, hs, label, exited, pluginSocketParents(env));
    }
  }
}
