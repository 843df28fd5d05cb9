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
export { servePluginInProcess, serveWorkloadAttestorInProcess, rejection } from './in-process.js';
export type { InProcessWorkloadAttestor } from './in-process.js';
export type { InProcessPlugin } from './in-process.js';
export { nodeAttestorSuite } from './suites/nodeattestor/suite.js';
export type { NodeAttestorSuiteOptions, NodeAttestorContext } from './suites/nodeattestor/suite.js';
export type { AttestorFixture, FixtureEnv, FixtureSelector, NegativeCase } from './suites/nodeattestor/fixture.js';
export type { BuiltInFixtureEnv, InteractiveNegativeCase, ServerAttestor } from './suites/nodeattestor/sides.js';
export { FIXTURES } from './fixtures/index.js';
export { ca as x509popTestCa, node as x509popTestNode, newKey as x509popTestKey, payloadFor as x509popPayload, popResponse as x509popResponse, challengeNonce as x509popChallengeNonce } from './fixtures/x509pop-pki.js';
export type { Issued as X509popIssued, NodeOptions as X509popNodeOptions } from './fixtures/x509pop-pki.js';
export { workloadAttestorSuite, pidReference } from './suites/workloadattestor/suite.js';
export type { WorkloadAttestorContext, WorkloadAttestorSuiteOptions } from './suites/workloadattestor/suite.js';
export { SCENARIOS as WORKLOAD_SCENARIOS } from './suites/workloadattestor/fixture.js';
export type { WorkloadFixture, WorkloadFixtureEnv, WorkloadScenario, WorkloadOutcome, KnownWorkload, ReferenceSupport, ScenarioKind } from './suites/workloadattestor/fixture.js';
export { WORKLOAD_FIXTURES } from './fixtures/workload.js';
export { startSwtpm, swtpmUnavailable, tpmTool, provisionDevId, provisionEndorsement, createDevIdKey, writeEkCertificate, issueFor as tpmDevIdIssueFor, softwareDevId, EK_CERT_NV_INDEX, EK_CERTIFICATE_EKU } from './fixtures/swtpm.js';
export type { Swtpm, ProvisionOptions, ProvisionedDevId, DevIdKey, DevIdKeyType, DevIdPki, Endorsement, EndorsementOptions } from './fixtures/swtpm.js';
