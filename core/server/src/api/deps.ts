/**
 * What the server API services need from the rest of the server. Services
 * take an {@link ApiDeps} and nothing else, so each one is testable with a
 * real DataStore and KeyManager but without sockets.
 */
import type { Bundle, Logger } from '@spire-ts/common';
import type { ServerCA } from '../ca/ca.js';
import type { Clock } from '../ca/clock.js';
import type { AttestedNode, DataStore, RegistrationEntry, Selector } from '../plugin/datastore/datastore.js';

/** An attested agent as the entry cache holds it (kept fresh from node events). */
export interface CachedAgent {
  readonly spiffeId: string;
  readonly attestationType: string;
  readonly selectors: readonly Selector[];
  readonly banned: boolean;
  readonly certSerialNumber: string;
  readonly newCertSerialNumber: string;
  /** Unix seconds. */
  readonly certNotAfter: number;
  readonly canReattest: boolean;
}

/**
 * The in-memory index of registration entries and attested agents (SPIRE's
 * authorized entry cache), kept fresh from DataStore events, never a table
 * scan per request.
 */
export interface EntryIndex {
  /**
   * The entries an agent may fetch SVIDs for, SPIRE's rule: entries whose parent
   * is the agent, or a node entry (parent = the server ID) whose selectors are
   * all among the agent's, and recursively the entries whose parent is any of
   * those entries' SPIFFE IDs. Expired entries are left out.
   */
  authorizedEntries(agentId: string): readonly RegistrationEntry[];
  /** The entries among `ids` that {@link authorizedEntries} includes, by id, looked up without listing them all. */
  lookupAuthorizedEntries(agentId: string, ids: Iterable<string>): Map<string, RegistrationEntry>;
  /** Entries whose SPIFFE ID is `spiffeId` (admin/downstream checks). */
  entriesWithSpiffeId(spiffeId: string): readonly RegistrationEntry[];
  /** The cached agent, or undefined if it is not attested. */
  agent(agentId: string): CachedAgent | undefined;
  /** Reads the events written since the last refresh now (call after this server wrote). */
  refresh(): Promise<void>;
}

/** A server-side NodeAttestor plugin as the Agent API drives it. */
export interface NodeAttestor {
  readonly name: string;
  /**
   * Runs one attestation: `payload` from the agent; the plugin may ask any
   * number of challenges, answered through `challenge`. Throws a status error
   * (PluginError) on refusal.
   */
  attest(payload: Uint8Array, challenge: (challenge: Uint8Array) => Promise<Uint8Array>): Promise<AttestationResult>;
}

export interface AttestationResult {
  agentId: string;
  selectors: Selector[];
  canReattest: boolean;
}

export interface ApiDeps {
  /** Bare trust domain name. */
  readonly trustDomain: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly ds: DataStore;
  /** Signs SVIDs with the active authorities. */
  readonly ca: ServerCA;
  /** The trust domain's bundle as currently published (active, prepared and old authorities). */
  bundle(): Bundle;
  /** Told the stored bundle after an API call changed it (AppendBundle, PublishJWTAuthority), so {@link bundle} reflects it at once. */
  bundleUpdated?(bundle: Bundle): void;
  readonly entries: EntryIndex;
  /**
   * Whether the built-in join_token attestor is configured (`NodeAttestor "join_token"`);
   * as in SPIRE, join tokens are refused without it. Undefined = enabled.
   */
  readonly joinTokenEnabled?: boolean;
  /** Server NodeAttestor plugins by name (join_token is built in and not here). */
  readonly nodeAttestors: ReadonlyMap<string, NodeAttestor>;
  /** SPIRE's `agent_ttl` in ms; undefined = the default X.509-SVID TTL. */
  readonly agentTtlMs?: number | undefined;
  /** SPIRE's `admin_ids`. */
  readonly adminIds: readonly string[];
}

export type { AttestedNode };
