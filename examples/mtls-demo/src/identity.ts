/**
 * What the three demo workloads share: getting this process's identity from
 * the agent (the SVID carrying the workload's hint), describing it, and
 * reporting its rotations.
 */
import { X509Source, type X509Svid } from '@spire-ts/spiffe';

/** Writes one line to stdout (the quickstart prefixes it with the workload's name). */
export function say(msg: string): void {
  process.stdout.write(`${msg}\n`);
}

/** An environment variable, or `fallback` when unset or empty. */
export function env(name: string, fallback: string): string {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : v;
}

/** The SVID whose entry hint is `hint` (see the README for why hints). */
export function svidByHint(svids: readonly X509Svid[], hint: string): X509Svid {
  const svid = svids.find((s) => s.hint === hint);
  if (!svid) {
    const have = svids.map((s) => `${s.id.toString()}${s.hint ? ` (hint "${s.hint}")` : ''}`).join(', ');
    throw new Error(`no identity issued for this process with hint "${hint}": the agent gave ${have || 'none'}; register it with \`spire-server entry create ... -hint ${hint}\``);
  }
  return svid;
}

/** `spiffe://… serial … expires … (in N s)`. */
export function describeSvid(svid: X509Svid, now = Date.now()): string {
  const secs = Math.round((svid.expiresAt.getTime() - now) / 1000);
  return `${svid.id.toString()} serial ${serialOf(svid)} expires ${svid.expiresAt.toISOString()} (in ${secs} s)`;
}

/** The leaf's serial number (hex, as openssl prints it). */
export function serialOf(svid: X509Svid): string {
  return svid.certificates[0]!.serialNumber.toLowerCase();
}

/**
 * Connects to the agent (SPIFFE_ENDPOINT_SOCKET) and waits for the SVID with
 * `hint`. Throws a readable error when the agent issues nothing to this
 * process, or nothing with that hint.
 */
export async function openIdentity(hint: string, timeoutMs = 20_000): Promise<X509Source> {
  let source: X509Source;
  try {
    source = await X509Source.create({ picker: (svids) => svidByHint(svids, hint), startTimeoutMs: timeoutMs });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`no identity issued for this process: ${why}`, { cause: err });
  }
  // Every SVID of a workload arrives in one update; wait briefly in case the
  // entry with our hint was registered a moment after we connected.
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      source.getX509Svid();
      return source;
    } catch (err) {
      if (Date.now() >= deadline) {
        source.close();
        throw err;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Prints `rotated: <id> serial <old> -> <new>` whenever the SVID with our hint changes. */
export function reportRotations(source: X509Source): () => void {
  let current = source.getX509Svid();
  return source.on('update', () => {
    let next: X509Svid;
    try {
      next = source.getX509Svid();
    } catch (err) {
      say(`warning: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (serialOf(next) === serialOf(current)) return;
    say(`rotated: ${next.id.toString()} serial ${serialOf(current)} -> ${serialOf(next)} (expires ${next.expiresAt.toISOString()})`);
    current = next;
  });
}

/** Runs `stop` once on SIGINT or SIGTERM, then exits 0. */
export function onShutdown(stop: () => Promise<void> | void): void {
  let stopping = false;
  const handler = (): void => {
    if (stopping) return;
    stopping = true;
    void Promise.resolve()
      .then(stop)
      .catch(() => undefined)
      .finally(() => process.exit(0));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}

/** Prints the error (without a stack: the messages are meant to be read) and exits 1. */
export function fail(err: unknown): never {
  say(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
