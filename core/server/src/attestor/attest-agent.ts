/**
 * Agent.AttestAgent (SPIRE's agent/v1 service.go AttestAgent): the agent
 * sends `params` (attestation data and a CSR) first; `join_token` is
 * attested here, any other type by the NodeAttestor plugin of that name,
 * relaying its challenges over the agent's stream. A banned agent is
 * refused; otherwise the agent gets an X.509-SVID for the attested ID, its
 * node record (serial, expiry, can_reattest) and selectors are stored, and
 * the entry cache is refreshed before the result is sent.
 */
import { SERVER_ID_PATH, isAgentPath, messageReader, parseCSRAsync, parseSpiffeId, PluginHostError, type MessageReader } from '@spire-ts/common';
import { PluginError } from '@spire-ts/plugin-sdk';
import type { serverApiAgentV1 } from '@spire-ts/proto';
import type { AttestationResult, ApiDeps, NodeAttestor } from '../api/deps.js';
import { apiError, internal, invalidArgument, permissionDenied, Status } from '../api/errors.js';
import { dedupeSelectors } from '../api/convert/agent.js';
import { svidRecord, x509SvidToProto } from '../api/convert/svid.js';
import type { IssuedX509Svid } from '../ca/ca.js';
import { NodeAttestorV1, type AttestPeer } from '../plugin/nodeattestor/v1.js';
import { JOIN_TOKEN_TYPE, attestJoinToken } from './join-token.js';

type Request = serverApiAgentV1.AttestAgentRequest__Output;
type Response = serverApiAgentV1.AttestAgentResponse;

/** The server side of the AttestAgent stream as grpc-js and the SDK's LeanGrpcServer give it. */
export interface AttestStream extends NodeJS.EventEmitter {
  write(message: Response): boolean;
  end(): void;
  getPeer(): string;
}

/** Runs `fn`, turning any failure into INTERNAL `<what>: <message>` (SPIRE's MakeErr on DataStore errors). */
export async function dsCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw internal(`${what}: ${(err as Error).message}`, err);
  }
}

/** Signs an agent X.509-SVID for the CSR's key (SPIRE checks neither the CSR's signature nor its names here). */
export async function signAgentSvid(deps: ApiDeps, agentId: string, csrDer: Uint8Array): Promise<IssuedX509Svid> {
  let publicKeyDer: Uint8Array;
  try {
    publicKeyDer = (await parseCSRAsync(csrDer)).publicKeyDer;
  } catch (err) {
    throw invalidArgument(`failed to parse CSR: ${(err as Error).message}`);
  }
  try {
    return await deps.ca.signAgentX509Svid({ spiffeId: agentId, publicKeyDer, ...(deps.agentTtlMs === undefined ? {} : { ttlMs: deps.agentTtlMs }) });
  } catch (err) {
    throw internal(`failed to sign X509 SVID: ${(err as Error).message}`, err);
  }
}

function validateParams(p: serverApiAgentV1._spire_api_server_agent_v1_AttestAgentRequest_Params__Output | null | undefined): string | undefined {
  if (!p) return 'missing params';
  if (!p.data) return 'missing attestation data';
  if (!p.params) return 'missing X509-SVID parameters';
  if (!p.params.csr || p.params.csr.length === 0) return 'missing CSR';
  if (!p.data.type) return 'missing attestation data type';
  if (!p.data.payload || p.data.payload.length === 0) return 'missing attestation data payload';
  return undefined;
}

/** `ipv4:1.2.3.4:5` / `ipv6:[::1]:5` → the IP; '' for Unix sockets or unknown shapes. */
function peerIp(peer: string): string {
  const v6 = /^ipv6:\[([^\]]+)\]:\d+$/.exec(peer);
  if (v6) return v6[1] as string;
  const v4 = /^(?:ipv4:)?(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(peer);
  return v4 ? (v4[1] as string) : '';
}

/** A plugin's failure as the agent sees it: its code and (plugin-prefixed) message. */
function relayed(err: unknown): PluginError {
  if (err instanceof PluginError) return err;
  if (err instanceof PluginHostError) return apiError(err.grpcCode, err.message, err);
  return internal(`node attestation failed: ${(err as Error).message}`, err);
}

async function attestWithPlugin(
  attestor: NodeAttestor,
  payload: Uint8Array,
  stream: AttestStream,
  reader: MessageReader<Request>,
): Promise<AttestationResult> {
  const challenge = async (c: Uint8Array): Promise<Uint8Array> => {
    stream.write({ challenge: Buffer.from(c) });
    let req: Request | undefined;
    try {
      req = await reader.next();
    } catch (err) {
      throw internal(`failed to receive challenge from agent: ${(err as Error).message}`, err);
    }
    if (!req) throw internal('failed to receive challenge from agent: the agent closed the stream');
    if (req.step !== 'challenge_response') throw invalidArgument('expected a challenge response from the agent');
    return new Uint8Array(req.challenge_response ?? Buffer.alloc(0));
  };
  try {
    if (attestor instanceof NodeAttestorV1) {
      const peer: AttestPeer = { clientIp: peerIp(stream.getPeer()) };
      return await attestor.attest(payload, challenge, peer);
    }
    return await attestor.attest(payload, challenge);
  } catch (err) {
    throw relayed(err);
  }
}

