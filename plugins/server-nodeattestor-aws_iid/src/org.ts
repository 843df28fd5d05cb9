/**
 * `verify_organization` with `account_list_file` (SPIRE's file mode): the
 * accounts allowed to attest are a JSON array of 12-digit account IDs, read
 * at configure time (a missing or malformed file refuses the configuration)
 * and re-read lazily once older than `org_account_map_ttl`. Fail closed: a
 * file that becomes unreadable or malformed later rejects every account.
 */
import { readFileSync } from 'node:fs';

export class AccountListError extends Error {
  override readonly name = 'AccountListError';
}

/** Largest account list file read (about 50,000 accounts). */
const MAX_FILE_BYTES = 1024 * 1024;

export function parseAccountListFile(path: string): Set<string> {
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch (err) {
    throw new AccountListError(`cannot read ${path}: ${(err as Error).message}`);
  }
  if (text.length > MAX_FILE_BYTES) throw new AccountListError(`${path} is ${text.length} bytes, more than ${MAX_FILE_BYTES}`);
  let v: unknown;
  try {
    v = JSON.parse(text.toString('utf8'));
  } catch (err) {
    throw new AccountListError(`${path} is not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(v)) throw new AccountListError(`${path} must hold a JSON array of 12-digit account IDs`);
  const out = new Set<string>();
  v.forEach((id, i) => {
    if (typeof id !== 'string' || !/^\d{12}$/.test(id)) {
      throw new AccountListError(`${path}: entry ${i} (${JSON.stringify(id)}) is not a 12-digit AWS account ID`);
    }
    out.add(id);
  });
  return out;
}

/** The organization's accounts, from a file, cached for a TTL. */
export class AccountListFile {
  private accounts: Set<string> | undefined;
  private loadedAt: number;
  private lastError: string | undefined;

  constructor(
    readonly path: string,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    // Validated at configure time: a bad file refuses the configuration.
    this.accounts = parseAccountListFile(path);
    this.loadedAt = this.now();
  }

  /** Whether `accountId` is a member; throws AccountListError when the list cannot be read (fail closed). */
  isMember(accountId: string): boolean {
    if (this.now() - this.loadedAt >= this.ttlMs) {
      try {
        this.accounts = parseAccountListFile(this.path);
        this.loadedAt = this.now();
        this.lastError = undefined;
      } catch (err) {
        // Retried on the next attestation; refused until the file is fixed.
        this.accounts = undefined;
        this.lastError = (err as Error).message;
      }
    }
    if (!this.accounts) throw new AccountListError(`the organization account list is unavailable: ${this.lastError ?? 'not loaded'}`);
    return this.accounts.has(accountId);
  }
}
