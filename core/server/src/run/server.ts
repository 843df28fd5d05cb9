/**
 * spire-server running: the CA (resumed from the DataStore's journal and
 * rotated), the entry cache, the server SVID, the API endpoints (TLS and the
 * admin socket), the health listener and periodic pruning, started in that
 * order from a loaded plugin catalog and stopped in reverse.
 */
import { joinTokenEnabled, makeDirectories, StopStack, serveHealthChecks, type Bundle, type Catalog, type HealthListener, type Logger, type ManagedPlugin } from '@spire-ts/common';
import { agentService } from '../api/agent.js';
import { bundleService } from '../api/bundle.js';
import { debugService } from '../api/debug.js';
import type { ApiDeps, NodeAttestor } from '../api/deps.js';
import { Endpoints, service } from '../api/endpoints.js';
import { entryService } from '../api/entry.js';
import { healthService } from '../api/health.js';
import { svidService } from '../api/svid.js';
import { trustDomainService } from '../api/trustdomain.js';
import { BundleEndpointServer } from '../federation/endpoint.js';
import { BundleRefreshManager, type TrustDomainConfig } from '../federation/manager.js';
import { systemClock, type Clock } from '../ca/clock.js';
import type { CAManager } from '../ca/manager/manager.js';
import { CAJournalStore, createPersistentCAManager } from '../ca/persistence.js';
import { startRotationLoop } from '../ca/rotator.js';
import type { RuntimeConfig } from '../config/runtime.js';
import { createEntryCache } from '../entrycache/index.js';
import { DataStoreV1 } from '../plugin/datastore/v1.js';
import type { DataStore } from '../plugin/datastore/datastore.js';
import { KeyManagerV1 } from '../plugin/keymanager/v1.js';
import { NodeAttestorV1 } from '../plugin/nodeattestor/v1.js';
import { ServerSvidRotator } from '../svid/server-svid.js';
import type { ServerHostServices } from '../hostservice/agentstore.js';

/** How often expired join tokens, entries and bundle authorities are pruned (SPIRE: hourly). */
export const PRUNE_INTERVAL_MS = 60 * 60 * 1000;
/** How often the published bundle is re-read from the DataStore (other servers, AppendBundle). */
export const BUNDLE_REFRESH_MS = 5_000;

const ACME_UNSUPPORTED =
  'federation.bundle_endpoint: the ACME profile is not supported by spire-ts (it cannot obtain certificates from an ACME CA); ' +
  'use profile "https_web" with serving_cert_file, or profile "https_spiffe"';

export interface StartServerOptions {
  readonly config: RuntimeConfig;
  readonly catalog: Catalog;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Entry cache poll interval; default 1 s. */
  readonly cachePollIntervalMs?: number;
  /** The host services the catalog's plugins were started with; bound to the DataStore here. */
  readonly hostServices?: ServerHostServices;
  /** Extra Web PKI CAs (PEM) trusted for `https_web` federated bundle endpoints (tests; NODE_EXTRA_CA_CERTS works too). */
  readonly federationWebCasPem?: string;
}

/** A running server. */
export interface RunningServer {
  readonly endpoints: Endpoints;
  readonly manager: CAManager;
  readonly ds: DataStore;
  readonly health: HealthListener | undefined;
  /** The federation bundle endpoint, when configured. */
  readonly bundleEndpoint: BundleEndpointServer | undefined;
  /** Polls the federated trust domains' bundle endpoints. */
  readonly bundleManager: BundleRefreshManager;
  /** Stops everything this started (not the catalog). */
  close(): Promise<void>;
}

const toKeyManagerType = (t: string): 'EC_P256' | 'EC_P384' | 'RSA_2048' | 'RSA_4096' => {
  switch (t) {
    case 'ec-p384':
      return 'EC_P384';
    case 'rsa-2048':
      return 'RSA_2048';
    case 'rsa-4096':
      return 'RSA_4096';
    default:
      return 'EC_P256';
  }
};

