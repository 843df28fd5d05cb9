/**
 * What the agent's sync manager needs from the SPIRE server, over mTLS with
 * the agent's current SVID. Implemented over grpc-js by the node identity
 * module (core/agent/src/node); the manager depends only on this interface.
 * Failures reject with grpc-js style errors (`code`, `details`), except
 * that an answer ending the agent's identity (banned, evicted) rejects with
 * an error whose `terminal` is true: whoever owns the identity reports it
 * and stops the agent; callers should not report it again nor retry.
 */
import type { Bundle } from '@spire-ts/common';

/** A registration entry as the agent receives it (SyncAuthorizedEntries with the agent's output mask). */
export interface AgentEntry {
  readonly id: string;
  readonly spiffeId: string;
  readonly selectors: readonly { readonly type: string; readonly value: string }[];
  readonly federatesWith: readonly string[];
  readonly admin: boolean;
  readonly downstream: boolean;
  readonly revisionNumber: number;
  readonly storeSvid: boolean;
  readonly hint: string;
  /** Unix seconds. */
  readonly createdAt: number;
  readonly disableX509SvidPrefetch: boolean;
  readonly jwtSvidIncludeJti: boolean;
}

export type X509SvidResult =
  | { readonly ok: true; readonly entryId: string; readonly certChain: readonly Uint8Array[]; readonly expiresAt: number }
  | { readonly ok: false; readonly entryId: string; readonly code: number; readonly message: string };

export interface JwtSvidResult {
  readonly token: string;
  /** Unix seconds. */
  readonly issuedAt: number;
  readonly expiresAt: number;
}

export interface AgentServerApi {
  /**
   * Every entry the agent is authorised for (SyncAuthorizedEntries). With
   * `known` (entry id → revision of entries already held), only new or
   * changed entries are transferred in full; `entries` is then the complete
   * current set, reusing the known ones.
   */
  syncAuthorizedEntries(known?: ReadonlyMap<string, AgentEntry>): Promise<readonly AgentEntry[]>;
  /** BatchNewX509SVID: one result per request, in order. */
  batchNewX509Svid(requests: readonly { readonly entryId: string; readonly csr: Uint8Array }[]): Promise<X509SvidResult[]>;
  newJwtSvid(entryId: string, audience: readonly string[]): Promise<JwtSvidResult>;
  /** The agent's own trust domain bundle. */
  getBundle(): Promise<Bundle>;
  /** A federated bundle, or undefined when the server has none for `trustDomain`. */
  getFederatedBundle(trustDomain: string): Promise<Bundle | undefined>;
  /** PostStatus: tells the server this agent's version (shown by `spire-server agent show`). */
  postStatus?(agentVersion: string): Promise<void>;
}
