/** `spire.api.server.debug.v1.Debug/GetInfo` (admin socket only): uptime, counts and the server's own SVID chain. */
import { X509Certificate } from 'node:crypto';
import { pemDecode } from '@spire-ts/common';
import type { ServiceImpl } from '@spire-ts/plugin-sdk';
import type { ApiDeps } from './deps.js';

export interface DebugSources {
  readonly startedAt: Date;
  /** The server SVID chain, PEM, leaf first. */
  serverSvidChainPem(): string;
}

function spiffeIdOf(cert: X509Certificate): { trust_domain: string; path: string } | null {
  const uri = (cert.subjectAltName ?? '').split(', ').find((s) => s.startsWith('URI:spiffe://'));
  if (!uri) return null;
  const u = uri.slice('URI:spiffe://'.length);
  const slash = u.indexOf('/');
  return slash < 0 ? { trust_domain: u, path: '' } : { trust_domain: u.slice(0, slash), path: u.slice(slash) };
}

export function debugService(deps: ApiDeps, src: DebugSources): ServiceImpl<'spire.api.server.debug.v1.Debug'> {
  return {
    async GetInfo() {
      const [agents, entries, bundles] = await Promise.all([deps.ds.countNodes(), deps.ds.countEntries(), deps.ds.countBundles()]);
      const chain = pemDecode(src.serverSvidChainPem(), 'CERTIFICATE').map((der) => new X509Certificate(der));
      return {
        svid_chain: chain.map((c) => ({
          id: spiffeIdOf(c),
          expires_at: Math.floor(new Date(c.validTo).getTime() / 1000),
          subject: c.subject.split('\n').reverse().join(','),
        })),
        uptime: Math.floor((deps.clock.now().getTime() - src.startedAt.getTime()) / 1000),
        agents_count: agents,
        // The own trust domain's bundle is not a federated one.
        federated_bundles_count: Math.max(0, bundles - 1),
        entries_count: entries,
      };
    },
  };
}