/** Starts the server from a loaded catalog; on failure, stops what it started and rethrows. */
export async function startServer(o: StartServerOptions): Promise<RunningServer> {
  const { config, catalog, log } = o;
  const clock = o.clock ?? systemClock;
  const stops = new StopStack();
  const stopAll = (): Promise<void> => stops.stopAll(log);
  try {
    const acme = config.federation.bundleEndpoint?.profile;
    if (acme?.kind === 'https_web' && 'acme' in acme) throw new Error(ACME_UNSUPPORTED);
    makeDirectories(config.dataDir, 0o700);
    const ds = new DataStoreV1(catalog.one('DataStore') as ManagedPlugin<'spire_ts.plugin.server.datastore.v1.DataStore'>);
    const km = new KeyManagerV1(catalog.one('KeyManager') as ManagedPlugin<'spire.plugin.server.keymanager.v1.KeyManager'>);
    o.hostServices?.agentStore.bind(async (agentId) => (await ds.fetchNode(agentId)) !== undefined);

    const store = new CAJournalStore({ dataStore: ds, log });
    const manager = await createPersistentCAManager(
      {
        trustDomain: config.trustDomain,
        clock,
        keyManager: km,
        caKeyType: toKeyManagerType(config.ca.keyType),
        jwtKeyType: toKeyManagerType(config.jwt.keyType),
        caTtlMs: config.ca.ttlMs,
        caSubject: {
          country: config.ca.subject.country,
          organization: config.ca.subject.organization,
          ...(config.ca.subject.commonName ? { commonName: config.ca.subject.commonName } : {}),
        },
        svid: {
          x509SvidTtlMs: config.x509SvidTtlMs,
          jwtSvidTtlMs: config.jwtSvidTtlMs,
          ...(config.jwt.issuer ? { jwtIssuer: config.jwt.issuer } : {}),
        },
        log,
      },
      store,
    );
    const stopRotation = startRotationLoop({ target: manager, clock, onError: (err) => log.error('CA rotation failed', { error: (err as Error).message }) });
    stops.push(stopRotation);

    // The published bundle: what the DataStore holds for our trust domain (the manager's authorities plus any appended).
    let bundle: Bundle = (await ds.fetchBundle(config.trustDomain)) ?? manager.bundle();
    const refreshBundle = async (): Promise<void> => {
      try {
        await store.flush();
        bundle = (await ds.fetchBundle(config.trustDomain)) ?? manager.bundle();
      } catch (err) {
        log.warn('Could not refresh the trust bundle from the DataStore', { error: (err as Error).message });
      }
    };
    const bundleTimer = setInterval(() => void refreshBundle(), BUNDLE_REFRESH_MS);
    bundleTimer.unref();
    stops.push(() => clearInterval(bundleTimer));

    const entries = await createEntryCache({ ds, clock, log, trustDomain: config.trustDomain, ...(o.cachePollIntervalMs ? { pollIntervalMs: o.cachePollIntervalMs } : {}) });
    stops.push(() => entries.close());

    const nodeAttestors = new Map<string, NodeAttestor>();
    for (const p of catalog.ofType('NodeAttestor')) {
      nodeAttestors.set(p.name, new NodeAttestorV1(p as ManagedPlugin<'spire.plugin.server.nodeattestor.v1.NodeAttestor'>));
    }

    const deps: ApiDeps = {
      trustDomain: config.trustDomain,
      clock,
      log,
      ds,
      ca: manager.ca,
      bundle: () => bundle,
      bundleUpdated: (b) => {
        bundle = b;
      },
      entries,
      nodeAttestors,
      joinTokenEnabled: joinTokenEnabled(config.plugins),
      agentTtlMs: config.agentTtlMs,
      adminIds: config.adminIds,
    };

    const live: { endpoints?: Endpoints; bundleEndpoint?: BundleEndpointServer } = {};
    const svids = new ServerSvidRotator({
      ca: manager.ca,
      clock,
      log,
      onRotate: (s) => {
        live.endpoints?.setIdentity(s);
        live.bundleEndpoint?.setIdentity(s);
      },
    });
    const first = await svids.start();
    stops.push(() => svids.stop());

    // Federation: the bundle refresher (relationships from the config and the DataStore) and, if configured, the bundle endpoint.
    const configured = new Map<string, TrustDomainConfig>(
      config.federation.federatesWith.map((f) => [
        f.trustDomain,
        {
          bundleEndpointUrl: f.bundleEndpointUrl,
          profile: f.profile.kind === 'https_spiffe' ? { type: 'https_spiffe', endpointSpiffeId: f.profile.endpointSpiffeId } : { type: 'https_web' },
        },
      ]),
    );
    const bundleManager = new BundleRefreshManager({
      trustDomain: config.trustDomain,
      ds,
      log: log.with({ subsystem_name: 'bundle_client' }),
      configured,
      ...(o.federationWebCasPem ? { extraWebCasPem: o.federationWebCasPem } : {}),
    });
    const be = config.federation.bundleEndpoint;
    if (be) {
      const p = be.profile;
      if (p.kind === 'https_web' && 'acme' in p) throw new Error(ACME_UNSUPPORTED);
      const endpoint = new BundleEndpointServer({
        host: be.address,
        port: be.port,
        refreshHintMs: be.refreshHintMs,
        getBundle: async () => (await ds.fetchBundle(config.trustDomain)) ?? bundle,
        auth:
          p.kind === 'https_spiffe'
            ? { kind: 'https_spiffe', identity: first }
            : { kind: 'https_web', certFilePath: p.servingCertFile.certFilePath, keyFilePath: p.servingCertFile.keyFilePath, fileSyncIntervalMs: p.servingCertFile.fileSyncIntervalMs },
        log,
      });
      await endpoint.start();
      live.bundleEndpoint = endpoint;
      stops.push(() => endpoint.close());
    }

    const startedAt = clock.now();
    let ready = false;
    const servingStatus = (): 'SERVING' | 'NOT_SERVING' => (ready && catalog.ofType('DataStore').every((p) => p.currentState === 'ready') ? 'SERVING' : 'NOT_SERVING');
    const ep = new Endpoints({
      deps,
      log,
      tcp: { host: config.bindAddress, port: config.bindPort },
      adminSocketPath: config.socketPath,
      identity: first,
      rateLimit: config.rateLimit,
      services: [
        service('spire.api.server.agent.v1.Agent', agentService(deps)),
        service('spire.api.server.entry.v1.Entry', entryService(deps)),
        service('spire.api.server.svid.v1.SVID', svidService(deps)),
        service('spire.api.server.bundle.v1.Bundle', bundleService(deps)),
        service('spire.api.server.trustdomain.v1.TrustDomain', trustDomainService(deps, bundleManager)),
        service('spire.api.server.debug.v1.Debug', debugService(deps, { startedAt, serverSvidChainPem: () => svids.svid.certChainPem })),
        service('grpc.health.v1.Health', healthService(servingStatus)),
      ],
    });
    live.endpoints = ep;
    await ep.start();
    stops.push(() => ep.close());

    await bundleManager.start();
    stops.push(() => bundleManager.close());

    const prune = async (): Promise<void> => {
      const now = Math.floor(clock.now().getTime() / 1000);
      try {
        const tokens = await ds.pruneJoinTokens(now);
        const expired = await ds.pruneEntries(now);
        const changed = await ds.pruneBundle(config.trustDomain, now);
        if (tokens || expired || changed) log.info('Pruned expired data', { join_tokens: tokens, entries: expired, bundle_changed: changed });
      } catch (err) {
        log.warn('Pruning failed', { error: (err as Error).message });
      }
    };
    const pruneTimer = setInterval(() => void prune(), PRUNE_INTERVAL_MS);
    pruneTimer.unref();
    stops.push(() => clearInterval(pruneTimer));

    const health = await serveHealthChecks(
      config.healthChecks,
      () => {
        const serving = servingStatus() === 'SERVING';
        return {
          'catalog.datastore': { live: serving, ready: serving },
          'server.ca': { live: manager.ca.x509CA !== undefined, ready: manager.ca.x509CA !== undefined },
        };
      },
      stops,
      log,
    );
    ready = true;
    log.info('spire-server is ready', { trust_domain: config.trustDomain, address: `${config.bindAddress}:${ep.tcpAddress?.port ?? config.bindPort}`, admin_socket: config.socketPath });
    return { endpoints: ep, manager, ds, health, bundleEndpoint: live.bundleEndpoint, bundleManager, close: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
