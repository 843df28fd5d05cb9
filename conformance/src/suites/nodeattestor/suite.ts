/**
 * The NodeAttestor conformance suite: runs one {@link AttestorFixture}
 * through the real plugin host. It starts the fixture (its fakes) in a temp
 * dir, launches the agent-side and server-side plugins, relays the exchange
 * with the agent's and the server's own facades (payload → server,
 * challenge → agent → response → server) and checks the agent ID (under
 * `spiffe://<td>/spire/agent/<name>/`), the selectors and can_reattest.
 * Then each negative case: arrange, relaunch a plugin whose plugin_data the
 * case changes, exchange (or send the case's raw payload), expect the code
 * and message, check the server plugin is still alive, restore. A last
 * happy path proves the server still attests after all of them.
 *
 * The negative cases are the fixture's, known once it is set up: `setup()`
 * inserts one case per negative between the first and the last case.
 *
 * The suite plays the server's part for the AgentStore host service: an
 * agent ID that attested successfully is "attested" from then on (so a
 * replay is refused by attestors that trust on first use), and the last
 * case evicts it first, as an operator would before a re-attestation.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nullLogger, type Logger } from '@spire-ts/common';
import { statusName } from '@spire-ts/plugin-sdk';
import type { AgentNodeAttestor } from '@spire-ts/agent';
import { AgentStoreHostService, type AttestationResult } from '@spire-ts/server';
import { check, errMessage, type Case, type Suite } from '../../harness.js';
import { builtInTarget, type PluginTarget } from '../../target.js';
import type { AttestorFixture, FixtureEnv } from './fixture.js';
import {
  agentPluginHalf,
  builtInAgentHalf,
  builtInServerHalf,
  isBuiltInEnv,
  serverPluginHalf,
  type Half,
  type InteractiveNegativeCase,
  type ServerAttestor,
} from './sides.js';

export interface NodeAttestorSuiteOptions {
  /** Trust domain sent in Configure (default example.org). */
  readonly trustDomain?: string;
  /** The plugins' logs (default: none). */
  readonly log?: Logger;
  /** The agent-side plugin (default: the built-in `agent:NodeAttestor:<name>`); its plugin_data is the fixture's. */
  readonly agentTarget?: PluginTarget;
  /** The server-side plugin (default: the built-in `server:NodeAttestor:<name>`). */
  readonly serverTarget?: PluginTarget;
}

export interface NodeAttestorContext {
  readonly tmpDir: string;
  readonly env: FixtureEnv;
  agent: Half<AgentNodeAttestor>;
  server: Half<ServerAttestor>;
  /** Agent IDs the suite's AgentStore reports as attested. */
  readonly attested: Set<string>;
}

/** A raw exchange a negative case sends instead of the agent plugin's. */
interface RawExchange {
  readonly payload: Uint8Array;
  readonly challengeResponses?: readonly Uint8Array[];
  readonly respond?: (challenge: Uint8Array, index: number) => Promise<Uint8Array> | Uint8Array;
}

/** One attestation: payload from the agent (or `raw`) to the server, challenges relayed. */
async function exchange(ctx: NodeAttestorContext, raw?: RawExchange): Promise<AttestationResult> {
  const server = await ctx.server.attestor();
  if (raw) {
    let next = 0;
    return server.attest(raw.payload, async (challenge) => {
      const index = next++;
      if (raw.respond) return raw.respond(challenge, index);
      const answer = raw.challengeResponses?.[index];
      if (!answer) throw new Error(`the server sent challenge #${index + 1} (${challenge.length} bytes), which the case has no response for`);
      return answer;
    });
  }
  const session = (await ctx.agent.attestor()).begin();
  try {
    const payload = await session.payload();
    const result = await server.attest(payload, (challenge) => session.answer(challenge));
    // The server stores the agent once it attested.
    ctx.attested.add(result.agentId);
    return result;
  } finally {
    session.close();
  }
}

/** The gRPC code of a host-side error (a facade's PluginHostError, or a status error). */
function codeOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { grpcCode?: unknown; code?: unknown };
  if (typeof e.grpcCode === 'number') return e.grpcCode;
  if (typeof e.code === 'number') return e.code;
  return undefined;
}

function describeResult(r: AttestationResult): string {
  return `agent ID ${r.agentId}, selectors [${r.selectors.map((s) => `${s.type}:${s.value}`).join(', ')}], can_reattest ${r.canReattest}`;
}

/** The happy path's checks. */
function checkHappy(fixture: AttestorFixture, env: FixtureEnv, trustDomain: string, r: AttestationResult): void {
  const prefix = `spiffe://${trustDomain}/spire/agent/${fixture.name}/`;
  check(r.agentId.startsWith(prefix) && r.agentId.length > prefix.length, `agent ID ${r.agentId} is not under ${prefix}`);
  const want = env.expectAgentId;
  if (typeof want === 'string') check(r.agentId === want, `agent ID ${r.agentId}, want ${want}`);
  else check(want.test(r.agentId), `agent ID ${r.agentId} does not match ${String(want)}`);
  const got = new Set(r.selectors.map((s) => `${s.type}:${s.value}`));
  const missing = env.expectSelectors.filter((s) => !got.has(`${s.type}:${s.value}`));
  check(missing.length === 0, `missing selectors ${missing.map((s) => `${s.type}:${s.value}`).join(', ')} among [${[...got].join(', ')}]`);
  const wrongType = r.selectors.filter((s) => s.type !== fixture.name);
  check(wrongType.length === 0, `selectors not of type ${fixture.name}: ${wrongType.map((s) => s.type).join(', ')}`);
  check(r.canReattest === env.expectCanReattest, `can_reattest ${r.canReattest}, want ${env.expectCanReattest}`);
}

