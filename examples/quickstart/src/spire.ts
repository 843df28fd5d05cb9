/**
 * Talking to the running spire-server through its admin CLI (the same
 * commands a user would type): the bundle, join tokens, the agent's
 * identity, and the demo workloads' registration entries, created only when
 * missing so that a second run changes nothing.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { splitDer } from '@spire-ts/spiffe';
import { NODE_ALIAS, SERVER_MAIN, type Layout, type Workload } from './config.js';
import { runToEnd } from './proc.js';

/** `spire-server <args> -socketPath <admin socket>`; rejects with the CLI's output on failure. */
export function serverCli(l: Layout, ...args: string[]): Promise<string> {
  return runToEnd(`spire-server ${args.slice(0, 2).join(' ')}`, SERVER_MAIN, [...args, '-socketPath', l.serverSocket], { timeoutMs: 30_000 });
}

/** A new join token whose agent gets the node alias NODE_ALIAS. */
export async function generateJoinToken(l: Layout): Promise<string> {
  const out = await serverCli(l, 'token', 'generate', '-spiffeID', NODE_ALIAS, '-ttl', '600');
  const token = /Token:\s*(\S+)/.exec(out)?.[1];
  if (!token) throw new Error(`spire-server token generate printed no token: ${out.trim()}`);
  return token;
}

export interface StoredAgentIdentity {
  readonly spiffeId: string;
  readonly notAfter: Date;
}

/** The agent SVID persisted in its data_dir by an earlier run, if any. */
export function storedAgentIdentity(l: Layout): StoredAgentIdentity | undefined {
  if (!existsSync(l.agentSvid)) return undefined;
  try {
    const leaf = new X509Certificate(splitDer(readFileSync(l.agentSvid))[0]!);
    const uri = /URI:(spiffe:\/\/[^,\s]+)/.exec(leaf.subjectAltName ?? '')?.[1];
    if (!uri) return undefined;
    return { spiffeId: uri, notAfter: new Date(leaf.validTo) };
  } catch {
    return undefined;
  }
}

/** Whether the server knows (has attested and not evicted) the agent `spiffeId`. */
export async function serverKnowsAgent(l: Layout, spiffeId: string): Promise<boolean> {
  try {
    await serverCli(l, 'agent', 'show', '-spiffeID', spiffeId);
    return true;
  } catch (err) {
    if (/NotFound|not found/i.test((err as Error).message)) return false;
    throw err;
  }
}

interface EntryJson {
  id?: string;
  parent_id?: { trust_domain?: string; path?: string };
  selectors?: { type?: string; value?: string }[];
  hint?: string;
  x509_svid_ttl?: number;
}

const idString = (id: EntryJson['parent_id']): string => (id ? `spiffe://${id.trust_domain ?? ''}${id.path ?? ''}` : '');

/** What happened to one workload's entry. */
export interface Registration {
  readonly workload: Workload;
  readonly entryId: string;
  readonly action: 'created' | 'found' | 'updated';
}

/** The entries of `spiffeId` (`entry show -output json`). */
async function entriesOf(l: Layout, spiffeId: string): Promise<EntryJson[]> {
  const out = await serverCli(l, 'entry', 'show', '-spiffeID', spiffeId, '-output', 'json');
  const parsed = JSON.parse(out) as { entries?: EntryJson[] };
  return parsed.entries ?? [];
}

/**
 * Makes sure `w` has an entry under the node alias for this uid with hint
 * `w.name` and the wanted TTL: finds it, fixes its TTL, or creates it.
 */
export async function ensureEntry(l: Layout, w: Workload, uid: number, ttl: number): Promise<Registration> {
  const selector = `unix:uid:${uid}`;
  const same = (await entriesOf(l, w.spiffeId)).find(
    (e) => idString(e.parent_id) === NODE_ALIAS && e.hint === w.name && (e.selectors ?? []).some((s) => `${s.type}:${s.value}` === selector) && (e.selectors ?? []).length === 1,
  );
  const spec = ['-spiffeID', w.spiffeId, '-parentID', NODE_ALIAS, '-selector', selector, '-hint', w.name, '-x509SVIDTTL', String(ttl)];
  if (same?.id) {
    if (Number(same.x509_svid_ttl ?? 0) === ttl) return { workload: w, entryId: same.id, action: 'found' };
    await serverCli(l, 'entry', 'update', '-entryID', same.id, ...spec);
    return { workload: w, entryId: same.id, action: 'updated' };
  }
  const out = await serverCli(l, 'entry', 'create', ...spec);
  const id = /Entry ID\s*:\s*(\S+)/.exec(out)?.[1] ?? '?';
  return { workload: w, entryId: id, action: 'created' };
}
