/**
 * Envoy's Secret Discovery Service (v3) on the Workload API socket, with the
 * semantics of SPIRE's agent (pkg/agent/endpoints/sdsv3): the caller is the
 * process at the other end of the connection (no `workload.spiffe.io`
 * header), attested like a Workload API caller, and is served its
 * X.509-SVIDs as `tls_certificate` secrets and its trust bundles as
 * `validation_context` secrets.
 *
 * Resource names: a SPIFFE ID the workload holds; `default` (configurable)
 * for its first SVID; `spiffe://<td>` for the bundle of its own or a
 * federated trust domain; `ROOTCA` (configurable) for its own trust
 * domain's bundle; `ALL` (configurable) for a SPIFFE validator config with
 * every bundle; no names for everything. A name the workload is not
 * entitled to is INVALID_ARGUMENT.
 *
 * StreamSecrets follows the xDS state-of-the-world protocol as SPIRE does:
 * every cache change bumps `version_info` (a counter) and is pushed with a
 * fresh 8-hex-digit nonce; a request is an ACK/NACK of the last response only
 * when it echoes that nonce (others are stale and ignored); a NACK is logged
 * and not answered unless it also changes the requested names.
 *
 * @module
 */
import { latestWins } from './latest.js';
import { createHash, randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { pemEncode, type Bundle, type Logger } from '@spire-ts/common';
import { PluginError, Status, addService, type ServiceImpl, type ServiceRegistrar } from '@spire-ts/plugin-sdk';
import type { discoveryV3, envoyCoreV3 } from '@spire-ts/proto';
import type { Selector, WorkloadCache, WorkloadIdentity, WorkloadUpdate } from './cache.js';
import type { CallerProcess, WorkloadAttestation } from './attestation.js';
import { SvidWaitingSubscription } from './svid-wait.js';

/** The resource type of every SDS secret. */
export const SECRET_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';
const SPIFFE_VALIDATOR_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig';
const SPIFFE_VALIDATOR_NAME = 'envoy.tls.cert_validator.spiffe';
const DISABLE_VALIDATION_KEY = 'disable_spiffe_cert_validation';
/** How long a stream waits for the SVIDs of matching entries still being minted (as the Workload API does). */
export const DEFAULT_SDS_SVID_WAIT_MS = 30_000;
/** At most this many requested names are echoed in an error message. */
const MAX_NAMES_IN_ERROR = 32;

/** SPIRE's `sds` block of the agent configuration. */
export interface SdsOptions {
  /** Resource name of the workload's first X.509-SVID; SPIRE default `default`. */
  readonly defaultSvidName?: string;
  /** Resource name of the agent's own trust domain bundle; SPIRE default `ROOTCA`. */
  readonly defaultBundleName?: string;
  /** Resource name of the SPIFFE validator config with every bundle; SPIRE default `ALL`. */
  readonly defaultAllBundlesName?: string;
  /** Send `trusted_ca` validation contexts instead of Envoy's SPIFFE validator (overridable per Envoy by node metadata). */
  readonly disableSpiffeCertValidation?: boolean;
}

/** What the SDS handlers need from the server around them. */
export interface SdsHandlerDeps {
  cache: WorkloadCache;
  attestation: WorkloadAttestation;
  /** The caller of a call's connection, from SO_PEERCRED at accept; undefined = unknown connection. */
  callerOf(call: { getPeer(): string }): CallerProcess | undefined;
  log: Logger;
  options?: SdsOptions;
  /** Registers an open stream so the server can end it on close; returns its deregistration. */
  trackStream(end: () => void): () => void;
  /** How long a stream waits for SVIDs still being minted; default {@link DEFAULT_SDS_SVID_WAIT_MS}. */
  svidWaitMs?: number;
}

interface ResolvedSdsOptions {
  defaultSvidName: string;
  defaultBundleName: string;
  defaultAllBundlesName: string;
  disableSpiffeCertValidation: boolean;
}

function resolveOptions(o: SdsOptions | undefined): ResolvedSdsOptions {
  return {
    defaultSvidName: o?.defaultSvidName || 'default',
    defaultBundleName: o?.defaultBundleName || 'ROOTCA',
    defaultAllBundlesName: o?.defaultAllBundlesName || 'ALL',
    disableSpiffeCertValidation: o?.disableSpiffeCertValidation ?? false,
  };
}

type DiscoveryRequest = discoveryV3.DiscoveryRequest__Output;
type DiscoveryResponse = discoveryV3.DiscoveryResponse;
type Node = envoyCoreV3.Node__Output;
type AnyMessage = { type_url: string; value: Buffer };

// ---------------------------------------------------------------------------
// Protobuf encoding of the few Envoy messages carried inside google.protobuf.Any.
// (The SDS service's own descriptors do not include them: Any is opaque there.)

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** A length-delimited field (wire type 2). */
function field(num: number, body: Uint8Array | string): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return Buffer.concat([Buffer.from(varint((num << 3) | 2)), Buffer.from(varint(bytes.length)), bytes]);
}

