#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { createCoreLogger, nullLogger } from '@spire-ts/common';
import { runSuite, summaryLine, type CaseResult, type Suite } from './harness.js';
import { suitesFor } from './suites/index.js';
import { builtInTarget, externalTarget, type PluginTarget } from './target.js';

const USAGE = `usage:
  spire-conformance --plugin side:Type:name [--plugin-data HCL]        run against a built-in plugin
  spire-conformance --type Type --plugin-cmd PATH [--side server|agent] [--plugin-data HCL] [--plugin-arg ARG ...]
  spire-conformance --attestor NAME [--agent-cmd PATH] [--server-cmd PATH]
                                                                       a NodeAttestor pair against its fixture
DataStore plugins also run the DataStore contract, on a new empty database per case: write
{{db}} in --plugin-data where the database goes (sqlite3: a temp file; postgres/mysql: a database
created next to the named one and dropped after), e.g.
  --plugin server:DataStore:sql --plugin-data 'database_type = "sqlite3" connection_string = "{{db}}"'
  --plugin-data 'database_type = "postgres" connection_string = "postgres://postgres@127.0.0.1/{{db}}?sslmode=disable"'
The plugin runs with SPIRE_TS_DATASTORE_TEST_CLOCK=1 and must take each call's clock from the
spire-ts-test-now metadata for the time-dependent cases.
WorkloadAttestor plugins also run the WorkloadAttestor contract with a fixture (unix, docker, k8s):
real workload processes, a fake procfs root given as HOST_PROC, fakes of the Docker Engine or the
kubelet; the fixture's plugin_data is used when --plugin-data is empty. The fixture is the plugin's
name for a built-in; an external plugin names one with --fixture, e.g.
  --plugin agent:WorkloadAttestor:docker
  --type WorkloadAttestor --side agent --plugin-cmd ./my-docker-attestor --fixture docker
options:
  --trust-domain NAME   trust domain sent in Configure (default example.org)
  --only SUBSTRING      run only cases whose name contains SUBSTRING
  --fixture NAME        the WorkloadAttestor fixture (default: the plugin's name)
  --verbose             show the plugin's logs
  --agent-cmd PATH      with --attestor: the agent-side plugin binary (default: the built-in)
  --server-cmd PATH     with --attestor: the server-side plugin binary (default: the built-in)
`;