/**
 * The suite for `fixture`. Attestors built into SPIRE (join_token) have a
 * fixture whose env is a {@link BuiltInFixtureEnv}: the suite drives the
 * host code it returns instead of launching plugins.
 */
export function nodeAttestorSuite(fixture: AttestorFixture, opts: NodeAttestorSuiteOptions = {}): Suite<NodeAttestorContext> {
  const trustDomain = opts.trustDomain ?? 'example.org';
  const log = opts.log ?? nullLogger;
  let agentTarget: PluginTarget | undefined;
  let serverTarget: PluginTarget | undefined;

  const startAgent = (env: FixtureEnv, pluginData: string): Promise<Half<AgentNodeAttestor>> => {
    if (isBuiltInEnv(env)) return Promise.resolve(builtInAgentHalf(env, pluginData));
    agentTarget ??= opts.agentTarget ?? builtInTarget(`agent:NodeAttestor:${fixture.name}`, '', trustDomain);
    return agentPluginHalf(agentTarget, pluginData, trustDomain, log, env.agentEnv);
  };
  const startServer = (env: FixtureEnv, pluginData: string, attested: Set<string>): Promise<Half<ServerAttestor>> => {
    if (isBuiltInEnv(env)) return Promise.resolve(builtInServerHalf(env, pluginData));
    serverTarget ??= opts.serverTarget ?? builtInTarget(`server:NodeAttestor:${fixture.name}`, '', trustDomain);
    const agentStore = new AgentStoreHostService((agentId) => Promise.resolve(attested.has(agentId)));
    return serverPluginHalf(serverTarget, pluginData, trustDomain, log, [agentStore.registration()]);
  };
  /** Makes the running halves use these plugin_data, relaunching the ones that differ. */
  const use = async (ctx: NodeAttestorContext, agentData: string, serverData: string): Promise<void> => {
    if (ctx.agent.pluginData !== agentData) {
      await ctx.agent.stop();
      ctx.agent = await startAgent(ctx.env, agentData);
    }
    if (ctx.server.pluginData !== serverData) {
      await ctx.server.stop();
      ctx.server = await startServer(ctx.env, serverData, ctx.attested);
    }
  };
  const serverAlive = (ctx: NodeAttestorContext, after: string): void => {
    const problem = ctx.server.problem();
    check(problem === undefined, `the server side stopped serving after ${after}: ${problem}`);
  };

  const happy: Case<NodeAttestorContext> = {
    name: 'happy path: agent ID, selectors and can_reattest',
    async run(ctx) {
      checkHappy(fixture, ctx.env, trustDomain, await exchange(ctx));
    },
  };
  const still: Case<NodeAttestorContext> = {
    name: 'the server side still attests after the negative cases (the agent evicted first)',
    async run(ctx) {
      await use(ctx, ctx.env.agentPluginData, ctx.env.serverPluginData);
      serverAlive(ctx, 'the negative cases');
      ctx.attested.clear();
      checkHappy(fixture, ctx.env, trustDomain, await exchange(ctx));
    },
  };
  const negative = (n: InteractiveNegativeCase): Case<NodeAttestorContext> => ({
    name: `refuses ${n.name} with ${n.expectCode}`,
    async run(ctx) {
      await n.arrange?.();
      try {
        await use(ctx, n.agentPluginData ?? ctx.env.agentPluginData, n.serverPluginData ?? ctx.env.serverPluginData);
        let result: AttestationResult | undefined;
        let error: unknown;
        try {
          const raw: RawExchange | undefined = n.payload && {
            payload: n.payload,
            ...(n.challengeResponses ? { challengeResponses: n.challengeResponses } : {}),
            ...(n.respond ? { respond: n.respond.bind(n) } : {}),
          };
          result = await exchange(ctx, raw);
        } catch (err) {
          error = err;
        }
        check(result === undefined, `expected ${n.expectCode}, but the attestation succeeded: ${result ? describeResult(result) : ''}`);
        const code = codeOf(error);
        const message = errMessage(error);
        check(code !== undefined, `expected ${n.expectCode}, got an error without a gRPC code: ${message}`);
        check(statusName(code) === n.expectCode, `expected ${n.expectCode}, got ${statusName(code)}: ${message}`);
        check(n.expectMessage.test(message), `message ${JSON.stringify(message)} does not match ${String(n.expectMessage)}`);
        serverAlive(ctx, `refusing ${n.name}`);
      } finally {
        await n.restore?.();
      }
    },
  });

  const suite: Suite<NodeAttestorContext> = {
    name: `NodeAttestor ${fixture.name}`,
    cases: [happy, still],
    async setup() {
      const tmpDir = await mkdtemp(join(tmpdir(), `spire-conformance-${fixture.name}-`));
      let env: FixtureEnv | undefined;
      let agent: Half<AgentNodeAttestor> | undefined;
      try {
        env = await fixture.setup({ tmpDir, trustDomain });
        agent = await startAgent(env, env.agentPluginData);
        const attested = new Set<string>();
        const server = await startServer(env, env.serverPluginData, attested);
        suite.cases = [happy, ...env.negatives.map(negative), still];
        return { tmpDir, env, agent, server, attested };
      } catch (err) {
        await agent?.stop().catch(() => undefined);
        await env?.close().catch(() => undefined);
        await rm(tmpDir, { recursive: true, force: true });
        throw new Error(`fixture ${fixture.name}: ${errMessage(err)}`, { cause: err });
      }
    },
    async teardown(ctx) {
      await Promise.allSettled([ctx.agent.stop(), ctx.server.stop()]);
      await ctx.env.close().catch(() => undefined);
      await rm(ctx.tmpDir, { recursive: true, force: true });
    },
  };
  return suite;
}
