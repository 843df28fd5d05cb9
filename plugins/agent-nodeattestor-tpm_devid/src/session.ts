/**
 * One attestation's conversation with the TPM, as SPIRE's agent has it
 * (pkg/agent/plugin/nodeattestor/tpmdevid/tpmutil): load the DevID key from
 * its blobs under the storage root key (the high-range SRK template: RSA
 * 2048 or NIST P-256 with AES-128-CFB, no unique value), create and load a
 * fresh attestation key (restricted RSASSA-SHA256 signing key), regenerate
 * the endorsement key from the default RSA template, read the EK
 * certificate from NV index 0x01c00002, certify the DevID key with the AK;
 * then sign the server's DevID nonce with the DevID key and activate the
 * server's credential with the AK and EK (under an EK policy session
 * satisfied by PolicySecret on the endorsement hierarchy).
 *
 * Everything goes through tpm2-tools ({@link Tpm2Tools}): objects live in
 * context files of a private scratch directory between commands and are
 * never left loaded.
 */
import { TpmToolError, Tpm2Tools, withTpmLock, opt } from './tools.js';
import { TPMA_OBJECT, TPM_ALG, credentialFile, hashName, parsePublic, signatureBytes, stripTpm2b, addTpm2b, type PublicArea } from './structures.js';

/** TCG EK Credential Profile: the RSA EK certificate's NV index. */
export const EK_CERT_NV_INDEX = 0x01c00002;

/**
 * The high-range SRK templates (TCG EK Credential Profile H-1, H-2) as
 * tpm2-tools options: go-tpm-tools' SRK templates with an empty unique
 * field, which is what tpm2_createprimary uses when no -u is given.
 */
const SRK_ATTRIBUTES = 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt|noda';
const SRK_ALG_RSA = 'rsa2048:null:aes128cfb';
const SRK_ALG_ECC = 'ecc256:null:aes128cfb';
/** The attestation key template (go-tpm-tools AKTemplateRSA: the default signer attributes, RSASSA-SHA256). */
const AK_ATTRIBUTES = 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign';
const AK_ALG = 'rsa2048:rsassa-sha256:null';

export interface TpmPasswords {
  readonly endorsementHierarchy: string;
  readonly ownerHierarchy: string;
  readonly devIdKey: string;
}

export interface SessionConfig {
  /** The TCTI for tpm2-tools, e.g. `device:/dev/tpmrm0` or `swtpm:host=127.0.0.1,port=2321`. */
  readonly tcti: string;
  /** The DevID key's public blob (TPMT_PUBLIC, or a tpm2-tools TPM2B_PUBLIC file). */
  readonly devIdPub: Uint8Array;
  /** The DevID key's private blob (TPM2B_PRIVATE contents, or a tpm2-tools TPM2B_PRIVATE file). */
  readonly devIdPriv: Uint8Array;
  readonly passwords: TpmPasswords;
  /** Per-command timeout (ms). */
  readonly timeoutMs?: number;
}

/** SPIRE's AttestationRequest, with the bytes not yet base64 encoded. */
export interface AttestationData {
  readonly devIdPub: Uint8Array;
  readonly ekCert: Uint8Array;
  readonly ekPub: Uint8Array;
  readonly akPub: Uint8Array;
  readonly certifiedDevId: Uint8Array;
  readonly certificationSignature: Uint8Array;
}

/** A blob as SPIRE stores it (no TPM2B size prefix), whichever form the file had. */
export function rawBlob(bytes: Uint8Array): Uint8Array {
  if (bytes.length >= 2 && ((bytes[0]! << 8) | bytes[1]!) === bytes.length - 2) return bytes.subarray(2);
  return bytes;
}

/** Checks the DevID public blob is a key SPIRE's agent can use; returns its public area. */
export function checkDevIdPublic(pub: Uint8Array): PublicArea {
  const area = parsePublic(pub, 'DevID public blob');
  if ((area.attributes & TPMA_OBJECT.sign) === 0) throw new Error('DevID public blob: not a signing key');
  if (area.scheme === TPM_ALG.NULL || area.schemeHash === TPM_ALG.NULL) throw new Error('DevID public blob: signature hash algorithm is NULL');
  if (hashName(area.schemeHash) === undefined) throw new Error(`DevID public blob: unsupported signature hash algorithm 0x${area.schemeHash.toString(16)}`);
  if (area.type === TPM_ALG.RSA && area.scheme !== TPM_ALG.RSASSA) throw new Error('DevID public blob: an RSA DevID key must use the RSASSA scheme');
  if (area.type === TPM_ALG.ECC && area.scheme !== TPM_ALG.ECDSA) throw new Error('DevID public blob: an ECC DevID key must use the ECDSA scheme');
  return area;
}