/** envoy.config.core.v3.DataSource{inline_bytes = 2} (a oneof member: always written). */
const inlineBytes = (bytes: Uint8Array): Buffer => field(2, bytes);

/** google.protobuf.Any as a message body. */
const anyBody = (a: AnyMessage): Buffer => Buffer.concat([field(1, a.type_url), field(2, a.value)]);

/** Secret{name = 1, tls_certificate = 2 | validation_context = 4}. */
function secret(name: string, kind: 'tls_certificate' | 'validation_context', body: Buffer): AnyMessage {
  return { type_url: SECRET_TYPE_URL, value: Buffer.concat([field(1, name), field(kind === 'tls_certificate' ? 2 : 4, body)]) };
}

const certificatesPem = (ders: readonly Uint8Array[]): Buffer => Buffer.from(ders.map((d) => pemEncode('CERTIFICATE', d)).join(''), 'ascii');

function tlsCertificateSecret(name: string, identity: WorkloadIdentity): AnyMessage {
  const chain = certificatesPem(identity.certChainDer);
  const key = Buffer.from(pemEncode('PRIVATE KEY', identity.privateKeyPkcs8Der), 'ascii');
  // TlsCertificate{certificate_chain = 1, private_key = 2}
  return secret(name, 'tls_certificate', Buffer.concat([field(1, inlineBytes(chain)), field(2, inlineBytes(key))]));
}

/** CertificateValidationContext{trusted_ca = 1}. */
function trustedCaSecret(name: string, bundle: Bundle): AnyMessage {
  return secret(name, 'validation_context', field(1, inlineBytes(certificatesPem(bundle.x509Authorities))));
}

/** CertificateValidationContext{custom_validator_config = 12: TypedExtensionConfig{name, typed_config: SPIFFECertValidatorConfig}}. */
function spiffeValidatorSecret(name: string, bundles: readonly Bundle[]): AnyMessage {
  // SPIFFECertValidatorConfig{trust_domains = 1: [TrustDomain{name = 1, trust_bundle = 2}]}
  const config = Buffer.concat(bundles.map((b) => field(1, Buffer.concat([field(1, b.trustDomain), field(2, inlineBytes(certificatesPem(b.x509Authorities)))]))));
  const typed = anyBody({ type_url: SPIFFE_VALIDATOR_TYPE_URL, value: config });
  return secret(name, 'validation_context', field(12, Buffer.concat([field(1, SPIFFE_VALIDATOR_NAME), field(2, typed)])));
}

// ---------------------------------------------------------------------------
// Response building (SPIRE's buildResponse).

interface ValidationContextBuilder {
  one(resourceName: string, bundle: Bundle): AnyMessage;
  all(resourceName: string): AnyMessage;
}

/** Envoy 1.18+ understands the SPIFFE validator; without a build version, assume it does. */
function supportsSpiffeValidator(node: Node | null): boolean {
  const build = node?.user_agent_build_version;
  if (!build) return true;
  const v = build.version;
  if (!v) return true;
  return (v.major_number === 1 && v.minor_number > 17) || v.major_number > 1;
}

/** Go's strconv.ParseBool. */
function parseGoBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return undefined;
}

