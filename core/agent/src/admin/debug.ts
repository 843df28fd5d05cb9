/**
 * `spire.agent.debug.v1.Debug` (SPIRE's pkg/agent/api/debug/v1): a snapshot
 * of the agent for operators — its own SVID chain as verified against the
 * trust bundle (leaf to root), uptime, the last successful sync and cache
 * sizes. Answers are cached for 5 seconds, as SPIRE does.
 *
 * @module
 */
import { formatName, validateX509Svid, type Bundle, type Certificate, type Logger } from '@spire-ts/common';
import { PluginError, Status, type ServiceImpl } from '@spire-ts/plugin-sdk';
import type { agentDebugV1 } from '@spire-ts/proto';

/** How long one GetInfo answer is reused. */
export const DEBUG_INFO_CACHE_MS = 5_000;
const INT32_MAX = 2 ** 31 - 1;

/** What the Debug service reads from the running agent. */
export interface AgentDebugSource {
  /** The agent's current X.509-SVID chain, DER, leaf first. */
  agentSvidChain(): readonly Uint8Array[];
  /** The agent's trust domain bundle. */
  bundle(): Bundle | undefined;
  /** When the last sync with the server succeeded. */
  lastSync(): Date | undefined;
  /** Cache sizes. */
  stats(): { x509Svids: number; jwtSvids: number; svidStoreX509Svids?: number };
}

export interface AgentDebugOptions {
  source: AgentDebugSource;
  log: Logger;
  /** When the agent started (for `uptime`). */
  startedAt: Date;
  now?: () => Date;
}

type Cert = agentDebugV1.GetInfoResponse__Output['svid_chain'][number];
type Info = agentDebugV1.GetInfoResponse;

/** go-spiffe's IDFromCert: exactly one URI SAN that is a SPIFFE ID, else none. */
function spiffeIdOf(c: Certificate): Cert['id'] {
  const uris = c.extensions.subjectAltName?.uris ?? [];
  if (uris.length !== 1) return null;
  const m = /^spiffe:\/\/([a-z0-9._-]+)(\/.*)?$/.exec(uris[0]!);
  if (!m) return null;
  return { trust_domain: m[1]!, path: m[2] ?? '' };
}

function checkedInt32(n: number, what: string): number {
  if (!Number.isInteger(n) || n < -INT32_MAX - 1 || n > INT32_MAX) throw new PluginError(Status.UNKNOWN, `${what}: ${n} does not fit in an int32`);
  return n;
}

/**
 * The Debug handlers.
 *
 * @example
 * ```ts
 * addService(server, 'spire.agent.debug.v1.Debug', agentDebugService({ source, log, startedAt: new Date() }));
 * ```
 */
export function agentDebugService(o: AgentDebugOptions): ServiceImpl<'spire.agent.debug.v1.Debug'> {
  const now = o.now ?? (() => new Date());
  const log = o.log.with({ subsystem_name: 'debug_api' });
  let cached: { at: number; info: Info } | undefined;

  function build(): Info {
    const [leaf, ...rest] = o.source.agentSvidChain();
    const roots = o.source.bundle()?.x509Authorities ?? [];
    let chain: readonly Certificate[];
    try {
      if (!leaf) throw new Error('the agent has no SVID');
      chain = validateX509Svid(leaf, rest, roots, now()).chain;
    } catch (err) {
      log.error('Failed to verify agent SVID', { error: (err as Error).message });
      throw new PluginError(Status.INTERNAL, `failed to verify agent SVID: ${(err as Error).message}`);
    }
    const stats = o.source.stats();
    const x509 = checkedInt32(stats.x509Svids, 'out of range value for X.509 SVIDs count');
    const lastSync = o.source.lastSync();
    return {
      svid_chain: chain.map((c) => ({ id: spiffeIdOf(c), expires_at: Math.floor(c.notAfter.getTime() / 1000), subject: formatName(c.subject) })),
      uptime: checkedInt32(Math.floor((now().getTime() - o.startedAt.getTime()) / 1000), 'invalid value for uptime'),
      svids_count: x509,
      cached_x509_svids_count: x509,
      cached_jwt_svids_count: checkedInt32(stats.jwtSvids, 'out of range value for JWT SVIDs count'),
      cached_svidstore_x509_svids_count: checkedInt32(stats.svidStoreX509Svids ?? 0, 'out of range value for SVIDStore X.509 SVIDs count'),
      last_sync_success: lastSync ? Math.floor(lastSync.getTime() / 1000) : 0,
    };
  }

  return {
    GetInfo() {
      const t = now().getTime();
      if (!cached || t - cached.at >= DEBUG_INFO_CACHE_MS) cached = { at: t, info: build() };
      return cached.info;
    },
  };
}
