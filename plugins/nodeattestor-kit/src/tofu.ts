/**
 * Trust on first use for server NodeAttestor plugins whose attestation data
 * can be replayed (a cloud instance identity document, an MSI token): an
 * agent ID may attest once, and again only after an operator evicted the
 * agent. Whether an agent ID is attested is the server's answer, asked over
 * the AgentStore host service (SPIRE's `GetAgentInfo`), so the check
 * survives restarts and sees the agents other servers attested.
 */
import { PluginError, Status, type HostServices, type Logger } from '@spire-ts/plugin-sdk';

export const AGENT_STORE_SERVICE = 'spire.hostservice.server.agentstore.v1.AgentStore';

/** How long one GetAgentInfo may take before the attestation fails. */
const LOOKUP_DEADLINE_MS = 10_000;

interface GrpcError {
  code?: number;
  details?: string;
  message?: string;
}

/** The one method we call, as a grpc-js generic client exposes it. */
interface AgentStoreClient {
  GetAgentInfo(
    req: { agent_id: string },
    options: { deadline: Date },
    cb: (err: GrpcError | null, res?: { info?: { agent_id?: string } | null }) => void,
  ): unknown;
  close(): void;
}

export interface TofuOptions {
  /** How long an answered agent ID stays claimed while the host has not stored it yet (default 5 s). */
  holdMs?: number;
}

/** Asks the host whether an agent ID is attested; answers true (attested) or false (NOT_FOUND). */
export type AttestedLookup = (agentId: string) => Promise<boolean>;

/**
 * The TOFU guard of one plugin. Wire {@link TofuGuard.bind} as the plugin's
 * `onHostServices` and declare {@link AGENT_STORE_SERVICE} in its
 * `hostServices`; then {@link TofuGuard.claim} each agent ID before
 * answering it.
 *
 * @example
 * ```ts
 * const tofu = new TofuGuard('aws_iid', log);
 * const def = { ..., hostServices: [AGENT_STORE_SERVICE], onHostServices: (h) => tofu.bind(h) };
 * return tofu.guard(agentId, async () => ({ spiffeId: agentId, selectorValues: await selectorsOf(doc) }));
 * ```
 */
export class TofuGuard {
  private lookup: AttestedLookup | undefined;
  private client: AgentStoreClient | undefined;
  /** Agent IDs being attested right now, so two concurrent replays cannot both pass. */
  private readonly inFlight = new Set<string>();
  /**
   * Agent IDs this plugin just answered, until the host confirms it stored
   * them (or {@link TofuOptions.holdMs} passes): the server creates the
   * agent only after the plugin answered, and a replay must not slip in
   * between.
   */
  private readonly recent = new Map<string, number>();
  private readonly holdMs: number;

  constructor(
    private readonly pluginName: string,
    private readonly log?: Logger,
    opts: TofuOptions = {},
  ) {
    this.holdMs = opts.holdMs ?? 5_000;
  }

  /**
   * Connects to the host's AgentStore. A host that does not offer it gets
   * a plugin that loads and validates but refuses every attestation (fail
   * closed): it cannot tell a first attestation from a replay.
   */
  async bind(hosts: HostServices): Promise<void> {
    this.client?.close();
    this.client = undefined;
    this.lookup = undefined;
    if (!hosts.has(AGENT_STORE_SERVICE)) {
      this.log?.warn('The host does not offer the AgentStore host service; every attestation will be refused', { plugin: this.pluginName });
      return;
    }
    const client = (await hosts.dial(AGENT_STORE_SERVICE)) as unknown as AgentStoreClient;
    this.client = client;
    this.lookup = (agentId) =>
      new Promise<boolean>((resolve, reject) => {
        client.GetAgentInfo({ agent_id: agentId }, { deadline: new Date(Date.now() + LOOKUP_DEADLINE_MS) }, (err) => {
          if (!err) return resolve(true);
          if (err.code === Status.NOT_FOUND) return resolve(false);
          const code = typeof err.code === 'number' ? (err.code as Status) : Status.INTERNAL;
          reject(new PluginError(code, `unable to get agent info: ${err.details ?? err.message ?? 'unknown error'}`));
        });
      });
  }

  /** For tests and in-process hosts: answer lookups with this function. */
  useLookup(lookup: AttestedLookup): void {
    this.lookup = lookup;
  }

  /**
   * Refuses an agent ID that is attested already, being attested now or
   * just answered (PERMISSION_DENIED, SPIRE's wording); otherwise holds it
   * until the returned release is called with whether the attestation
   * succeeded.
   */
  async claim(agentId: string): Promise<(succeeded: boolean) => void> {
    const lookup = this.lookup;
    if (!lookup) {
      throw PluginError.internal(`required AgentStore host service not available: ${this.pluginName} cannot check that the attestation data was not used before`);
    }
    const now = Date.now();
    for (const [id, until] of this.recent) if (until <= now) this.recent.delete(id);
    let used = this.inFlight.has(agentId);
    if (!used) {
      const attested = await lookup(agentId);
      // Stored by the host: its answer is enough from now on.
      if (attested) this.recent.delete(agentId);
      // Checked again after the lookup: another attestation may have claimed the ID meanwhile.
      used = attested || this.inFlight.has(agentId) || this.recent.has(agentId);
    }
    if (used) {
      this.log?.error('Attestation data has already been used to attest an agent', { spiffe_id: agentId });
      throw new PluginError(Status.PERMISSION_DENIED, 'attestation data has already been used to attest an agent');
    }
    this.inFlight.add(agentId);
    let released = false;
    return (succeeded) => {
      if (released) return;
      released = true;
      this.inFlight.delete(agentId);
      if (succeeded) this.recent.set(agentId, Date.now() + this.holdMs);
    };
  }

  /** Runs `attest` with `agentId` claimed (see {@link claim}). */
  async guard<T>(agentId: string, attest: () => Promise<T>): Promise<T> {
    const release = await this.claim(agentId);
    try {
      const result = await attest();
      release(true);
      return result;
    } catch (err) {
      release(false);
      throw err;
    }
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
  }
}