function fail(msg: string): never {
  process.stderr.write(`spire-conformance: ${msg}\n${USAGE}`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      plugin: { type: 'string' },
      type: { type: 'string' },
      'plugin-cmd': { type: 'string' },
      'plugin-arg': { type: 'string', multiple: true },
      'plugin-data': { type: 'string' },
      side: { type: 'string' },
      attestor: { type: 'string' },
      'agent-cmd': { type: 'string' },
      'server-cmd': { type: 'string' },
      'trust-domain': { type: 'string' },
      only: { type: 'string' },
      fixture: { type: 'string' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }).values;
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}
if (args.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const log = args.verbose ? createCoreLogger({ level: 'debug' }) : nullLogger;
const all: CaseResult[] = [];
const print = (r: CaseResult): void => {
  all.push(r);
  const tag = r.status === 'passed' ? 'ok  ' : r.status === 'skipped' ? 'skip' : 'FAIL';
  process.stdout.write(`${tag} ${r.name}${r.message ? ` — ${r.message}` : ''} (${Math.round(r.ms)} ms)\n`);
};

if (args.attestor !== undefined) {
  if (args.plugin || args['plugin-cmd'] || args.type) fail('use either --attestor or --plugin / --plugin-cmd');
  if (args['plugin-data'] !== undefined || args['plugin-arg'] || args.side) fail('--plugin-data, --plugin-arg and --side do not apply to --attestor (the fixture configures both plugins)');
  await runAttestor(args.attestor, { agentCmd: args['agent-cmd'], serverCmd: args['server-cmd'], trustDomain: args['trust-domain'] ?? 'example.org', only: args.only });
} else if (args['agent-cmd'] || args['server-cmd']) {
  fail('--agent-cmd and --server-cmd go with --attestor');
}
if (args.fixture !== undefined && args.attestor !== undefined) fail('--fixture does not apply to --attestor (the attestor name is the fixture)');

/** `--attestor NAME`: the NodeAttestor suite with the registered fixture; exits. */
async function runAttestor(
  name: string,
  opts: { agentCmd: string | undefined; serverCmd: string | undefined; trustDomain: string; only: string | undefined },
): Promise<never> {
  const { FIXTURES } = await import('./fixtures/index.js');
  const fixture = FIXTURES[name];
  if (!fixture) fail(`unknown attestor ${JSON.stringify(name)} (known: ${Object.keys(FIXTURES).sort().join(', ')})`);
  const { nodeAttestorSuite } = await import('./suites/nodeattestor/suite.js');
  const trustDomain = opts.trustDomain;
  const external = (side: 'agent' | 'server', command: string | undefined): PluginTarget | undefined =>
    command === undefined ? undefined : externalTarget({ type: 'NodeAttestor', command, side, name, trustDomain });
  let suite: Suite<unknown>;
  try {
    const agentTarget = external('agent', opts.agentCmd);
    const serverTarget = external('server', opts.serverCmd);
    const inner = nodeAttestorSuite(fixture, { trustDomain, log, ...(agentTarget ? { agentTarget } : {}), ...(serverTarget ? { serverTarget } : {}) }) as unknown as Suite<unknown>;
    const only = opts.only;
    // The negative cases are known once the fixture is set up: filter then.
    suite =
      only === undefined
        ? inner
        : {
            ...inner,
            async setup() {
              const ctx = await inner.setup();
              suite.cases = inner.cases.filter((c) => c.name.includes(only));
              return ctx;
            },
          };
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  process.stdout.write(`# ${suite.name}\n`);
  const results = await runSuite(suite, print);
  process.stdout.write(`${summaryLine(results)}\n`);
  process.exit(results.some((r) => r.status === 'failed') ? 1 : 0);
}

let target: PluginTarget;
try {
  if (args.plugin) {
    if (args['plugin-cmd'] || args.type) fail('use either --plugin or --type with --plugin-cmd');
    target = builtInTarget(args.plugin, args['plugin-data'] ?? '', args['trust-domain'] ?? 'example.org');
  } else if (args['plugin-cmd']) {
    if (!args.type) fail('--plugin-cmd needs --type (e.g. --type KeyManager)');
    const side = args.side ?? 'server';
    if (side !== 'server' && side !== 'agent') fail(`--side must be server or agent, got ${side}`);
    target = externalTarget({
      type: args.type,
      command: args['plugin-cmd'],
      args: args['plugin-arg'] ?? [],
      side,
      pluginData: args['plugin-data'] ?? '',
      trustDomain: args['trust-domain'] ?? 'example.org',
    });
  } else {
    fail('nothing to test: give --plugin, --plugin-cmd or --attestor');
  }
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}

// A DataStore's plugin_data names its database with {{db}}: the lifecycle suite gets one of its own.
const datastore = target.type === 'DataStore';
let lifecycleDb: Awaited<ReturnType<typeof lifecycleDatabase>>;
let suiteTarget = target;
async function lifecycleDatabase(t: PluginTarget) {
  if (!t.pluginData.includes('{{db}}')) return undefined;
  return (await import('./suites/datastore/databases.js')).templateDatabases(t.pluginData);
}
try {
  lifecycleDb = datastore ? await lifecycleDatabase(target) : undefined;
  if (lifecycleDb) suiteTarget = { ...target, pluginData: await lifecycleDb.fresh() };
} catch (err) {
  fail(`--plugin-data: ${err instanceof Error ? err.message : String(err)}`);
}
if (args.fixture !== undefined) {
  if (target.type !== 'WorkloadAttestor') fail(`--fixture applies to WorkloadAttestor plugins, not ${target.type}`);
  const { WORKLOAD_FIXTURES } = await import('./fixtures/workload.js');
  if (!WORKLOAD_FIXTURES[args.fixture]) fail(`unknown WorkloadAttestor fixture ${JSON.stringify(args.fixture)} (known: ${Object.keys(WORKLOAD_FIXTURES).sort().join(', ')})`);
}
for (const suite of suitesFor(suiteTarget, log, args.fixture !== undefined ? { fixture: args.fixture } : {})) {
  if (args.only) suite.cases = suite.cases.filter((c) => c.name.includes(args.only!));
  // A suite --only left empty is not set up (a fixture may start fakes and processes).
  if (suite.cases.length === 0) continue;
  process.stdout.write(`# ${suite.name}\n`);
  await runSuite(suite, print);
}
await lifecycleDb?.close();
if (datastore) {
  process.stdout.write(`# DataStore contract ${target.side}:${target.type}:${target.name}\n`);
  const { runDatastoreContract } = await import('./suites/datastore/run.js');
  await runDatastoreContract({ target, verbose: args.verbose === true, onResult: print, ...(args.only ? { only: args.only } : {}) });
}
process.stdout.write(`${summaryLine(all)}\n`);
process.exit(all.some((r) => r.status === 'failed') ? 1 : 0);
