/**
 * The signing half of the server CA: X.509-SVIDs and JWT-SVIDs from the active
 * X.509 authority and JWT key. It decides nothing about rotation; the manager
 * hands it the active authorities with {@link ServerCA.setX509CA} and
 * {@link ServerCA.setJwtKey}. SVIDs never outlive their signer.
 */
import {
  X509SvidEncoder,
  isAgentId,
  parseSpiffeId,
  parseTrustDomain,
  serverId,
  signJwtSvid,
  type Certificate,
  type NameSpec,
  type PublicKeyInfo,
} from '@spire-ts/common';
import type { Key } from '../plugin/keymanager/keymanager.js';
import type { Clock } from './clock.js';
import { certificateSigner, jwtAlgorithmFor, jwtSigner } from './signers.js';

/** SPIRE's `default_x509_svid_ttl`. */
export const DEFAULT_X509_SVID_TTL_MS = 60 * 60 * 1000;
/** SPIRE's `default_jwt_svid_ttl`. */
export const DEFAULT_JWT_SVID_TTL_MS = 5 * 60 * 1000;

/** An X.509 signing authority: its certificate (self-signed root or upstream-signed) and KeyManager key. */
export interface X509CA {
  readonly certificate: Certificate;
  /** Certificates between the CA and a bundle root (empty for a self-signed root). */
  readonly upstreamChain: readonly Uint8Array[];
  readonly key: Key;
}

/** A JWT signing key with the `kid` it is published under. */
export interface JwtKey {
  readonly kid: string;
  readonly key: Key;
  readonly notAfter: Date;
}

export interface ServerCAConfig {
  /** Bare trust domain name, e.g. `example.org`. */
  trustDomain: string;
  clock: Clock;
  /** Default {@link DEFAULT_X509_SVID_TTL_MS}. */
  x509SvidTtlMs?: number;
  /** Default {@link DEFAULT_JWT_SVID_TTL_MS}. */
  jwtSvidTtlMs?: number;
  /** SPIRE's `jwt_issuer`: the `iss` claim when set. */
  jwtIssuer?: string;
  /** Subject of X.509-SVIDs; default SPIRE's `C=US, O=SPIRE`. */
  x509SvidSubject?: NameSpec;
}

export interface X509SvidRequest {
  spiffeId: string;
  /** The subject's public key, DER SubjectPublicKeyInfo (from a checked CSR). */
  publicKeyDer: Uint8Array;
  /** `publicKeyDer` already parsed (a checked CSR's `publicKey`): used when its `der` is `publicKeyDer` itself. */
  publicKey?: PublicKeyInfo;
  dnsNames?: readonly string[];
  /** Default from the config; always capped at the CA's notAfter. */
  ttlMs?: number;
}

/** An issued X.509-SVID: the leaf first, then the CA's chain up to (not including) a bundle root. */
export interface IssuedX509Svid {
  readonly certificate: Uint8Array;
  readonly chain: readonly Uint8Array[];
  readonly expiresAt: Date;
}

export interface JwtSvidRequest {
  spiffeId: string;
  audience: readonly string[];
  /** Default from the config; always capped at the key's notAfter. */
  ttlMs?: number;
}

export interface IssuedJwtSvid {
  readonly token: string;
  readonly kid: string;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
}

/** Signs SVIDs with the active authorities. */
export class ServerCA {
  readonly trustDomain: string;
  readonly #config: ServerCAConfig;
  #x509CA: X509CA | undefined;
  /** The SVID encoder of the active X.509 CA (its invariant DER encoded once), made on first use. */
  #svidEncoder: { ca: X509CA; encoder: X509SvidEncoder } | undefined;
  #jwtKey: JwtKey | undefined;

  constructor(config: ServerCAConfig) {
    this.trustDomain = parseTrustDomain(config.trustDomain);
    this.#config = config;
  }

  /** The active X.509 authority, or undefined before the first activation. */
  get x509CA(): X509CA | undefined {
    return this.#x509CA;
  }

  get jwtKey(): JwtKey | undefined {
    return this.#jwtKey;
  }

  setX509CA(ca: X509CA | undefined): void {
    this.#x509CA = ca;
  }

  setJwtKey(key: JwtKey | undefined): void {
    this.#jwtKey = key;
  }

  /** A workload X.509-SVID (SPIRE's `BuildWorkloadX509SVIDTemplate`). */
  async signWorkloadX509Svid(req: X509SvidRequest): Promise<IssuedX509Svid> {
    return this.#signX509(req);
  }

