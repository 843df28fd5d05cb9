/**
 * The contract between the NodeAttestor conformance suite and a per-attestor
 * fixture. A fixture starts local fakes that speak the platform's real
 * protocol (IMDSv2, GCP metadata, Azure IMDS, kube-apiserver, ...) with
 * documents and tokens signed by test keys, and says how to configure the
 * agent-side and server-side plugins so that the server side trusts those
 * keys through the same code path production keys use. The suite launches
 * both plugins through the real plugin host, relays the exchange (payload,
 * challenges, responses) and checks the outcome; then it runs every
 * negative case and checks the refusal.
 */

/** A selector as the server plugin returns it (the host stamps the type). */
export interface FixtureSelector {
  readonly type: string;
  readonly value: string;
}

/** One attack or misconfiguration the server side must refuse. */
export interface NegativeCase {
  /** e.g. "wrong signer", "tampered document", "replayed instance". */
  readonly name: string;
  /** Runs before the exchange: e.g. switch the fake to sign with an untrusted key. Undone by `restore`. */
  arrange?(): Promise<void> | void;
  restore?(): Promise<void> | void;
  /** Agent-side plugin_data for this case (default: the fixture's). */
  readonly agentPluginData?: string;
  /** Server-side plugin_data for this case (default: the fixture's). */
  readonly serverPluginData?: string;
  /**
   * A raw payload sent to the server plugin instead of the agent plugin's
   * (truncated, oversized, another attestor's payload...). With `challengeResponses`,
   * the answers to give to the server's challenges.
   */
  readonly payload?: Uint8Array;
  readonly challengeResponses?: readonly Uint8Array[];
  /** The gRPC status name the server side must answer. */
  readonly expectCode: 'PERMISSION_DENIED' | 'INVALID_ARGUMENT';
  /** What the message must say (an operator must be able to act on it). */
  readonly expectMessage: RegExp;
}

/** A running fixture. */
export interface FixtureEnv {
  /** plugin_data (HCL) for the agent-side plugin. */
  readonly agentPluginData: string;
  /** plugin_data (HCL) for the server-side plugin. */
  readonly serverPluginData: string;
  /** Environment for the agent-side plugin process (e.g. a token file path), if any. */
  readonly agentEnv?: Readonly<Record<string, string>>;
  /** The happy path's expected agent ID (exact, or a pattern). */
  readonly expectAgentId: string | RegExp;
  /** Selectors that must be among those returned (order does not matter). */
  readonly expectSelectors: readonly FixtureSelector[];
  /** Whether the happy-path agent can re-attest (SPIRE's CanReattest). */
  readonly expectCanReattest: boolean;
  /** The negative cases; they run after the happy path, in order. */
  readonly negatives: readonly NegativeCase[];
  /** Stops the fakes and removes temp files. */
  close(): Promise<void>;
}

/** A per-attestor fixture: `spire-conformance --attestor <name>`. */
export interface AttestorFixture {
  /** The attestor name, e.g. `aws_iid` (the plugins are `agent:NodeAttestor:<name>` and `server:NodeAttestor:<name>`). */
  readonly name: string;
  setup(ctx: { readonly tmpDir: string; readonly trustDomain: string }): Promise<FixtureEnv>;
}
