import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/**
 * id → name from an `/etc/passwd`- or `/etc/group`-format text: `name` is
 * field 1 and the id field 3 in both. The first line for an id wins (as
 * getpwuid and getgrgid answer); comments, blank, malformed and NIS
 * compat (`+`/`-`) lines are skipped.
 */
export function parseIdNames(text: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const fields = line.split(':');
    if (fields.length < 3) continue;
    const name = fields[0]!;
    const id = fields[2]!;
    if (name === '' || !/^\d{1,10}$/.test(id)) continue;
    const n = Number(id);
    if (n > 0xffff_ffff || names.has(n)) continue;
    names.set(n, name);
  }
  return names;
}

/** How long a check that the file is unchanged stands: an edit shows within this. */
export const RECHECK_MS = 1000;

/**
 * Names from one account database file, re-read only when the file changes
 * (inode, size, mtime or ctime). A missing or unreadable file has no names:
 * the attestor then omits the name selectors, as SPIRE does when a lookup
 * fails. The change check is a synchronous stat, made at most once per
 * {@link RECHECK_MS} (a stat per attestation cost more than the rest of the
 * name lookup; SPIRE's own lookups go through the C library, whose name
 * service caches answer for far longer); only a changed file is read, and
 * asynchronously.
 */
export class IdNameFile {
  private cached: { key: string; names: Map<number, string> } | undefined;
  private loading: Promise<Map<number, string>> | undefined;
  /** performance.now() of the last check that found the file as cached. */
  private checkedAt = -Infinity;

  constructor(
    readonly path: string,
    private readonly onError: (path: string, err: NodeJS.ErrnoException) => void = () => undefined,
    private readonly recheckMs = RECHECK_MS,
  ) {}

  async lookup(id: number): Promise<string | undefined> {
    return (await this.names()).get(id);
  }

  /** The current id → name map (concurrent callers share one read). */
  names(): Promise<Map<number, string>> {
    const cached = this.cached;
    if (cached && performance.now() - this.checkedAt < this.recheckMs) return Promise.resolve(cached.names);
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async load(): Promise<Map<number, string>> {
    try {
      const st = statSync(this.path, { bigint: true });
      const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
      if (this.cached?.key === key) {
        this.checkedAt = performance.now();
        return this.cached.names;
      }
      const names = parseIdNames(await readFile(this.path, 'utf8'));
      this.cached = { key, names };
      this.checkedAt = performance.now();
      return names;
    } catch (err) {
      this.cached = undefined;
      const e = err as NodeJS.ErrnoException;
      if (e.code !== 'ENOENT') this.onError(this.path, e);
      return new Map();
    }
  }
}
