// The AgentStore host service over the real plugin wire: a NodeAttestor
// plugin process asks the host whether an agent ID is attested.
import { describe, expect, it } from 'vitest';
import { Status } from '@spire-ts/plugin-sdk';
import { AgentStoreHostService, ServerHostServices } from '../src/index.js';

describe('AgentStore host service', () => {
  it('answers FAILED_PRECONDITION until bound, then NOT_FOUND or the agent info', async () => {
    const s = new AgentStoreHostService();
    await expect(s.getAgentInfo('spiffe://example.org/spire/agent/x')).rejects.toMatchObject({ code: Status.FAILED_PRECONDITION });
    const attested = new Set(['spiffe://example.org/spire/agent/x']);
    s.bind((id) => Promise.resolve(attested.has(id)));
    await expect(s.getAgentInfo('spiffe://example.org/spire/agent/x')).resolves.toEqual({ info: { agent_id: 'spiffe://example.org/spire/agent/x' } });
    await expect(s.getAgentInfo('spiffe://example.org/spire/agent/y')).rejects.toMatchObject({ code: Status.NOT_FOUND, message: 'no such agent' });
    await expect(s.getAgentInfo('')).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT });
  });

  it('is offered to NodeAttestor plugins only', () => {
    const hs = new ServerHostServices();
    expect(hs.forPlugin({ type: 'NodeAttestor' }).map((r) => r.name)).toEqual(['spire.hostservice.server.agentstore.v1.AgentStore']);
    expect(hs.forPlugin({ type: 'KeyManager' })).toEqual([]);
    expect(hs.forPlugin({ type: 'DataStore' })).toEqual([]);
  });
});
