/**
 * The CA journal and the local bundle, kept in the DataStore (SPIRE's
 * pkg/server/ca/manager/journal.go): the journal is stored as a CA journal
 * record keyed by the active X.509 authority id, so a new record is started
 * each time a new X.509 CA activates and the latest one is what a restarted
 * server resumes from; the trust domain's own bundle is set in the DataStore
 * whenever the manager's bundle changes.
 */
import { nullLogger, parseCertificate, type Bundle, type Logger } from '@spire-ts/common';
import type { CAJournalRecord, DataStore } from '../plugin/datastore/datastore.js';
import { CAManager, type CAManagerConfig } from './manager/manager.js';
import { loadJournal } from './manager/journal.js';

/** The DataStore calls the CA persistence uses. */
export type CAJournalDataStore = Pick<DataStore, 'setCAJournal' | 'fetchLatestCAJournal' | 'appendBundle'>;

export interface CAJournalStoreConfig {
  dataStore: CAJournalDataStore;
  log?: Logger;
}

/** What the store records next to the journal bytes. */
export interface JournalKeys {
  /** The active X.509 CA's SKI, lowercase hex ('' before activation). */
  activeX509AuthorityId: string;
  /** The active JWT key's kid ('' before activation). */
  activeJwtAuthorityId: string;
  /** Unix seconds: the latest expiry of any authority in the journal. */
  expiresAt: number;
}

/** Reads the active authority ids and the latest expiry out of journal bytes. @throws JournalError */
export function journalKeys(bytes: Uint8Array): JournalKeys {
  const j = loadJournal(bytes);
  let expiresAtMs = 0;
  let activeX509AuthorityId = '';
  for (const e of j.x509CAs) {
    const cert = parseCertificate(new Uint8Array(Buffer.from(e.certificate, 'base64')));
    expiresAtMs = Math.max(expiresAtMs, cert.notAfter.getTime());
    if (e.slot === j.currentX509Slot && e.status === 'active') {
      const ski = cert.extensions.subjectKeyId;
      activeX509AuthorityId = ski ? Buffer.from(ski).toString('hex') : '';
    }
  }
  let activeJwtAuthorityId = '';
  for (const e of j.jwtKeys) {
    expiresAtMs = Math.max(expiresAtMs, e.notAfter);
    if (e.slot === j.currentJwtSlot && e.status === 'active') activeJwtAuthorityId = e.kid;
  }
  return { activeX509AuthorityId, activeJwtAuthorityId, expiresAt: Math.floor(expiresAtMs / 1000) };
}

/**
 * Saves CA journals and publishes the local bundle through a DataStore.
 * `save` fits {@link CAManagerConfig.saveJournal}; `bundleUpdated` fits
 * `onBundleUpdated` (publications are queued in order; {@link flush} awaits
 * them and reports the first failure).
 */
export class CAJournalStore {
  readonly #ds: CAJournalDataStore;
  readonly #log: Logger;
  #record: CAJournalRecord | undefined;
  #publishing: Promise<void> = Promise.resolve();
  #publishError: unknown;

  constructor(config: CAJournalStoreConfig) {
    this.#ds = config.dataStore;
    this.#log = config.log ?? nullLogger;
  }

  /** The latest stored journal bytes, if any (remembered so the next save replaces it while the same CA is active). */
  async load(): Promise<Uint8Array | undefined> {
    this.#record = await this.#ds.fetchLatestCAJournal();
    return this.#record?.data;
  }

  /** The record last loaded or saved. */
  get record(): CAJournalRecord | undefined {
    return this.#record;
  }

  /**
   * Stores `journal`: replaces the current record while its active X.509
   * authority is unchanged (or was not yet set), else starts a new record.
   */
  save = async (journal: Uint8Array): Promise<void> => {
    const keys = journalKeys(journal);
    const prev = this.#record;
    const reuse = prev !== undefined && (prev.activeX509AuthorityId === '' || prev.activeX509AuthorityId === keys.activeX509AuthorityId);
    this.#record = await this.#ds.setCAJournal({ ...keys, id: reuse ? prev.id : 0, data: journal });
  };

  /** Sets the trust domain's bundle in the DataStore. */
  async publishBundle(bundle: Bundle): Promise<void> {
    // Append, not set: authorities an admin appended (AppendBundle) must survive a rotation; expired ones are pruned separately.
    await this.#ds.appendBundle(bundle);
  }

  /** Queues a {@link publishBundle}; failures are logged and kept for {@link flush}. */
  bundleUpdated = (bundle: Bundle): void => {
    this.#publishing = this.#publishing
      .then(() => this.publishBundle(bundle))
      .catch((err: unknown) => {
        this.#publishError ??= err;
        this.#log.error('Failed to publish the bundle to the DataStore', { error: err instanceof Error ? err.message : String(err) });
      });
  };

  /** Waits for queued bundle publications; throws (once) the first that failed. */
  async flush(): Promise<void> {
    await this.#publishing;
    const err = this.#publishError;
    this.#publishError = undefined;
    if (err !== undefined) throw err;
  }
}

/**
 * A {@link CAManager} resumed from the DataStore's latest CA journal, saving
 * its journal there after every change and publishing its bundle there (now
 * and on every change).
 */
export async function createPersistentCAManager(
  config: Omit<CAManagerConfig, 'saveJournal' | 'onBundleUpdated'>,
  store: CAJournalStore,
): Promise<CAManager> {
  const journal = await store.load();
  const manager = await CAManager.create({ ...config, saveJournal: store.save, onBundleUpdated: store.bundleUpdated }, journal);
  await store.flush();
  await store.publishBundle(manager.bundle());
  return manager;
}
