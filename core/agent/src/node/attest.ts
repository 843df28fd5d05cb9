/**
 * The agent's calls that obtain or renew its own SVID: `Agent.AttestAgent`
 * (bidi: params, then challenge/response rounds relayed to the attestor,
 * then the result) and `Agent.RenewAgent`; and the checks on what the server
 * returns (a chain whose leaf holds our key and an agent ID of our trust
 * domain).
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { buildCSR, isAgentId, messageReader, parseSpiffeId, validateX509Svid } from '@spire-ts/common';
import type { apiTypes, serverApiAgentV1 } from '@spire-ts/proto';
import type { AgentNodeAttestor } from './attestor.js';
import type { ServerConnection } from './connection.js';
import { unaryCall } from './connection.js';
import { keyMatches } from './storage.js';

/** Longest a whole attestation may take. */
const ATTEST_TIMEOUT_MS = 5 * 60_000;

export interface AgentSvid {
  chain: Uint8Array[];
  key: KeyObject;
  spiffeId: string;
  /** Unix milliseconds. */
  notBefore: number;
  notAfter: number;
}

/** Checks an agent SVID from the server: holds `key`, carries an agent ID of `trustDomain`, and (with roots) verifies. */
export function checkAgentSvid(chain: readonly Uint8Array[], key: KeyObject, trustDomain: string, roots: readonly Uint8Array[] | undefined): AgentSvid {
  const [leaf, ...rest] = chain;
  if (!leaf) throw new Error('the server returned an empty certificate chain');
  if (!keyMatches(key, leaf)) throw new Error('the SVID the server returned is not for the key in the CSR');
  let spiffeId: string;
  if (roots) spiffeId = validateX509Svid(leaf, rest, roots, new Date()).spiffeId;
  else {
    const uri = /URI:(spiffe:\/\/[^,\s]+)/.exec(new X509Certificate(leaf).subjectAltName ?? '')?.[1];
    if (!uri) throw new Error('the SVID the server returned has no SPIFFE ID');
    spiffeId = uri;
  }
  const id = parseSpiffeId(spiffeId);
  if (id.trustDomain !== trustDomain) throw new Error(`the server issued an SVID for trust domain ${id.trustDomain}, expected ${trustDomain}`);
  if (!isAgentId(id)) throw new Error(`the server issued ${spiffeId}, which is not an agent ID (spiffe://${trustDomain}/spire/agent/...)`);
  const x = new X509Certificate(leaf);
  return { chain: [...chain], key, spiffeId, notBefore: Date.parse(x.validFrom), notAfter: Date.parse(x.validTo) };
}

/** AttestAgent over `conn` (whose credentials decide how the server is authenticated). */
export async function attestAgent(
  conn: ServerConnection,
  attestor: AgentNodeAttestor,
  key: KeyObject,
): Promise<{ chain: Uint8Array[]; reattestable: boolean }> {
  const csr = buildCSR(key);
  const session = attestor.begin();
  try {
    const payload = await session.payload();
    return await conn.with('spire.api.server.agent.v1.Agent', async (client) => {
      const call = client.AttestAgent({ deadline: Date.now() + ATTEST_TIMEOUT_MS });
      const reader = messageReader<serverApiAgentV1.AttestAgentResponse__Output>(call);
      try {
        call.write({ params: { data: { type: attestor.name, payload }, params: { csr } } });
        for (;;) {
          const res = await reader.next();
          if (!res) throw new Error('the server ended AttestAgent without a result');
          if (res.step === 'result' && res.result) {
            const svid: apiTypes.X509SVID__Output | null = res.result.svid;
            if (!svid || svid.cert_chain.length === 0) throw new Error('the server returned an attestation result without an SVID');
            call.end();
            return { chain: svid.cert_chain.map((c) => new Uint8Array(c)), reattestable: res.result.reattestable === true };
          }
          if (res.step !== 'challenge' || !res.challenge) throw new Error('the server sent an AttestAgent response with neither challenge nor result');
          const answer = await session.answer(new Uint8Array(res.challenge));
          call.write({ challenge_response: answer });
        }
      } finally {
        reader.close();
        call.cancel();
      }
    });
  } finally {
    session.close();
  }
}

/** RenewAgent with a CSR for `key`; over the agent's mTLS connection. */
export async function renewAgent(conn: ServerConnection, key: KeyObject): Promise<Uint8Array[]> {
  const csr = buildCSR(key);
  return conn.with('spire.api.server.agent.v1.Agent', async (client) => {
    const res = await unaryCall<serverApiAgentV1.RenewAgentRequest, serverApiAgentV1.RenewAgentResponse__Output>(client.RenewAgent.bind(client), { params: { csr } });
    const chain = res.svid?.cert_chain ?? [];
    if (chain.length === 0) throw new Error('the server returned a RenewAgent response without an SVID');
    return chain.map((c) => new Uint8Array(c));
  });
}