function validationDisabled(configured: boolean, node: Node | null): boolean {
  const v = node?.metadata?.fields?.[DISABLE_VALIDATION_KEY];
  if (!v) return configured;
  // A value of another type or an unparsable string is ignored, as SPIRE does.
  if (v.kind === 'boolValue' && typeof v.boolValue === 'boolean') return v.boolValue;
  if (v.kind === 'stringValue' && typeof v.stringValue === 'string') return parseGoBool(v.stringValue) ?? configured;
  return configured;
}

function validationContextBuilder(opts: ResolvedSdsOptions, node: Node | null, update: WorkloadUpdate): ValidationContextBuilder {
  if (!validationDisabled(opts.disableSpiffeCertValidation, node) && supportsSpiffeValidator(node)) {
    const byTd = new Map<string, Bundle>();
    if (update.bundle) byTd.set(update.bundle.trustDomain, update.bundle);
    for (const b of update.federatedBundles) byTd.set(b.trustDomain, b);
    return {
      one: (name, bundle) => spiffeValidatorSecret(name, [bundle]),
      all: (name) => spiffeValidatorSecret(name, [...byTd.values()].sort((a, b) => (a.trustDomain < b.trustDomain ? -1 : a.trustDomain > b.trustDomain ? 1 : 0))),
    };
  }
  return {
    one: (name, bundle) => trustedCaSecret(name, bundle),
    all: () => {
      throw new PluginError(Status.INTERNAL, 'unable to use "SPIFFE validator" on Envoy below 1.17');
    },
  };
}

function quoteNames(names: readonly string[]): string {
  const shown = names.slice(0, MAX_NAMES_IN_ERROR).map((n) => JSON.stringify(n));
  if (names.length > MAX_NAMES_IN_ERROR) shown.push(`(and ${names.length - MAX_NAMES_IN_ERROR} more)`);
  return `[${shown.join(' ')}]`;
}

/**
 * The secrets `request` asks for out of `update`. `versionInfo` '' (FetchSecrets) means no nonce.
 * @throws PluginError INVALID_ARGUMENT naming what the workload is not entitled to; INTERNAL for `ALL` on old Envoys.
 */
export function buildSdsResponse(
  opts: SdsOptions | undefined,
  versionInfo: string,
  request: { resource_names: readonly string[]; type_url: string; node: Node | null },
  update: WorkloadUpdate,
): DiscoveryResponse & { resources: AnyMessage[]; nonce: string; version_info: string } {
  const o = resolveOptions(opts);
  const resources: AnyMessage[] = [];
  const names = new Set(request.resource_names.filter((n) => n !== ''));
  const all = names.size === 0;
  const builder = validationContextBuilder(o, request.node, update);

  // The own trust domain: by ID (or everything), else the default bundle name, else the all-bundles name — one of them.
  const own = update.bundle;
  if (own) {
    const id = `spiffe://${own.trustDomain}`;
    if (all || names.has(id)) {
      resources.push(builder.one(id, own));
      names.delete(id);
    } else if (names.has(o.defaultBundleName)) {
      resources.push(builder.one(o.defaultBundleName, own));
      names.delete(o.defaultBundleName);
    } else if (names.has(o.defaultAllBundlesName)) {
      resources.push(builder.all(o.defaultAllBundlesName));
      names.delete(o.defaultAllBundlesName);
    }
  }

  const federated = [...update.federatedBundles].sort((a, b) => (a.trustDomain < b.trustDomain ? -1 : a.trustDomain > b.trustDomain ? 1 : 0));
  for (const b of federated) {
    const id = `spiffe://${b.trustDomain}`;
    if (all || names.has(id)) {
      resources.push(builder.one(id, b));
      names.delete(id);
    }
  }

  update.identities.forEach((identity, i) => {
    if (all || names.has(identity.spiffeId)) {
      resources.push(tlsCertificateSecret(identity.spiffeId, identity));
      names.delete(identity.spiffeId);
    } else if (i === 0 && names.has(o.defaultSvidName)) {
      resources.push(tlsCertificateSecret(o.defaultSvidName, identity));
      names.delete(o.defaultSvidName);
    }
  });

  if (names.size > 0) {
    throw new PluginError(Status.INVALID_ARGUMENT, `workload is not authorized for the requested identities ${quoteNames([...names].sort())}`);
  }
  return {
    version_info: versionInfo,
    type_url: request.type_url,
    nonce: versionInfo === '' ? '' : randomBytes(4).toString('hex'),
    resources,
  };
}

