/**
 * @spire-ts/conformance: contract suites for SPIRE plugins. Each suite takes
 * a {@link PluginTarget} (a built-in or any binary) and runs over the real
 * wire; `spire-conformance` is the command-line runner.
 */
export { runSuite, summaryLine, check, SkipCase, errMessage } from './harness.js';
export type { Suite, Case, CaseResult } from './harness.js';
export { builtInTarget, externalTarget } from './target.js';
export type { PluginTarget } from './target.js';
export { lifecycleSuite } from './suites/lifecycle.js';
export type { LifecycleContext } from './suites/lifecycle.js';
export { keyManagerSuite } from './suites/keymanager.js';
export type { KeyManagerContext } from './suites/keymanager.js';
export { suitesFor } from './suites/index.js';
export { servePluginInProcess, rejection } from './in-process.js';
export type { InProcessPlugin } from './in-process.js';
