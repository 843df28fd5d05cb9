/**
 * The server's own X.509-SVID (`spiffe://<td>/spire/server`), which it
 * presents on its TLS endpoint. Like SPIRE, its key lives in memory (TLS needs
 * it in-process) and is replaced with every rotation: at half of the SVID's
 * life, or as soon as a different X.509 CA became active.
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { pemEncode, type Logger } from '@spire-ts/common';
import type { ServerCA } from '../ca/ca.js';
import type { Clock } from '../ca/clock.js';
import type { TlsIdentity } from '../api/endpoints.js';

export interface ServerSvid extends TlsIdentity {
  readonly spiffeId: string;
  readonly notBefore: Date;
  readonly expiresAt: Date;
  /** DER of the CA certificate that signed it. */
  readonly signer: Uint8Array;
}

export interface ServerSvidRotatorOptions {
  ca: ServerCA;
  clock: Clock;
  /** Called with each new SVID (after the first). */
  onRotate?: (svid: ServerSvid) => void;
  /** How often to check; default 10 s. */
  checkIntervalMs?: number;
  log?: Logger;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

/** Issues and rotates the server SVID. */
export class ServerSvidRotator {
  readonly #o: ServerSvidRotatorOptions;
  #svid: ServerSvid | undefined;
  #timer: NodeJS.Timeout | undefined;
  #rotating: Promise<void> | undefined;

  constructor(options: ServerSvidRotatorOptions) {
    this.#o = options;
  }

  /** The current SVID; throws before {@link start}. */
  get svid(): ServerSvid {
    if (!this.#svid) throw new Error('the server SVID has not been issued yet');
    return this.#svid;
  }

  /** Issues the first SVID and starts checking for rotation. */
  async start(): Promise<ServerSvid> {
    this.stop();
    this.#svid = await this.#issue();
    const every = this.#o.checkIntervalMs ?? 10_000;
    this.#timer = setInterval(() => void this.check(), every);
    this.#timer.unref();
    return this.#svid;
  }

  /** True when the SVID is past half of its life or the active CA changed. */
  shouldRotate(): boolean {
    const s = this.#svid;
    if (!s) return true;
    const now = this.#o.clock.now().getTime();
    const half = s.notBefore.getTime() + (s.expiresAt.getTime() - s.notBefore.getTime()) / 2;
    const active = this.#o.ca.x509CA;
    return now >= half || (active !== undefined && !sameBytes(active.certificate.der, s.signer));
  }

  /** Rotates if due (concurrent calls share one rotation). */
  check(): Promise<void> {
    if (!this.shouldRotate()) return Promise.resolve();
    this.#rotating ??= this.#issue()
      .then((svid) => {
        this.#svid = svid;
        this.#o.log?.debug('Server SVID rotated', { expires_at: svid.expiresAt.toISOString() });
        this.#o.onRotate?.(svid);
      })
      .catch((err: unknown) => {
        this.#o.log?.error('Could not rotate the server SVID', { error: (err as Error).message });
      })
      .finally(() => {
        this.#rotating = undefined;
      });
    return this.#rotating;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #issue(): Promise<ServerSvid> {
    const signer = this.#o.ca.x509CA;
    if (!signer) throw new Error('no active X.509 CA to sign the server SVID');
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const publicKeyDer = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
    const issued = await this.#o.ca.signServerX509Svid({ publicKeyDer });
    // Leaf, then the CA and any upstream intermediates: peers verify up to a bundle root.
    const certChainPem = [issued.certificate, ...issued.chain].map((d) => pemEncode('CERTIFICATE', d)).join('');
    return {
      spiffeId: `spiffe://${this.#o.ca.trustDomain}/spire/server`,
      certChainPem,
      keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      notBefore: new Date(new X509Certificate(issued.certificate).validFrom),
      expiresAt: issued.expiresAt,
      signer: signer.certificate.der,
    };
  }
}
