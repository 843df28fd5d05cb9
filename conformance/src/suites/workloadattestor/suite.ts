/**
 * The WorkloadAttestor conformance suite: runs one {@link WorkloadFixture}
 * against a plugin process through the real plugin host (ManagedPlugin:
 * go-plugin handshake, Configure over gRPC). The fixture's environment
 * (`HOST_PROC`...) is added to the plugin's. Cases:
 *
 * - the known workload (a live process) gets exactly its selectors, also
 *   under concurrent calls and through `AttestReference` with a
 *   `spiffe.broker.WorkloadPIDReference` where the plugin supports it;
 * - each situation of {@link SCENARIOS} (unknown pid, uncontained process,
 *   a workload exiting mid-attestation, malformed cgroups, a backend that
 *   is down, slow or answers with a huge body): the fixture arranges it, the
 *   plugin's answer is checked (code, message, and the time it took where the
 *   fixture bounds it), the fixture restores, and the known workload must
 *   still be attested correctly: a bad request must wedge nothing.
 *
 * A situation the fixture cannot produce is skipped with its reason.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedPlugin, nullLogger, unary, type Logger } from '@spire-ts/common';
import { isServiceError, statusName } from '@spire-ts/plugin-sdk';
import type { ServiceClientOf } from '@spire-ts/proto';
import { check, errMessage, SkipCase, type Case, type Suite } from '../../harness.js';
import type { PluginTarget } from '../../target.js';
import { SCENARIOS, type KnownWorkload, type ScenarioKind, type WorkloadFixture, type WorkloadFixtureEnv, type WorkloadOutcome } from './fixture.js';

type WAClient = ServiceClientOf<'spire.plugin.agent.workloadattestor.v1.WorkloadAttestor'>;

export interface WorkloadAttestorContext {
  readonly tmpDir: string;
  readonly env: WorkloadFixtureEnv;
  readonly plugin: ManagedPlugin;
  readonly wa: WAClient;
}

export interface WorkloadAttestorSuiteOptions {
  /** The plugins' logs (default: none). */
  readonly log?: Logger;
  /** Deadline of a call the fixture does not bound (default 30 s). */
  readonly deadlineMs?: number;
}

export const PID_REFERENCE_TYPE_URL = 'type.googleapis.com/spiffe.broker.WorkloadPIDReference';
const OTHER_REFERENCE_TYPE_URL = 'type.googleapis.com/google.protobuf.StringValue';

/** `spiffe.broker.WorkloadPIDReference { int32 pid = 1; }` on the wire, encoded here (independently of any plugin's decoder). */
export function pidReference(pid: number): { type_url: string; value: Buffer } {
  const bytes = [0x08];
  // int32 as a varint: negative values are sign-extended to 64 bits (10 bytes).
  let v = BigInt.asUintN(64, BigInt(pid));
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    bytes.push(v ? b | 0x80 : b);
  } while (v);
  return { type_url: PID_REFERENCE_TYPE_URL, value: Buffer.from(bytes) };
}

function codeOf(err: unknown): number | undefined {
  return isServiceError(err) ? err.code : undefined;
}

function show(values: readonly string[]): string {
  return `[${values.join(', ')}]`;
}

/** Checks selector values against the known workload's. */
function checkSelectors(got: readonly string[], want: KnownWorkload | { selectors: readonly string[]; exact: boolean }, what: string): void {
  const have = new Set(got);
  const missing = want.selectors.filter((s) => !have.has(s));
  check(missing.length === 0, `${what}: missing selectors ${show(missing)}; got ${show(got)}`);
  if (want.exact) {
    const wanted = new Set(want.selectors);
    const extra = got.filter((s) => !wanted.has(s));
    check(extra.length === 0, `${what}: unexpected selectors ${show(extra)}; want exactly ${show(want.selectors)}`);
  }
  check(new Set(got).size === got.length, `${what}: duplicate selectors in ${show(got)}`);
}

/** Runs `call` and checks its outcome; returns the time it took. */
async function expectOutcome(call: () => Promise<{ selector_values: string[] }>, outcome: WorkloadOutcome, what: string, withinMs?: number): Promise<number> {
  const t0 = performance.now();
  let res: { selector_values: string[] } | undefined;
  let error: unknown;
  try {
    res = await call();
  } catch (err) {
    error = err;
  }
  const ms = performance.now() - t0;
  const bound = withinMs === undefined ? '' : ` (bound ${withinMs} ms)`;
  checkOutcome(res, error, outcome, what);
  if (withinMs !== undefined) check(ms <= withinMs, `${what}: answered after ${Math.round(ms)} ms${bound}`);
  return ms;
}

