/**
 * The AgentStore host service (`spire.hostservice.server.agentstore.v1`)
 * that the server offers its NodeAttestor plugins: "is this agent ID
 * attested?", answered from the DataStore. Plugins whose attestation data
 * can be replayed (aws_iid, gcp_iit, azure_msi, azure_imds) refuse an agent
 * ID that is attested already: trust on first use.
 *
 * Plugins are started before the DataStore facade exists, so the lookup is
 * bound later; until then calls answer FAILED_PRECONDITION, as SPIRE's.
 */
import { PluginError, Status } from '@spire-ts/plugin-sdk';
import type { HostServiceRegistration } from '@spire-ts/common';

export const AGENT_STORE_SERVICE = 'spire.hostservice.server.agentstore.v1.AgentStore' as const;

/** Whether an agent ID has an attested node record. */
export type AgentLookup = (agentId: string) => Promise<boolean>;

export class AgentStoreHostService {
  private lookup: AgentLookup | undefined;

  constructor(lookup?: AgentLookup) {
    this.lookup = lookup;
  }

  /** Answers from now on with `lookup` (e.g. the DataStore's fetchNode). */
  bind(lookup: AgentLookup): void {
    this.lookup = lookup;
  }

  /** GetAgentInfo: the agent's info, or NOT_FOUND "no such agent". */
  async getAgentInfo(agentId: string): Promise<{ info: { agent_id: string } }> {
    const lookup = this.lookup;
    if (!lookup) throw new PluginError(Status.FAILED_PRECONDITION, 'AgentStore host service has not been initialized');
    if (!agentId) throw PluginError.invalidArgument('agent_id is required');
    if (!(await lookup(agentId))) throw new PluginError(Status.NOT_FOUND, 'no such agent');
    return { info: { agent_id: agentId } };
  }

  registration(): HostServiceRegistration {
    return {
      name: AGENT_STORE_SERVICE,
      impl: { GetAgentInfo: (req: { agent_id: string }) => this.getAgentInfo(req.agent_id) } as HostServiceRegistration['impl'],
    };
  }
}

/**
 * The host services of one spire-server run: AgentStore for the
 * NodeAttestor plugins, bound to the DataStore once the server has it.
 */
export class ServerHostServices {
  readonly agentStore = new AgentStoreHostService();

  forPlugin(decl: { readonly type: string }): HostServiceRegistration[] {
    return decl.type === 'NodeAttestor' ? [this.agentStore.registration()] : [];
  }
}
