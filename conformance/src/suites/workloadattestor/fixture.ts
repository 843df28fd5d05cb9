/**
 * The contract between the WorkloadAttestor conformance suite and a
 * per-attestor fixture (`unix`, `docker`, `k8s`, ...). A fixture prepares
 * what the plugin needs to see real workloads: a fake procfs root (passed to
 * the plugin as `HOST_PROC`), fakes that speak the backend's real protocol
 * (the Docker Engine API on a unix socket, the kubelet's HTTPS pod list),
 * and real spawned processes standing in for workloads. It says which
 * selectors the known workload must get and how the plugin must refuse each
 * bad situation. A situation a fixture cannot produce (the `unix` attestor
 * has no backend to be down) is reported as skipped, with the fixture's
 * reason, never as passed.
 */
import type { Logger } from '@spire-ts/common';

/** gRPC status names a refusal may carry. */
export type WorkloadErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'PERMISSION_DENIED'
  | 'FAILED_PRECONDITION'
  | 'RESOURCE_EXHAUSTED'
  | 'DEADLINE_EXCEEDED'
  | 'UNAVAILABLE'
  | 'INTERNAL'
  | 'UNIMPLEMENTED';

/** What the plugin must answer. */
export type WorkloadOutcome =
  /** Exactly these selector values (order does not matter); `[]` = no selectors, no error. */
  | { readonly selectors: readonly string[] }
  /** An error with one of `codes`, whose message matches `message`. */
  | { readonly codes: readonly WorkloadErrorCode[]; readonly message: RegExp }
  /** Any one of these (where implementations may differ, e.g. SPIRE answers `[]` where spire-ts refuses). */
  | { readonly oneOf: readonly WorkloadOutcome[] };

/** A workload the plugin must attest: a live process and its selectors. */
export interface KnownWorkload {
  readonly pid: number;
  /** Selector values (without the plugin-name type) the plugin must return. */
  readonly selectors: readonly string[];
  /** `true`: exactly these; `false`: at least these. */
  readonly exact: boolean;
}

/** One situation the plugin must handle: arrange it, attest `pid`, check the outcome, restore. */
export interface WorkloadScenario {
  /** Sets the situation up (spawn a process, write its cgroup, break the fake...); returns the pid to attest. */
  arrange(): Promise<number> | number;
  /** Undoes `arrange` (kills what it spawned, repairs the fake). Always called. */
  restore?(): Promise<void> | void;
  /** The outcome, or a function of the pid `arrange` returned (to name it in the message). */
  readonly expect: WorkloadOutcome | ((pid: number) => WorkloadOutcome);
  /** The answer must come within this many milliseconds (measured around the call). */
  readonly withinMs?: number;
}

/** The situations the suite knows; each is one case. */
export const SCENARIOS = {
  nonexistentPid: 'a pid that does not exist',
  badPid: 'a pid that is not positive',
  uncontained: 'a process outside any container yields no selectors',
  unlistedContainer: 'a container the backend does not know',
  exited: 'a workload that exits mid-attestation',
  malformedCgroup: 'malformed cgroup lines',
  conflictingCgroup: 'cgroup lines naming two different containers',
  backendDown: 'the backend is down',
  backendSlow: 'the backend is slow: a bounded, clear error',
  hugeResponse: 'the backend sends a huge response',
} as const;
export type ScenarioKind = keyof typeof SCENARIOS;

/** How the plugin handles `AttestReference`. */
export type ReferenceSupport =
  /** A `spiffe.broker.WorkloadPIDReference` gives the same selectors as `Attest`; other reference types are INVALID_ARGUMENT. */
  | { readonly pid: true }
  /** Not supported: every reference is refused with this outcome (SPIRE's docker: UNIMPLEMENTED). */
  | { readonly pid: false; readonly refused: { readonly codes: readonly WorkloadErrorCode[]; readonly message: RegExp } };

/** A running fixture. */
export interface WorkloadFixtureEnv {
  /** plugin_data (HCL) that points the plugin at the fixture's fakes. */
  readonly pluginData: string;
  /** Extra environment for the plugin process (e.g. `HOST_PROC`). */
  readonly env?: Readonly<Record<string, string>>;
  /** A live workload with known selectors; it stays up for the whole suite. */
  readonly known: KnownWorkload;
  /** More live workloads (another cgroup layout, another pod...), each checked like `known`. */
  readonly alsoKnown?: ReadonlyArray<KnownWorkload & { readonly label: string }>;
  readonly reference: ReferenceSupport;
  /** Each situation the fixture can produce, or the reason it cannot (reported as skipped). */
  readonly scenarios: { readonly [K in ScenarioKind]?: WorkloadScenario | { readonly skip: string } };
  /** Kills the workloads, stops the fakes, removes temp files. */
  close(): Promise<void>;
}

/** A per-attestor fixture: `spire-conformance --plugin agent:WorkloadAttestor:<name>`. */
export interface WorkloadFixture {
  /** The attestor name, e.g. `docker` (the plugin is `agent:WorkloadAttestor:<name>`). */
  readonly name: string;
  setup(ctx: { readonly tmpDir: string; readonly log: Logger }): Promise<WorkloadFixtureEnv>;
}
