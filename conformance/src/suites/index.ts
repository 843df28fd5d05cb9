import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nullLogger, type Logger } from '@spire-ts/common';
import { SkipCase, type Suite } from '../harness.js';
import type { PluginTarget } from '../target.js';
import { WORKLOAD_FIXTURES } from '../fixtures/workload.js';
import { keyManagerSuite } from './keymanager.js';
import { lifecycleSuite, type LifecycleContext } from './lifecycle.js';
import type { WorkloadFixture, WorkloadFixtureEnv } from './workloadattestor/fixture.js';
import { workloadAttestorSuite } from './workloadattestor/suite.js';

export interface SuitesForOptions {
  /** The fixture for a type's contract suite that needs one (WorkloadAttestor); default: the target's name. */
  readonly fixture?: string;
}

/** Every suite that applies to a target: lifecycle for all, plus its type's contract. */
export function suitesFor(target: PluginTarget, log?: Logger, opts: SuitesForOptions = {}): Array<Suite<unknown>> {
  if (target.type === 'WorkloadAttestor') {
    const name = opts.fixture ?? target.name;
    const fixture = WORKLOAD_FIXTURES[name];
    if (!fixture) return [erase(lifecycleSuite(target, log)), erase(noFixtureSuite(target, name))];
    return [erase(lifecycleWithFixture(target, fixture, log)), erase(workloadAttestorSuite(target, fixture, log ? { log } : {}))];
  }
  const suites: Array<Suite<unknown>> = [erase(lifecycleSuite(target, log))];
  if (target.type === 'KeyManager') suites.push(erase(keyManagerSuite(target, log)));
  return suites;
}

/**
 * The lifecycle suite for a plugin whose configuration needs its fixture's
 * files (the k8s attestor checks its kubelet CA at Configure): with no
 * plugin_data given, the fixture is set up first and its plugin_data and
 * environment are those of the target the lifecycle cases launch.
 */
function lifecycleWithFixture(target: PluginTarget, fixture: WorkloadFixture, log: Logger | undefined): Suite<LifecycleContext> {
  if (target.pluginData.trim() !== '') return lifecycleSuite(target, log);
  const t: PluginTarget = { ...target, launch: { ...target.launch } };
  const inner = lifecycleSuite(t, log);
  let env: WorkloadFixtureEnv | undefined;
  let tmpDir: string | undefined;
  const cleanup = async () => {
    await env?.close();
    if (tmpDir) await rm(tmpDir, { recursive: true, force: true });
    env = undefined;
    tmpDir = undefined;
  };
  return {
    ...inner,
    name: `${inner.name} (plugin_data of fixture ${fixture.name})`,
    async setup() {
      try {
        tmpDir = await mkdtemp(join(tmpdir(), `spire-conformance-lifecycle-${fixture.name}-`));
        env = await fixture.setup({ tmpDir, log: log ?? nullLogger });
        t.pluginData = env.pluginData;
        if (env.env) t.launch = { ...target.launch, env: { ...target.launch.env, ...env.env } };
        return await inner.setup();
      } catch (err) {
        await cleanup();
        throw err;
      }
    },
    async teardown(ctx) {
      try {
        await inner.teardown(ctx);
      } finally {
        await cleanup();
      }
    },
  };
}

/** The contract needs a fixture (fakes, workloads): without one its single case is skipped, saying how to pick one. */
function noFixtureSuite(target: PluginTarget, name: string): Suite<undefined> {
  return {
    name: `WorkloadAttestor contract ${target.side}:${target.type}:${target.name}`,
    setup: () => Promise.resolve(undefined),
    teardown: () => Promise.resolve(),
    cases: [
      {
        name: 'the contract cases',
        run() {
          throw new SkipCase(
            `no WorkloadAttestor fixture named ${JSON.stringify(name)} (known: ${Object.keys(WORKLOAD_FIXTURES).sort().join(', ')}); pass --fixture NAME`,
          );
        },
      },
    ],
  };
}

/** Suites own their context type; callers only run them. */
function erase<C>(suite: Suite<C>): Suite<unknown> {
  return suite as unknown as Suite<unknown>;
}
