/**
 * The test file `spire-conformance` hands to vitest (see run.ts): the
 * DataStore contract against the plugin described in the environment.
 */
import { afterAll, describe, it } from 'vitest';
import { createCoreLogger, nullLogger } from '@spire-ts/common';
import type { PluginTarget } from '../../target.js';
import { datastoreContract } from './contract.js';
import { DB_PLACEHOLDER, templateDatabases } from './databases.js';
import { pluginStoreFactory } from './plugin-factory.js';
import { RUNNER_ENV } from './run-env.js';

interface RunnerSpec {
  target: PluginTarget;
  verbose?: boolean;
}

const raw = process.env[RUNNER_ENV];
if (!raw) throw new Error(`${RUNNER_ENV} is not set: this file is run by spire-conformance`);
const spec = JSON.parse(raw) as RunnerSpec;
const label = `${spec.target.side}:${spec.target.type}:${spec.target.name}`;

if (!spec.target.pluginData.includes(DB_PLACEHOLDER)) {
  describe(`DataStore contract: ${label}`, () => {
    it.skip(`every case needs an empty database: put ${DB_PLACEHOLDER} in --plugin-data where the database goes`, () => undefined);
  });
} else {
  const log = spec.verbose ? createCoreLogger({ level: 'debug' }) : nullLogger;
  const factory = pluginStoreFactory(spec.target, templateDatabases(spec.target.pluginData), log);
  afterAll(() => factory.close());
  datastoreContract(label, factory);
}