/** A digest of what SDS can serve from an update: equal digests give equal secrets. */
function updateDigest(u: WorkloadUpdate): string {
  const h = createHash('sha256');
  const put = (s: string | Uint8Array): void => {
    const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
    h.update(Buffer.from(varint(b.length)));
    h.update(b);
  };
  for (const id of u.identities) {
    put('id');
    put(id.spiffeId);
    for (const c of id.certChainDer) put(c);
    put(id.privateKeyPkcs8Der);
  }
  for (const b of [...(u.bundle ? [u.bundle] : []), ...u.federatedBundles]) {
    put('bundle');
    put(b.trustDomain);
    for (const c of b.x509Authorities) put(c);
  }
  return h.digest('hex');
}

/** Whether two resource name lists differ as sets of the same length (SPIRE's subListChanged). */
function namesChanged(previous: readonly string[], next: readonly string[]): boolean {
  if (previous.length !== next.length) return true;
  const set = new Set(previous);
  return next.some((n) => !set.has(n));
}

// ---------------------------------------------------------------------------
// The service.

type AnyCall = {
  getPeer(): string;
  on(event: 'cancelled', listener: () => void): unknown;
  off(event: 'cancelled', listener: () => void): unknown;
  cancelled: boolean;
};

function endWith(call: grpc.ServerDuplexStream<unknown, unknown>, err: PluginError): void {
  call.emit('error', { code: err.code, details: err.details });
}

function asStatus(err: unknown): PluginError {
  return err instanceof PluginError ? err : new PluginError(Status.INTERNAL, (err as Error).message ?? String(err));
}

/**
 * The SecretDiscoveryService handlers, bound to `deps`.
 *
 * @example
 * ```ts
 * addService(server, 'envoy.service.secret.v3.SecretDiscoveryService', sdsHandlers({ cache, attestation, callerOf, log, trackStream }));
 * ```
 */
