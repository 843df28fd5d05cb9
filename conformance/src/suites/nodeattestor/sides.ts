/**
 * The two halves of an attestor as the NodeAttestor suite drives them:
 * plugins launched through the real plugin host (built-in or any binary),
 * wrapped in the server's and the agent's own NodeAttestor facades; or, for
 * attestors built into SPIRE (join_token), the host's in-process code the
 * fixture hands over.
 */
import { ManagedPlugin, type HostServiceRegistration, type Logger } from '@spire-ts/common';
import { NodeAttestorV1 as AgentNodeAttestorV1, type AgentNodeAttestor } from '@spire-ts/agent';
import { NodeAttestorV1 as ServerNodeAttestorV1, type AttestationResult } from '@spire-ts/server';
import type { PluginTarget } from '../../target.js';
import type { FixtureEnv, NegativeCase } from './fixture.js';

/**
 * A negative case whose raw payload's challenges are answered by the fixture
 * as they come (e.g. signed with the wrong key), where fixed
 * `challengeResponses` cannot answer a fresh nonce.
 */
export interface InteractiveNegativeCase extends NegativeCase {
  respond?(challenge: Uint8Array, index: number): Promise<Uint8Array> | Uint8Array;
}

/** The server half: attest a payload, relaying challenges. */
export interface ServerAttestor {
  attest(payload: Uint8Array, challenge: (challenge: Uint8Array) => Promise<Uint8Array>): Promise<AttestationResult>;
}

/**
 * A running fixture for an attestor built into SPIRE's server and agent
 * (no plugins): the suite drives the host code it returns.
 */
export interface BuiltInFixtureEnv extends FixtureEnv {
  readonly builtIn: {
    /** The agent side for one attestation, configured with `pluginData` (the fixture's, or a case's). */
    agent(pluginData: string): Promise<AgentNodeAttestor>;
    /** The server side. */
    readonly server: ServerAttestor;
    /** Why the server side can no longer serve (e.g. its DataStore died), or undefined. */
    problem?(): string | undefined;
  };
}

export function isBuiltInEnv(env: FixtureEnv): env is BuiltInFixtureEnv {
  return typeof (env as Partial<BuiltInFixtureEnv>).builtIn === 'object' && (env as Partial<BuiltInFixtureEnv>).builtIn !== null;
}

/** One half, started with some plugin_data. */
export interface Half<T> {
  readonly pluginData: string;
  /** The attestor for one exchange (agent halves: a fresh one each time). */
  attestor(): Promise<T>;
  /** Why this half can no longer serve (process gone, crashed...), or undefined. */
  problem(): string | undefined;
  stop(): Promise<void>;
}

type AgentService = 'spire.plugin.agent.nodeattestor.v1.NodeAttestor';
type ServerService = 'spire.plugin.server.nodeattestor.v1.NodeAttestor';

function pluginProblem(plugin: ManagedPlugin, pid: number | undefined): string | undefined {
  const state = plugin.currentState;
  if (state !== 'ready') {
    const exit = plugin.lastExit;
    const how = exit ? ` (exit code ${exit.code ?? '-'}, signal ${exit.signal ?? '-'})` : '';
    return `${plugin.label} is ${state}${how}`;
  }
  if (pid === undefined || plugin.pid !== pid) return `${plugin.label} was restarted (pid ${pid ?? '?'} → ${plugin.pid ?? '?'})`;
  try {
    process.kill(pid, 0);
  } catch {
    return `${plugin.label} process ${pid} is gone`;
  }
  return undefined;
}

async function startPlugin<S extends AgentService | ServerService>(
  target: PluginTarget,
  service: S,
  pluginData: string,
  trustDomain: string,
  log: Logger,
  env: Readonly<Record<string, string>> | undefined,
  hostServices: HostServiceRegistration[] = [],
): Promise<ManagedPlugin<S>> {
  const launch = { ...target.launch, ...(env ? { env: { ...target.launch.env, ...env } } : {}) };
  const plugin = new ManagedPlugin({ launch, service, pluginData, trustDomain, log, restart: false, hostServices });
  await plugin.start();
  return plugin;
}

/** The agent-side plugin, started with `pluginData`. */
export async function agentPluginHalf(
  target: PluginTarget,
  pluginData: string,
  trustDomain: string,
  log: Logger,
  env?: Readonly<Record<string, string>>,
): Promise<Half<AgentNodeAttestor>> {
  const plugin = await startPlugin(target, 'spire.plugin.agent.nodeattestor.v1.NodeAttestor', pluginData, trustDomain, log, env);
  const pid = plugin.pid;
  const facade = new AgentNodeAttestorV1(plugin, { deadlineMs: 60_000 });
  return {
    pluginData,
    attestor: () => Promise.resolve(facade),
    problem: () => pluginProblem(plugin as unknown as ManagedPlugin, pid),
    stop: () => plugin.stop(),
  };
}

/** The server-side plugin, started with `pluginData` and offered `hostServices` (the suite's AgentStore). */
export async function serverPluginHalf(
  target: PluginTarget,
  pluginData: string,
  trustDomain: string,
  log: Logger,
  hostServices: HostServiceRegistration[] = [],
): Promise<Half<ServerAttestor>> {
  const plugin = await startPlugin(target, 'spire.plugin.server.nodeattestor.v1.NodeAttestor', pluginData, trustDomain, log, undefined, hostServices);
  const pid = plugin.pid;
  const facade = new ServerNodeAttestorV1(plugin, { deadlineMs: 60_000 });
  return {
    pluginData,
    attestor: () => Promise.resolve(facade),
    problem: () => pluginProblem(plugin as unknown as ManagedPlugin, pid),
    stop: () => plugin.stop(),
  };
}

/** The agent side of a built-in attestor. */
export function builtInAgentHalf(env: BuiltInFixtureEnv, pluginData: string): Half<AgentNodeAttestor> {
  return {
    pluginData,
    attestor: () => env.builtIn.agent(pluginData),
    problem: () => undefined,
    stop: () => Promise.resolve(),
  };
}

/** The server side of a built-in attestor. */
export function builtInServerHalf(env: BuiltInFixtureEnv, pluginData: string): Half<ServerAttestor> {
  return {
    pluginData,
    attestor: () => Promise.resolve(env.builtIn.server),
    problem: () => env.builtIn.problem?.(),
    stop: () => Promise.resolve(),
  };
}
