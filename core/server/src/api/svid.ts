/**
 * `spire.api.server.svid.v1.SVID` (SPIRE's pkg/server/api/svid/v1): admins
 * mint X.509- and JWT-SVIDs for any workload ID of the trust domain; agents
 * get SVIDs for the registration entries they are authorized for (the entry
 * cache decides which), one result per request item, in order. CSRs are
 * proof of possession here: their signature must verify.
 */
import { isAgentId, parseSpiffeId, type CertificateRequest } from '@spire-ts/common';
import { sharedCsrCheckPool, type CsrCheckPool } from './csr-check.js';
import type { ServiceImpl } from '@spire-ts/plugin-sdk';
import type { serverApiSvidV1 } from '@spire-ts/proto';
import { callerOf } from './caller.js';
import { errorMessage, makeStatus, okStatus, protoFromId, validateDnsName, workloadIdFromProto, type ProtoId } from './convert/common.js';
import { jwtSvidToProto, x509SvidToProto } from './convert/svid.js';
import type { ApiDeps } from './deps.js';
import { apiError, internal, invalidArgument, notFound, permissionDenied, Status } from './errors.js';
import type { RegistrationEntry } from '../plugin/datastore/datastore.js';

type Impl = ServiceImpl<'spire.api.server.svid.v1.SVID'>;
type BatchResult = serverApiSvidV1._spire_api_server_svid_v1_BatchNewX509SVIDResponse_Result__Output;

const ttlMs = (seconds: number | undefined): { ttlMs?: number } => (seconds !== undefined && seconds > 0 ? { ttlMs: seconds * 1000 } : {});

/** SPIRE's CheckForWildcardOverlap: `*.example.org` with `a.example.org` in one SVID is refused. */
export function wildcardOverlap(names: readonly string[]): string | undefined {
  const set = new Set(names);
  for (const name of set) {
    if (name.startsWith('*')) continue;
    const labels = name.split('.');
    labels[0] = '*';
    if (set.has(labels.join('.'))) return `name ${JSON.stringify(name)} overlaps with an existing wildcard name in the list: wildcard overlap`;
  }
  return undefined;
}

/** Parses a CSR and checks its signature; `what` failures as SPIRE words them. */
async function checkedCsr(pool: CsrCheckPool, der: Uint8Array, signatureMessage: string): Promise<CertificateRequest> {
  let csr: CertificateRequest;
  try {
    csr = await pool.check(der);
  } catch (err) {
    throw invalidArgument(`malformed CSR: ${errorMessage(err)}`);
  }
  if (!csr.signatureValid) throw invalidArgument(signatureMessage);
  return csr;
}