export function sdsHandlers(deps: SdsHandlerDeps): ServiceImpl<'envoy.service.secret.v3.SecretDiscoveryService'> {
  const { cache, log } = deps;
  const options = deps.options;

  async function attest(call: AnyCall, method: string): Promise<{ selectors: Selector[]; caller: CallerProcess }> {
    const caller = deps.callerOf(call);
    if (!caller) {
      log.error('Caller credentials unavailable for connection', { method, peer: call.getPeer() });
      throw new PluginError(Status.PERMISSION_DENIED, 'caller could not be identified from its connection');
    }
    const abort = new AbortController();
    const onCancel = (): void => abort.abort();
    call.on('cancelled', onCancel);
    try {
      return { selectors: await deps.attestation.attest(caller, abort.signal), caller };
    } catch (err) {
      if (call.cancelled) throw new PluginError(Status.CANCELLED, 'the caller went away');
      log.error('Failed to attest the workload', { method, pid: caller.pid, error: (err as Error).message });
      throw new PluginError(Status.UNAVAILABLE, 'workload attestation failed');
    } finally {
      call.off('cancelled', onCancel);
    }
  }

  async function streamSecrets(call: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>): Promise<void> {
    const untyped = call as unknown as grpc.ServerDuplexStream<unknown, unknown>;
    // No 'data' listener yet: requests wait in the (flow-controlled) stream until the caller is known.
    let auth: { selectors: Selector[]; caller: CallerProcess };
    try {
      auth = await attest(call, 'StreamSecrets');
    } catch (err) {
      if (!call.cancelled) endWith(untyped, asStatus(err));
      return;
    }
    if (call.cancelled) return;
    const { selectors, caller } = auth;
    const slog = log.with({ method: 'StreamSecrets', pid: caller.pid });

    let done = false;
    let versionCounter = 0;
    let versionInfo = '0';
    let lastNonce = '';
    let lastNode: Node | null = null;
    let lastReq: DiscoveryRequest | undefined;
    let update: WorkloadUpdate | undefined;
    let lastDigest: string | undefined;

    const finish = (err?: PluginError): void => {
      if (done) return;
      done = true;
      subscription.stop();
      untrack();
      if (err) {
        if (!call.cancelled) endWith(untyped, err);
      } else if (!call.cancelled) call.end();
    };

    const write = latestWins<DiscoveryResponse>(call, () => done);

    const send = (): void => {
      if (!lastReq || !update) return;
      let res: ReturnType<typeof buildSdsResponse>;
      try {
        res = buildSdsResponse(options, versionInfo, lastReq, update);
      } catch (err) {
        const e = asStatus(err);
        slog.error('Error building stream secrets response', { error: e.details });
        finish(e);
        return;
      }
      slog.debug('Sending StreamSecrets response', { version_info: res.version_info, nonce: res.nonce, count: res.resources.length });
      write(res);
      lastNonce = res.nonce;
      if (lastReq.node) lastNode = lastReq.node;
    };

    const onUpdate = (next: WorkloadUpdate): void => {
      if (done) return;
      const digest = updateDigest(next);
      if (digest === lastDigest) return;
      lastDigest = digest;
      update = next;
      versionCounter++;
      versionInfo = String(versionCounter);
      send();
    };

    const onRequest = (req: DiscoveryRequest): void => {
      if (done) return;
      const names = req.resource_names ?? [];
      slog.debug('Received StreamSecrets request', { resource_names: names.join(','), version_info: req.version_info, nonce: req.response_nonce });
      if (req.error_detail) {
        slog.error('Envoy reported errors applying secrets', { resource_names: names.join(','), error: req.error_detail.message });
      }
      let request = req;
      if (lastNonce !== '') {
        if (req.response_nonce !== lastNonce) {
          slog.warn('Received unexpected nonce; ignoring request', { nonce: req.response_nonce, expect: lastNonce });
          return;
        }
        if (req.version_info === '' || req.version_info !== versionInfo) {
          slog.error('Client rejected expected version and rolled back', { version_info: req.version_info, expect: versionInfo });
        }
        if (!req.node) request = { ...req, node: lastNode };
      }
      const changed = lastReq === undefined || namesChanged(lastReq.resource_names, names);
      lastReq = request;
      if (changed) send();
    };

    // SVIDs for entries the caller matches may still be minting: the subscription waits for them, as SPIRE does.
    const subscription = new SvidWaitingSubscription(cache, selectors, onUpdate, deps.svidWaitMs ?? DEFAULT_SDS_SVID_WAIT_MS);
    const untrack = deps.trackStream(() => finish(new PluginError(Status.UNAVAILABLE, 'the agent is shutting down')));
    call.on('cancelled', () => finish());
    call.on('error', () => finish());
    call.on('end', () => finish());
    call.on('data', onRequest);

    subscription.start(() => slog.info('Waiting for SVID to get cached', { selectors: selectors.map((s) => `${s.type}:${s.value}`).join(',') }));
  }

  return {
    StreamSecrets(call) {
      void streamSecrets(call);
    },

    DeltaSecrets(call) {
      endWith(call as unknown as grpc.ServerDuplexStream<unknown, unknown>, new PluginError(Status.UNIMPLEMENTED, 'Method is not implemented'));
    },

    async FetchSecrets(request, call) {
      const { selectors, caller } = await attest(call, 'FetchSecrets');
      const update = cache.fetchWorkloadUpdate(selectors);
      try {
        const res = buildSdsResponse(options, '', request, update);
        log.debug('Sending FetchSecrets response', { method: 'FetchSecrets', pid: caller.pid, count: res.resources.length });
        return res;
      } catch (err) {
        const e = asStatus(err);
        log.error('Error building fetch secrets response', { method: 'FetchSecrets', pid: caller.pid, resource_names: request.resource_names.join(','), error: e.details });
        throw e;
      }
    },
  };
}

/**
 * Registers `envoy.service.secret.v3.SecretDiscoveryService` on a grpc server.
 *
 * @example
 * ```ts
 * addSdsService(server, { cache, attestation, callerOf, log, trackStream, options: { defaultBundleName: 'ROOTCA' } });
 * ```
 */
export function addSdsService(server: ServiceRegistrar, deps: SdsHandlerDeps): void {
  addService(server, 'envoy.service.secret.v3.SecretDiscoveryService', sdsHandlers(deps));
}