function checkOutcome(res: { selector_values: string[] } | undefined, error: unknown, outcome: WorkloadOutcome, what: string): void {
  if ('oneOf' in outcome) {
    const misses: string[] = [];
    for (const o of outcome.oneOf) {
      try {
        checkOutcome(res, error, o, what);
        return;
      } catch (err) {
        misses.push(errMessage(err));
      }
    }
    throw new Error(`none of the acceptable outcomes: ${misses.join('; ')}`);
  }
  if ('selectors' in outcome) {
    if (res === undefined) throw new Error(`${what}: expected ${outcome.selectors.length ? show(outcome.selectors) : 'no selectors'}, got ${describeError(error)}`);
    checkSelectors(res.selector_values, { selectors: outcome.selectors, exact: true }, what);
  } else {
    const want = outcome.codes.join(' or ');
    if (res !== undefined) throw new Error(`${what}: expected ${want}, but the call succeeded with ${show(res.selector_values)}`);
    const code = codeOf(error);
    check(code !== undefined, `${what}: expected a gRPC error, got ${String(error)}`);
    check((outcome.codes as readonly string[]).includes(statusName(code)), `${what}: expected ${want}, got ${describeError(error)}`);
    const message = isServiceError(error) ? error.details : '';
    check(outcome.message.test(message), `${what}: message ${JSON.stringify(message)} does not match ${String(outcome.message)}`);
  }
}

function describeError(err: unknown): string {
  const code = codeOf(err);
  return code === undefined ? `error ${errMessage(err)}` : `${statusName(code)}: ${isServiceError(err) ? err.details : errMessage(err)}`;
}

