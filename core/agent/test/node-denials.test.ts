// The server API as the node identity wraps it (also for the sync manager): a call refused
// because the agent is banned or evicted is reported once as terminal; any
// other failure is only rethrown (the manager retries it).
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { AgentServerApi, NodeIdentityError } from '../src/node/index.js';
import { terminalDenial, watchTerminalDenials } from '../src/node/denials.js';

/** A grpc-js style PERMISSION_DENIED error carrying PermissionDeniedDetails{reason} as SPIRE servers send it. */
function denied(reason?: number): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  if (reason !== undefined) {
    const url = Buffer.from('type.googleapis.com/spire.api.types.PermissionDeniedDetails');
    const any = Buffer.concat([Buffer.from([0x0a, url.length]), url, Buffer.from([0x12, 2, 0x08, reason])]);
    metadata.set('grpc-status-details-bin', Buffer.concat([Buffer.from([0x08, 7, 0x1a, any.length]), any]));
  }
  const details = 'authorization denied for method /spire.api.server.entry.v1.Entry/SyncAuthorizedEntries';
  return Object.assign(new Error(`7 PERMISSION_DENIED: ${details}`), { code: grpc.status.PERMISSION_DENIED, details, metadata });
}

function failingApi(err: unknown): AgentServerApi {
  const fail = (): Promise<never> => Promise.reject(err);
  return { syncAuthorizedEntries: fail, batchNewX509Svid: fail, newJwtSvid: fail, getBundle: fail, getFederatedBundle: fail };
}

describe('terminal denials of the sync manager calls', () => {
  it('maps AGENT_BANNED and AGENT_NOT_ATTESTED to terminal errors, nothing else', () => {
    expect(terminalDenial(denied(4), 'sync')).toMatchObject({ code: 'ERR_NODE_BANNED', message: expect.stringMatching(/^agent is banned: the server refused to sync \(7 PERMISSION_DENIED/) as string });
    expect(terminalDenial(denied(2), 'sync')).toMatchObject({ code: 'ERR_NODE_EVICTED' });
    for (const other of [denied(), denied(1), denied(3), denied(5), new Error('boom'), Object.assign(new Error('down'), { code: grpc.status.UNAVAILABLE })]) {
      expect(terminalDenial(other, 'sync')).toBeUndefined();
    }
  });

  it('reports the first terminal denial once, before the caller hears of it; callers get it as a terminal error', async () => {
    const seen: NodeIdentityError[] = [];
    const err = denied(4);
    const api = watchTerminalDenials(failingApi(err), (e) => seen.push(e));
    const first = await api.syncAuthorizedEntries().catch((e: unknown) => e);
    expect(seen).toEqual([first]);
    await expect(api.batchNewX509Svid([])).rejects.toMatchObject({ code: 'ERR_NODE_BANNED', terminal: true, message: expect.stringMatching(/refused to issue X509-SVIDs/) as string, cause: err });
    await expect(api.getFederatedBundle('other.test')).rejects.toMatchObject({ code: 'ERR_NODE_BANNED', terminal: true });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.message).toMatch(/refused to sync registration entries/);
    expect(seen[0]!.terminal).toBe(true);
    expect(seen[0]!.cause).toBe(err);
  });

  it('passes results through and ignores retryable failures', async () => {
    const seen: NodeIdentityError[] = [];
    const unavailable = Object.assign(new Error('14 UNAVAILABLE: no connection'), { code: grpc.status.UNAVAILABLE, details: 'no connection', metadata: new grpc.Metadata() });
    const ok: AgentServerApi = { ...failingApi(unavailable), syncAuthorizedEntries: () => Promise.resolve([]) };
    const api = watchTerminalDenials(ok, (e) => seen.push(e));
    await expect(api.syncAuthorizedEntries()).resolves.toEqual([]);
    await expect(api.getBundle()).rejects.toBe(unavailable);
    await expect(api.newJwtSvid('e', ['a'])).rejects.toBe(unavailable);
    expect(seen).toEqual([]);
  });
});
