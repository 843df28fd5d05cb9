/**
 * The agent's identity on disk, in `data_dir` (SPIRE-like layout):
 * `agent_svid.der` (the SVID chain, concatenated DER), `agent_svid.key` (its
 * private key, PKCS#8 DER, mode 0600), `bundle.der` (the trust bundle's X.509
 * authorities) and `agent-data.json` (trust domain, reattestable). Every file
 * is written atomically (temp file, fsync, rename, fsync of the directory) so
 * a crash leaves the old or the new version, never a torn one.
 */
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { concatCertificates, makeDirectories, splitCertificates } from '@spire-ts/common';

export const SVID_FILE = 'agent_svid.der';
export const KEY_FILE = 'agent_svid.key';
export const BUNDLE_FILE = 'bundle.der';
export const DATA_FILE = 'agent-data.json';

/** What agent-data.json holds. */
export interface AgentData {
  trust_domain: string;
  reattestable: boolean;
  /** The agent's SPIFFE ID when last attested (informational). */
  spiffe_id: string;
  /** Why the agent SVID was removed (banned, evicted, otherwise lost), when it was; cleared by the next attestation. */
  lost?: LostIdentity;
}

/** The record {@link AgentStorage.deleteSvid} leaves of why the SVID went. */
export interface LostIdentity {
  reason: 'banned' | 'evicted' | 'lost';
  /** ISO 8601. */
  at: string;
  /** What the agent said when it lost its identity. */
  error?: string;
}

export interface StoredIdentity {
  /** Agent SVID chain (leaf first); absent or unreadable → undefined. */
  svid: Uint8Array[] | undefined;
  key: KeyObject | undefined;
  bundle: Uint8Array[] | undefined;
  data: AgentData | undefined;
  /** Problems found reading the files (the file is then treated as absent). */
  warnings: string[];
}

async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes `data` to `path` atomically with `mode`. */
export async function writeAtomic(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const dir = join(path, '..');
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

export class AgentStorage {
  constructor(readonly dir: string) {}

  private path(name: string): string {
    return join(this.dir, name);
  }

  async load(): Promise<StoredIdentity> {
    const warnings: string[] = [];
    const certs = async (name: string): Promise<Uint8Array[] | undefined> => {
      const raw = await readIfExists(this.path(name));
      if (!raw) return undefined;
      try {
        const list = splitCertificates(raw);
        if (list.length === 0) throw new Error('the file is empty');
        return list.map((c) => new Uint8Array(c));
      } catch (err) {
        warnings.push(`${this.path(name)} is not a DER certificate list (${(err as Error).message}); ignoring it`);
        return undefined;
      }
    };
    const svid = await certs(SVID_FILE);
    const bundle = await certs(BUNDLE_FILE);
    let key: KeyObject | undefined;
    const keyRaw = await readIfExists(this.path(KEY_FILE));
    if (keyRaw) {
      try {
        key = createPrivateKey({ key: keyRaw, format: 'der', type: 'pkcs8' });
      } catch (err) {
        warnings.push(`${this.path(KEY_FILE)} is not a PKCS#8 private key (${(err as Error).message}); ignoring it`);
      }
    }
    let data: AgentData | undefined;
    const dataRaw = await readIfExists(this.path(DATA_FILE));
    if (dataRaw) {
      try {
        const v = JSON.parse(dataRaw.toString('utf8')) as Partial<AgentData>;
        if (typeof v.trust_domain !== 'string' || typeof v.reattestable !== 'boolean') throw new Error('trust_domain or reattestable missing');
        data = { trust_domain: v.trust_domain, reattestable: v.reattestable, spiffe_id: typeof v.spiffe_id === 'string' ? v.spiffe_id : '' };
        const lost = v.lost as Partial<LostIdentity> | undefined;
        if (lost && (lost.reason === 'banned' || lost.reason === 'evicted' || lost.reason === 'lost') && typeof lost.at === 'string') {
          data.lost = { reason: lost.reason, at: lost.at, ...(typeof lost.error === 'string' ? { error: lost.error } : {}) };
        }
      } catch (err) {
        warnings.push(`${this.path(DATA_FILE)} is not valid agent data (${(err as Error).message}); ignoring it`);
      }
    }
    if (svid && key && !keyMatches(key, svid[0] as Uint8Array)) {
      warnings.push(`${this.path(KEY_FILE)} does not hold the key of the SVID in ${this.path(SVID_FILE)}; ignoring both`);
      return { svid: undefined, key: undefined, bundle, data, warnings };
    }
    return { svid, key, bundle, data, warnings };
  }

  /** Persists a new agent SVID and its key: the key first, so a crash never pairs an SVID with a wrong key unnoticed. */
  async saveSvid(chain: readonly Uint8Array[], key: KeyObject, data: AgentData): Promise<void> {
    makeDirectories(this.dir, 0o700);
    await writeAtomic(this.path(KEY_FILE), key.export({ type: 'pkcs8', format: 'der' }), 0o600);
    await writeAtomic(this.path(SVID_FILE), concatCertificates(chain));
    await writeAtomic(this.path(DATA_FILE), `${JSON.stringify(data, null, 2)}\n`);
  }

  /**
   * Removes the agent SVID and its key (SPIRE's DeleteSVID), keeping the
   * bundle and the agent data: after a ban or an eviction the next start
   * attests again instead of presenting an SVID the server refuses. With
   * `lost`, the agent data records why (for the next start's messages).
   */
  async deleteSvid(lost?: LostIdentity): Promise<void> {
    await rm(this.path(SVID_FILE), { force: true });
    await rm(this.path(KEY_FILE), { force: true });
    if (!lost) return;
    const { data } = await this.load();
    if (data) await writeAtomic(this.path(DATA_FILE), `${JSON.stringify({ ...data, lost }, null, 2)}\n`);
  }

  async saveBundle(authorities: readonly Uint8Array[]): Promise<void> {
    makeDirectories(this.dir, 0o700);
    await writeAtomic(this.path(BUNDLE_FILE), concatCertificates(authorities));
  }
}

/** True when `key` is the private key of the certificate's public key. */
export function keyMatches(key: KeyObject, certDer: Uint8Array): boolean {
  try {
    const pub = createPublicKey(key).export({ type: 'spki', format: 'der' });
    const certPub = new X509Certificate(certDer).publicKey.export({ type: 'spki', format: 'der' });
    return Buffer.compare(pub, certPub) === 0;
  } catch {
    return false;
  }
}
