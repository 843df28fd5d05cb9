#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { createCoreLogger, nullLogger } from '@spire-ts/common';
import { runSuite, summaryLine, type CaseResult } from './harness.js';
import { suitesFor } from './suites/index.js';
import { builtInTarget, externalTarget, type PluginTarget } from './target.js';

const USAGE = `usage:
  spire-conformance --plugin side:Type:name [--plugin-data HCL]        run against a built-in plugin
  spire-conformance --type Type --plugin-cmd PATH [--side server|agent] [--plugin-data HCL] [--plugin-arg ARG ...]
options:
  --trust-domain NAME   trust domain sent in Configure (default example.org)
  --only SUBSTRING      run only cases whose name contains SUBSTRING
  --verbose             show the plugin's logs
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
      'trust-domain': { type: 'string' },
      only: { type: 'string' },
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
    fail('nothing to test: give --plugin or --plugin-cmd');
  }
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}

const log = args.verbose ? createCoreLogger({ level: 'debug' }) : nullLogger;
const all: CaseResult[] = [];
for (const suite of suitesFor(target, log)) {
  if (args.only) suite.cases = suite.cases.filter((c) => c.name.includes(args.only!));
  process.stdout.write(`# ${suite.name}\n`);
  await runSuite(suite, (r) => {
    all.push(r);
    const tag = r.status === 'passed' ? 'ok  ' : r.status === 'skipped' ? 'skip' : 'FAIL';
    process.stdout.write(`${tag} ${r.name}${r.message ? ` — ${r.message}` : ''} (${Math.round(r.ms)} ms)\n`);
  });
}
process.stdout.write(`${summaryLine(all)}\n`);
process.exit(all.some((r) => r.status === 'failed') ? 1 : 0);