  /** An agent X.509-SVID: the ID must be an agent ID (`/spire/agent/...`) in this trust domain; no DNS names. */
  async signAgentX509Svid(req: Omit<X509SvidRequest, 'dnsNames'>): Promise<IssuedX509Svid> {
    if (!isAgentId(req.spiffeId, this.trustDomain)) throw new Error(`${JSON.stringify(req.spiffeId)} is not an agent SPIFFE ID (spiffe://<td>/spire/agent/...)`);
    return this.#signX509({ spiffeId: req.spiffeId, publicKeyDer: req.publicKeyDer, ...(req.ttlMs === undefined ? {} : { ttlMs: req.ttlMs }) });
  }

  /** The server's own SVID, `spiffe://<td>/spire/server`. */
  async signServerX509Svid(req: { publicKeyDer: Uint8Array; ttlMs?: number }): Promise<IssuedX509Svid> {
    const spiffeId = serverId(this.trustDomain).toString();
    return this.#signX509({ spiffeId, publicKeyDer: req.publicKeyDer, ...(req.ttlMs === undefined ? {} : { ttlMs: req.ttlMs }) });
  }

  async #signX509(req: X509SvidRequest): Promise<IssuedX509Svid> {
    const ca = this.#x509CA;
    if (!ca) throw new Error('no active X.509 CA');
    const id = parseSpiffeId(req.spiffeId);
    if (id.trustDomain !== this.trustDomain) {
      throw new Error(`${JSON.stringify(req.spiffeId)} is not a member of trust domain "${this.trustDomain}"`);
    }
    let cached = this.#svidEncoder;
    if (cached?.ca !== ca) {
      cached = { ca, encoder: new X509SvidEncoder(ca.certificate, certificateSigner(ca.key), this.#config.x509SvidSubject) };
      this.#svidEncoder = cached;
    }
    const { der: certificate, notAfter } = await cached.encoder.build({
      spiffeId: req.spiffeId,
      publicKey: req.publicKey?.der === req.publicKeyDer ? req.publicKey : req.publicKeyDer,
      now: this.#config.clock.now(),
      ttlMs: req.ttlMs ?? this.#config.x509SvidTtlMs ?? DEFAULT_X509_SVID_TTL_MS,
      ...(req.dnsNames && req.dnsNames.length > 0 ? { dnsNames: req.dnsNames } : {}),
    });
    // As SPIRE: a self-signed CA is a bundle root and is not sent; an upstream-signed one goes with its intermediates.
    const chain = ca.upstreamChain.length > 0 ? [ca.certificate.der, ...ca.upstreamChain] : [];
    return { certificate, chain, expiresAt: notAfter };
  }

  /** A JWT-SVID signed by the active JWT key (ES256 for a P-256 key), `kid` = the key's bundle ID. */
  async signJwtSvid(req: JwtSvidRequest): Promise<IssuedJwtSvid> {
    const jwt = this.#jwtKey;
    if (!jwt) throw new Error('no active JWT key');
    const id = parseSpiffeId(req.spiffeId);
    if (id.trustDomain !== this.trustDomain) {
      throw new Error(`${JSON.stringify(req.spiffeId)} is not a member of trust domain "${this.trustDomain}"`);
    }
    if (id.path === '') throw new Error(`${JSON.stringify(req.spiffeId)}: a JWT-SVID needs a SPIFFE ID with a path`);
    const now = this.#config.clock.now();
    const ttl = req.ttlMs ?? this.#config.jwtSvidTtlMs ?? DEFAULT_JWT_SVID_TTL_MS;
    if (!Number.isFinite(ttl) || ttl <= 0) throw new Error(`ttl must be positive, got ${ttl} ms`);
    const expiresAt = new Date(Math.min(now.getTime() + ttl, jwt.notAfter.getTime()));
    if (expiresAt.getTime() <= now.getTime()) throw new Error(`the JWT key ${jwt.kid} expired at ${jwt.notAfter.toISOString()}`);
    const token = await signJwtSvid({
      spiffeId: id,
      audience: req.audience,
      issuedAt: now,
      expiresAt,
      kid: jwt.kid,
      alg: jwtAlgorithmFor(jwt.key),
      sign: jwtSigner(jwt.key),
      ...(this.#config.jwtIssuer ? { issuer: this.#config.jwtIssuer } : {}),
    });
    return { token, kid: jwt.kid, issuedAt: now, expiresAt };
  }
}