/** The suite for `fixture`, against `target` (its plugin_data, when empty, becomes the fixture's). */
export function workloadAttestorSuite(target: PluginTarget, fixture: WorkloadFixture, opts: WorkloadAttestorSuiteOptions = {}): Suite<WorkloadAttestorContext> {
  const log = opts.log ?? nullLogger;
  const deadlineMs = opts.deadlineMs ?? 30_000;
  const attest = (ctx: WorkloadAttestorContext, pid: number, deadline = deadlineMs) => unary(ctx.wa, 'Attest', { pid }, { deadlineMs: deadline });
  const attestRef = (ctx: WorkloadAttestorContext, reference: { type_url: string; value: Buffer }) =>
    unary(ctx.wa, 'AttestReference', { reference }, { deadlineMs });

  /** The known workload still gets its selectors: nothing wedged, nothing crashed. */
  async function stillAttests(ctx: WorkloadAttestorContext, after: string): Promise<void> {
    check(ctx.plugin.currentState === 'ready', `the plugin process is ${ctx.plugin.currentState} after ${after}${ctx.plugin.lastExit ? ` (exit code ${ctx.plugin.lastExit.code}, signal ${ctx.plugin.lastExit.signal})` : ''}`);
    let res;
    try {
      res = await attest(ctx, ctx.env.known.pid);
    } catch (err) {
      throw new Error(`after ${after}, the known workload (pid ${ctx.env.known.pid}) is no longer attested: ${describeError(err)}`);
    }
    checkSelectors(res.selector_values, ctx.env.known, `after ${after}, the known workload (pid ${ctx.env.known.pid})`);
  }

  const scenarioCase = (kind: ScenarioKind): Case<WorkloadAttestorContext> => ({
    name: SCENARIOS[kind],
    async run(ctx) {
      const scenario = ctx.env.scenarios[kind];
      if (!scenario) throw new SkipCase(`the ${fixture.name} fixture cannot produce this situation`);
      if ('skip' in scenario) throw new SkipCase(scenario.skip);
      let pid: number | undefined;
      try {
        pid = await scenario.arrange();
        const deadline = scenario.withinMs === undefined ? deadlineMs : scenario.withinMs + 5_000;
        const outcome = typeof scenario.expect === 'function' ? scenario.expect(pid) : scenario.expect;
        await expectOutcome(() => attest(ctx, pid!, deadline), outcome, `Attest(pid ${pid})`, scenario.withinMs);
      } finally {
        await scenario.restore?.();
      }
      await stillAttests(ctx, `${SCENARIOS[kind]} (pid ${pid})`);
    },
  });

  return {
    name: `WorkloadAttestor contract ${target.side}:${target.type}:${target.name} (fixture ${fixture.name})`,
    async setup() {
      const tmpDir = await mkdtemp(join(tmpdir(), `spire-conformance-wa-${fixture.name}-`));
      let env: WorkloadFixtureEnv | undefined;
      try {
        env = await fixture.setup({ tmpDir, log });
        const launch = env.env ? { ...target.launch, env: { ...target.launch.env, ...env.env } } : target.launch;
        const plugin = new ManagedPlugin({
          launch,
          service: 'spire.plugin.agent.workloadattestor.v1.WorkloadAttestor',
          pluginData: target.pluginData.trim() === '' ? env.pluginData : target.pluginData,
          trustDomain: target.trustDomain,
          log,
          restart: false,
        });
        await plugin.start();
        return { tmpDir, env, plugin, wa: plugin.client as unknown as WAClient };
      } catch (err) {
        await env?.close();
        await rm(tmpDir, { recursive: true, force: true });
        throw err;
      }
    },
    async teardown(ctx) {
      try {
        await ctx.plugin.stop();
      } finally {
        await ctx.env.close();
        await rm(ctx.tmpDir, { recursive: true, force: true });
      }
    },
    cases: [
      {
        name: 'the known workload gets its selectors',
        async run(ctx) {
          const { known } = ctx.env;
          const res = await attest(ctx, known.pid).catch((err: unknown) => {
            throw new Error(`Attest(pid ${known.pid}): ${describeError(err)}`);
          });
          checkSelectors(res.selector_values, known, `Attest(pid ${known.pid})`);
        },
      },
      {
        name: 'other known workloads get their selectors',
        async run(ctx) {
          const more = ctx.env.alsoKnown ?? [];
          if (more.length === 0) throw new SkipCase(`the ${fixture.name} fixture has a single known workload`);
          for (const w of more) {
            const res = await attest(ctx, w.pid).catch((err: unknown) => {
              throw new Error(`${w.label}: Attest(pid ${w.pid}): ${describeError(err)}`);
            });
            checkSelectors(res.selector_values, w, `${w.label}: Attest(pid ${w.pid})`);
          }
        },
      },
      {
        name: 'concurrent attestations of the known workload agree',
        async run(ctx) {
          const { known } = ctx.env;
          const all = await Promise.allSettled(Array.from({ length: 8 }, () => attest(ctx, known.pid)));
          all.forEach((r, i) => {
            check(r.status === 'fulfilled', `call #${i + 1} of 8 failed: ${r.status === 'rejected' ? describeError(r.reason) : ''}`);
            checkSelectors(r.value.selector_values, known, `call #${i + 1} of 8`);
          });
        },
      },
      {
        name: 'AttestReference with a WorkloadPIDReference',
        async run(ctx) {
          const { known, reference } = ctx.env;
          if (reference.pid) {
            const res = await attestRef(ctx, pidReference(known.pid)).catch((err: unknown) => {
              throw new Error(`AttestReference(pid ${known.pid}): ${describeError(err)}`);
            });
            checkSelectors(res.selector_values, known, `AttestReference(pid ${known.pid})`);
          } else {
            await expectOutcome(() => attestRef(ctx, pidReference(known.pid)), reference.refused, `AttestReference(pid ${known.pid})`);
          }
          await stillAttests(ctx, 'AttestReference');
        },
      },
      {
        name: 'AttestReference with an unsupported reference type',
        async run(ctx) {
          const { reference } = ctx.env;
          const other = { type_url: OTHER_REFERENCE_TYPE_URL, value: Buffer.from([0x0a, 0x03, 0x61, 0x62, 0x63]) };
          const outcome = reference.pid ? { codes: ['INVALID_ARGUMENT'] as const, message: /google\.protobuf\.StringValue/ } : reference.refused;
          await expectOutcome(() => attestRef(ctx, other), outcome, `AttestReference(${OTHER_REFERENCE_TYPE_URL})`);
          await stillAttests(ctx, 'an unsupported reference');
        },
      },
      ...(Object.keys(SCENARIOS) as ScenarioKind[]).map(scenarioCase),
    ],
  };
}