export function svidService(deps: ApiDeps): Impl {
  // CSR key import and signature checks run on worker threads (csr-check.ts).
  const csrs = sharedCsrCheckPool(deps.log);
  const callingAgent = (call: object): string => {
    const caller = callerOf(call);
    if (caller.kind !== 'x509' || !isAgentId(caller.spiffeId, deps.trustDomain)) {
      throw permissionDenied('caller is not an agent of this trust domain');
    }
    return caller.spiffeId;
  };

  const workloadId = (id: ProtoId): string => {
    try {
      return workloadIdFromProto(deps.trustDomain, id);
    } catch (err) {
      throw invalidArgument(`invalid SPIFFE ID: ${errorMessage(err)}`);
    }
  };

  /** `spiffeId`: checked already (a workload ID of this trust domain). */
  const mintJwt = async (spiffeId: string, audience: readonly string[] | undefined, ttlSeconds: number | undefined) => {
    const aud = (audience ?? []).filter((a) => a !== '');
    if (aud.length === 0) throw invalidArgument('at least one audience is required');
    try {
      const jwt = await deps.ca.signJwtSvid({ spiffeId, audience: aud, ...ttlMs(ttlSeconds) });
      return jwtSvidToProto(spiffeId, jwt);
    } catch (err) {
      throw internal(`failed to sign JWT-SVID: ${errorMessage(err)}`, err);
    }
  };

  const newX509 = async (param: serverApiSvidV1.NewX509SVIDParams__Output, entries: ReadonlyMap<string, RegistrationEntry>): Promise<BatchResult> => {
    const fail = (code: Status, msg: string, cause?: unknown): BatchResult => ({ status: makeStatus(code, msg, cause), svid: null });
    if (!param.entry_id) return fail(Status.INVALID_ARGUMENT, 'missing entry ID');
    if (!param.csr || param.csr.length === 0) return fail(Status.INVALID_ARGUMENT, 'missing CSR');
    const entry = entries.get(param.entry_id);
    if (!entry) return fail(Status.NOT_FOUND, 'entry not found or not authorized');
    let csr: CertificateRequest;
    try {
      csr = await csrs.check(param.csr);
    } catch (err) {
      return fail(Status.INVALID_ARGUMENT, 'malformed CSR', err);
    }
    if (!csr.signatureValid) return fail(Status.INVALID_ARGUMENT, 'invalid CSR signature');
    try {
      const svid = await deps.ca.signWorkloadX509Svid({
        spiffeId: entry.spiffeId,
        publicKeyDer: csr.publicKeyDer,
        publicKey: csr.publicKey,
        dnsNames: entry.dnsNames,
        ...ttlMs(entry.x509SvidTtl),
      });
      return { status: okStatus(), svid: x509SvidToProto(entry.spiffeId, svid) };
    } catch (err) {
      return fail(Status.INTERNAL, 'failed to sign X509-SVID', err);
    }
  };

  /** The caller's authorized entries among `ids`, by id. */
  const authorized = (agentId: string, ids: Iterable<string>): Map<string, RegistrationEntry> => deps.entries.lookupAuthorizedEntries(agentId, ids);

  return {
    async MintX509SVID(req) {
      if (!req.csr || req.csr.length === 0) throw invalidArgument('missing CSR');
      const csr = await checkedCsr(csrs, req.csr, 'failed to verify CSR signature');
      if (csr.uris.length === 0) throw invalidArgument('CSR URI SAN is required');
      if (csr.uris.length > 1) throw invalidArgument('only one URI SAN is expected');
      let spiffeId: string;
      try {
        spiffeId = workloadIdFromProto(deps.trustDomain, protoFromId(parseSpiffeId(csr.uris[0] as string).toString()));
      } catch (err) {
        throw invalidArgument(`CSR URI SAN is invalid: ${errorMessage(err)}`);
      }
      for (const name of csr.dnsNames) {
        try {
          validateDnsName(name);
        } catch (err) {
          throw invalidArgument(`CSR DNS name is invalid: ${errorMessage(err)}`);
        }
      }
      const overlap = wildcardOverlap(csr.dnsNames);
      if (overlap !== undefined) throw invalidArgument(`CSR DNS name contains a wildcard that covers another non-wildcard name: ${overlap}`);
      try {
        const svid = await deps.ca.signWorkloadX509Svid({ spiffeId, publicKeyDer: csr.publicKeyDer, publicKey: csr.publicKey, dnsNames: csr.dnsNames, ...ttlMs(req.ttl) });
        return { svid: x509SvidToProto(spiffeId, svid) };
      } catch (err) {
        throw internal(`failed to sign X509-SVID: ${errorMessage(err)}`, err);
      }
    },

    async MintJWTSVID(req) {
      return { svid: await mintJwt(workloadId(req.id), req.audience, req.ttl) };
    },

    async BatchNewX509SVID(req, call) {
      if (!req.params || req.params.length === 0) throw invalidArgument('missing parameters');
      const agentId = callingAgent(call);
      const entries = authorized(agentId, req.params.map((p) => p.entry_id));
      // Each item is independent: CSR checks run on the threadpool and signatures in the KeyManager concurrently.
      const results = await Promise.all(req.params.map((p) => newX509(p, entries)));
      return { results };
    },

    async NewJWTSVID(req, call) {
      const agentId = callingAgent(call);
      const entry = authorized(agentId, [req.entry_id]).get(req.entry_id);
      if (!entry) throw notFound('entry not found or not authorized');
      // The entry's SPIFFE ID was checked when it was stored; signJwtSvid checks its trust domain again.
      return { svid: await mintJwt(entry.spiffeId, req.audience, entry.jwtSvidTtl) };
    },

    async NewDownstreamX509CA() {
      throw apiError(Status.UNIMPLEMENTED, 'NewDownstreamX509CA is not supported yet: downstream (nested) SPIRE servers are not implemented');
    },

    async MintWITSVID() {
      throw apiError(Status.UNIMPLEMENTED, 'WIT-SVIDs are not supported');
    },

    async BatchNewWITSVID() {
      throw apiError(Status.UNIMPLEMENTED, 'WIT-SVIDs are not supported');
    },
  };
}