/** The attested agent ID, checked: a SPIFFE ID, not the server's, an agent ID of this trust domain. */
function checkAgentId(deps: ApiDeps, type: string, id: string): string {
  let parsed;
  try {
    parsed = parseSpiffeId(id);
  } catch (err) {
    throw internal(`invalid agent ID: ${(err as Error).message}`, err);
  }
  if (parsed.path === SERVER_ID_PATH) throw internal('agent ID cannot collide with the server ID');
  if (parsed.trustDomain !== deps.trustDomain || !isAgentPath(parsed.path)) {
    throw internal(`node attestor "${type}" produced ${JSON.stringify(id)}, which is not an agent ID of trust domain "${deps.trustDomain}"`);
  }
  if (!isAgentPath(parsed.path, type)) {
    deps.log.warn('The node attestor produced an agent ID outside its reserved agent namespace', { spiffe_id: id, node_attestor_type: type });
  }
  return parsed.toString();
}

async function attest(deps: ApiDeps, stream: AttestStream, reader: MessageReader<Request>): Promise<Response> {
  let first: Request | undefined;
  try {
    first = await reader.next();
  } catch (err) {
    throw invalidArgument(`failed to receive request from stream: ${(err as Error).message}`);
  }
  const params = first?.step === 'params' ? first.params : undefined;
  const problem = validateParams(params);
  if (problem !== undefined || !params?.data || !params.params) throw invalidArgument(`malformed param: ${problem ?? 'missing params'}`);
  const type = params.data.type;
  const payload = new Uint8Array(params.data.payload);
  const log = deps.log.with({ node_attestor_type: type });

  let result: AttestationResult;
  if (type === JOIN_TOKEN_TYPE && deps.joinTokenEnabled !== false) {
    result = await attestJoinToken(deps, payload);
  } else {
    const attestor = deps.nodeAttestors.get(type);
    if (!attestor) throw apiError(Status.FAILED_PRECONDITION, `error getting node attestor: could not find node attestor type "${type}"`);
    result = await attestWithPlugin(attestor, payload, stream, reader);
  }
  const agentId = checkAgentId(deps, type, result.agentId);

  const existing = await dsCall('failed to fetch agent', () => deps.ds.fetchNode(agentId));
  if (existing?.banned) throw permissionDenied('failed to attest: agent is banned');

  const svid = await signAgentSvid(deps, agentId, new Uint8Array(params.params.csr));
  const { serialNumber, notAfter } = svidRecord(svid);

  await dsCall('failed to update selectors', () => deps.ds.setNodeSelectors(agentId, dedupeSelectors(result.selectors)));
  if (!existing) {
    await dsCall('failed to create attested agent', () =>
      deps.ds.createNode({
        spiffeId: agentId,
        attestationDataType: type,
        certSerialNumber: serialNumber,
        certNotAfter: notAfter,
        newCertSerialNumber: '',
        newCertNotAfter: 0,
        canReattest: result.canReattest,
        agentVersion: '',
      }),
    );
  } else {
    // SPIRE's UpdateAttestedNodeCertificateMask: the certificate fields and can_reattest.
    const { banned: _banned, selectors: _selectors, ...node } = existing;
    await dsCall('failed to update attested agent', () =>
      deps.ds.updateNode({ ...node, certSerialNumber: serialNumber, certNotAfter: notAfter, newCertSerialNumber: '', newCertNotAfter: 0, canReattest: result.canReattest }),
    );
  }
  try {
    await deps.entries.refresh();
  } catch (err) {
    log.warn('Failed to refresh the entry cache after attestation', { error: (err as Error).message, agent_id: agentId });
  }
  log.info('Agent attestation request completed', { agent_id: agentId, address: stream.getPeer() });
  return { result: { svid: x509SvidToProto(agentId, svid), reattestable: result.canReattest } };
}

/**
 * The AttestAgent handler body: runs the attestation and ends the stream
 * with the result or the failure's status. Never rejects.
 */
export async function attestAgent(deps: ApiDeps, stream: AttestStream): Promise<void> {
  const reader = messageReader<Request>(stream);
  try {
    const response = await attest(deps, stream, reader);
    reader.close();
    stream.write(response);
    stream.end();
  } catch (err) {
    reader.close();
    const e = err instanceof PluginError ? err : internal(`attestation failed: ${(err as Error).message}`, err);
    if (e.code === Status.INTERNAL) deps.log.error('Agent attestation failed', { error: e.message });
    stream.emit('error', e);
  }
}