/** The DER certificate at the start of `bytes` (TPMs may pad the NV index). */
export function leadingDer(bytes: Uint8Array, what: string): Uint8Array {
  if (bytes.length < 2 || bytes[0] !== 0x30) throw new Error(`${what}: not a DER SEQUENCE`);
  const first = bytes[1]!;
  let len: number;
  let hdr: number;
  if (first < 0x80) {
    len = first;
    hdr = 2;
  } else {
    const n = first & 0x7f;
    if (n === 0 || n > 3 || bytes.length < 2 + n) throw new Error(`${what}: bad DER length`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + bytes[2 + i]!;
    hdr = 2 + n;
  }
  if (hdr + len > bytes.length) throw new Error(`${what}: DER length ${hdr + len} exceeds the ${bytes.length} bytes read`);
  return bytes.subarray(0, hdr + len);
}

function step(what: string, err: unknown): Error {
  const msg = err instanceof Error ? err.message : String(err);
  const e = new Error(`${what}: ${msg}`);
  if (err instanceof TpmToolError) (e as Error & { cause?: unknown }).cause = err;
  return e;
}

/**
 * An open session: the DevID key, a fresh AK and the EK are available as
 * context files. Use {@link TpmSession.run} to get one that is always closed.
 */
export class TpmSession {
  private constructor(
    private readonly tools: Tpm2Tools,
    private readonly cfg: SessionConfig,
    private readonly devId: PublicArea,
  ) {}

  /** Opens a session, runs `fn`, closes the session; exclusive per TCTI within this process. */
  static run<T>(cfg: SessionConfig, fn: (s: TpmSession) => Promise<T>): Promise<T> {
    return withTpmLock(cfg.tcti, async () => {
      const tools = await Tpm2Tools.open(cfg.tcti, cfg.timeoutMs);
      try {
        const s = await TpmSession.setup(tools, cfg);
        return await fn(s);
      } finally {
        await tools.close();
      }
    });
  }

  /**
   * Opens a session that stays open until {@link TpmSession.close} (for
   * tools and tests that interleave TPM work with other steps). Holds no TPM
   * object between calls, and no lock: the caller must not use the same TPM
   * concurrently through a TCTI without a resource manager.
   */
  static async open(cfg: SessionConfig): Promise<TpmSession> {
    const tools = await Tpm2Tools.open(cfg.tcti, cfg.timeoutMs);
    try {
      return await TpmSession.setup(tools, cfg);
    } catch (err) {
      await tools.close();
      throw err;
    }
  }

  /** Removes the session's scratch directory. */
  close(): Promise<void> {
    return this.tools.close();
  }

  private static async setup(tools: Tpm2Tools, cfg: SessionConfig): Promise<TpmSession> {
    const devIdPub = rawBlob(cfg.devIdPub);
    const devIdPriv = rawBlob(cfg.devIdPriv);
    let area: PublicArea;
    try {
      area = checkDevIdPublic(devIdPub);
    } catch (err) {
      throw step('cannot load DevID key on TPM', err);
    }
    const ownerAuth = await tools.auth('owner', cfg.passwords.ownerHierarchy);
    const endorsementAuth = await tools.auth('endorsement', cfg.passwords.endorsementHierarchy);
    const srkAlg = area.type === TPM_ALG.RSA ? SRK_ALG_RSA : SRK_ALG_ECC;

    // The SRK for the DevID key (same key type), then the DevID key under it.
    try {
      await tools.run('tpm2_createprimary', opt(['-C', 'o', '-G', srkAlg, '-a', SRK_ATTRIBUTES, '-c', tools.path('srk.ctx')], '-P', ownerAuth));
      await tools.writeFile('devid.pub', addTpm2b(devIdPub, 'DevID public blob'));
      await tools.writeFile('devid.priv', addTpm2b(devIdPriv, 'DevID private blob'));
      await tools.run('tpm2_load', ['-C', tools.path('srk.ctx'), '-u', tools.path('devid.pub'), '-r', tools.path('devid.priv'), '-c', tools.path('devid.ctx')]);
    } catch (err) {
      throw step('cannot load DevID key on TPM', err);
    }

    // A fresh attestation key under the RSA SRK.
    try {
      let parent = 'srk.ctx';
      if (srkAlg !== SRK_ALG_RSA) {
        await tools.run('tpm2_createprimary', opt(['-C', 'o', '-G', SRK_ALG_RSA, '-a', SRK_ATTRIBUTES, '-c', tools.path('srk-rsa.ctx')], '-P', ownerAuth));
        parent = 'srk-rsa.ctx';
      }
      await tools.run('tpm2_create', ['-C', tools.path(parent), '-G', AK_ALG, '-a', AK_ATTRIBUTES, '-u', tools.path('ak.pub'), '-r', tools.path('ak.priv')]);
      await tools.run('tpm2_load', ['-C', tools.path(parent), '-u', tools.path('ak.pub'), '-r', tools.path('ak.priv'), '-c', tools.path('ak.ctx')]);
    } catch (err) {
      throw step('cannot create attestation key', err);
    }

    // The EK, regenerated from the default RSA template.
    try {
      await tools.run('tpm2_createek', opt(opt(['-G', 'rsa', '-c', tools.path('ek.ctx'), '-u', tools.path('ek.pub')], '-P', endorsementAuth), '-w', ownerAuth));
    } catch (err) {
      throw step('cannot create endorsement key', err);
    }
    return new TpmSession(tools, cfg, area);
  }

  /** The EK certificate from NV (DER, trailing padding removed). */
  async ekCertificate(): Promise<Uint8Array> {
    const index = `0x${EK_CERT_NV_INDEX.toString(16).padStart(8, '0')}`;
    try {
      await this.tools.runPlain('tpm2_nvread', [index, '-o', this.tools.path('ekcert.der')]);
      return leadingDer(await this.tools.readFile('ekcert.der'), `certificate read from ${index.slice(2)}`);
    } catch (err) {
      throw step(`failed to read NV index ${index.slice(2)}`, err);
    }
  }

  /** Everything of SPIRE's AttestationRequest but the DevID certificate chain. */
  async attestationData(): Promise<AttestationData> {
    const ekCert = await this.ekCertificate();
    let ekPub: Uint8Array;
    let akPub: Uint8Array;
    try {
      ekPub = stripTpm2b(await this.tools.readFile('ek.pub'), 'endorsement key public');
      akPub = stripTpm2b(await this.tools.readFile('ak.pub'), 'attestation key public');
    } catch (err) {
      throw step('cannot read public blobs', err);
    }
    let certifiedDevId: Uint8Array;
    let certificationSignature: Uint8Array;
    try {
      const devIdAuth = await this.tools.auth('devid', this.cfg.passwords.devIdKey);
      // tpm2_certify: -P is the certified object's auth, -p the signing key's (the AK has none).
      await this.tools.run(
        'tpm2_certify',
        opt(['-c', this.tools.path('devid.ctx'), '-C', this.tools.path('ak.ctx'), '-g', 'sha256', '-o', this.tools.path('attest.out'), '-s', this.tools.path('certify.sig')], '-P', devIdAuth),
      );
      certifiedDevId = await this.tools.readFile('attest.out');
      certificationSignature = await this.tools.readFile('certify.sig');
    } catch (err) {
      throw step('unable to certify DevID key', err);
    }
    return { devIdPub: rawBlob(this.cfg.devIdPub), ekCert, ekPub, akPub, certifiedDevId, certificationSignature };
  }

  /** Signs `nonce` with the DevID key: PKCS#1 v1.5 bytes (RSA) or a DER ECDSA signature. */
  async solveDevIdChallenge(nonce: Uint8Array): Promise<Uint8Array> {
    try {
      const msg = await this.tools.writeFile('nonce.bin', nonce);
      const devIdAuth = await this.tools.auth('devid', this.cfg.passwords.devIdKey);
      const scheme = this.devId.type === TPM_ALG.RSA ? 'rsassa' : 'ecdsa';
      await this.tools.run('tpm2_sign', opt(['-c', this.tools.path('devid.ctx'), '-g', hashName(this.devId.schemeHash)!, '-s', scheme, '-o', this.tools.path('nonce.sig'), msg], '-p', devIdAuth));
      return signatureBytes(await this.tools.readFile('nonce.sig'));
    } catch (err) {
      throw step('failed to sign nonce', err);
    }
  }

  /** Activates the server's credential (AK and EK in this TPM); returns the recovered secret. */
  async solveCredActivationChallenge(credential: Uint8Array, secret: Uint8Array): Promise<Uint8Array> {
    const tools = this.tools;
    const session = tools.path('ek-policy.ctx');
    let started = false;
    try {
      await tools.writeFile('cred.blob', credentialFile(credential, secret));
      await tools.runPlain('tpm2_startauthsession', ['--policy-session', '-S', session]);
      started = true;
      const endorsementAuth = await tools.auth('endorsement', this.cfg.passwords.endorsementHierarchy);
      await tools.runPlain('tpm2_policysecret', ['-S', session, '-c', 'e', ...(endorsementAuth ? [endorsementAuth] : [])]);
      await tools.run('tpm2_activatecredential', [
        '-c', tools.path('ak.ctx'),
        '-C', tools.path('ek.ctx'),
        '-i', tools.path('cred.blob'),
        '-o', tools.path('cred.out'),
        '-P', `session:${session}`,
      ]);
      return await tools.readFile('cred.out');
    } catch (err) {
      throw step('failed to activate credential', err);
    } finally {
      if (started) {
        // The policy session stays open after activation (continueSession); flush it.
        await tools.runPlain('tpm2_flushcontext', [session]).catch(() => undefined);
      }
    }
  }
}
