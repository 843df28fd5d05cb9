/**
 * spire-agent running: node identity (attest or resume, renew), the sync
 * manager (entries, SVIDs, bundles), the Workload API on its Unix socket and
 * the health listener, started in that order from a loaded plugin catalog and
 * stopped in reverse. A terminal node identity event (banned, evicted,
 * identity lost) stops the agent with the reason.
 */
import { StopStack, makeDirectories, serveHealthChecks, type Catalog, type HealthListener, type Logger, type ManagedPlugin } from '@spire-ts/common';
import type { RuntimeConfig } from '../config/runtime.js';
import { AgentManager } from '../manager/index.js';
import { NodeIdentity, NodeAttestorV1, nodeIdentityOptions, type AgentNodeAttestor } from '../node/index.js';
import type { NodeIdentityError } from '../node/index.js';
import { WorkloadApiServer, WorkloadAttestation, WorkloadAttestorV1, addWorkloadHealthService } from '../workload/index.js';
import { AdminApiServer, checkAdminSocketPath } from '../admin/index.js';
import { checkAgentSockets } from './sockets.js';

export interface StartAgentOptions {
  readonly config: RuntimeConfig;
  readonly catalog: Catalog;
  readonly log: Logger;
  /** This agent's version, posted to the server (PostStatus) once the node identity is ready. */
  readonly version?: string;
}

/** A running agent. */
export interface RunningAgent {
  readonly identity: NodeIdentity;
  readonly manager: AgentManager;
  readonly workloadApi: WorkloadApiServer | undefined;
  /** The admin API (Debug, Delegated Identity), when `admin_socket_path` is set. */
  readonly adminApi: AdminApiServer | undefined;
  readonly health: HealthListener | undefined;
  /** Resolves with the terminal error if the node identity is lost (banned, evicted...). */
  readonly terminated: Promise<NodeIdentityError>;
  close(): Promise<void>;
}

/** Starts the agent from a loaded catalog; on failure, stops what it started and rethrows. */
export async function startAgent(o: StartAgentOptions): Promise<RunningAgent> {
  const { config, catalog, log } = o;
  const stops = new StopStack();
  const stopAll = (): Promise<void> => stops.stopAll(log);
  const startedAt = new Date();
  try {
    if (config.adminSocketPath) checkAdminSocketPath(config.adminSocketPath, config.workloadApi.disabled ? undefined : config.socketPath);
    try {
      makeDirectories(config.dataDir, 0o700);
    } catch (err) {
      throw new Error(`data_dir ${JSON.stringify(config.dataDir)}: ${(err as Error).message}`, { cause: err });
    }
    // Before node attestation, which may spend a join token: a socket that cannot be served stops the agent now.
    const socketProblems = await checkAgentSockets(config, { prepare: true, log });
    if (socketProblems.length) throw new Error(socketProblems.join('; '));
    const nodePlugins = catalog.ofType('NodeAttestor');
    let attestor: AgentNodeAttestor | undefined;
    const first = nodePlugins[0];
    if (first) attestor = new NodeAttestorV1(first as ManagedPlugin<'spire.plugin.agent.nodeattestor.v1.NodeAttestor'>);

    const identity = new NodeIdentity(await nodeIdentityOptions(config, { log, ...(attestor ? { attestor } : {}) }));
    // Lost identity (banned, evicted, expired): told by the node identity, also when the sync manager's call met it.
    const terminated = new Promise<NodeIdentityError>((resolve) => identity.onTerminal(resolve));
    await identity.start();
    stops.push(() => identity.stop());
    log.info('Node identity ready', { spiffe_id: identity.svid.spiffeId, expires_at: new Date(identity.svid.notAfter).toISOString() });
    if (o.version && identity.api.postStatus) {
      const version = o.version;
      // As SPIRE's manager: a server that cannot take it (older, or down) is logged, not fatal.
      identity.api.postStatus(version).catch((err: unknown) => log.error('Failed to post agent status', { agent_version: version, error: (err as Error).message }));
    }

    const manager = new AgentManager({
      api: identity.api,
      trustDomain: config.trustDomain,
      log,
      syncIntervalMs: config.syncIntervalMs,
      x509SvidCacheMaxSize: config.x509SvidCacheMaxSize,
      jwtSvidCacheMaxSize: config.jwtSvidCacheMaxSize,
      workloadKeyType: config.workloadX509SvidKeyType,
    });
    await manager.start();
    stops.push(() => manager.stop());

    const attestors = catalog.ofType('WorkloadAttestor').map((p) => new WorkloadAttestorV1(p as ManagedPlugin<'spire.plugin.agent.workloadattestor.v1.WorkloadAttestor'>));
    let workloadApi: WorkloadApiServer | undefined;
    if (!config.workloadApi.disabled) {
      const api = new WorkloadApiServer({
        cache: manager,
        attestation: new WorkloadAttestation({ attestors, log }),
        trustDomain: config.trustDomain,
        log,
        allowedForeignJwtClaims: config.workloadApi.allowedForeignJwtClaims,
        allowUnauthenticatedVerifiers: config.workloadApi.allowUnauthenticatedVerifiers,
        sds: config.sds.disabled ? false : config.sds,
        addServices: (server) => addWorkloadHealthService(server, { socketPath: config.socketPath, log }),
      });
      await api.start(config.socketPath).catch((err: unknown) => {
        throw new Error(`socket_path ${JSON.stringify(config.socketPath)}: ${(err as Error).message}`, { cause: err });
      });
      stops.push(() => api.close());
      workloadApi = api;
    }

    let adminApi: AdminApiServer | undefined;
    if (config.adminSocketPath) {
      const admin = new AdminApiServer({
        source: {
          agentSvidChain: () => identity.svid.chain,
          bundle: () => manager.bundle,
          lastSync: () => manager.lastSync,
          stats: () => manager.stats,
        },
        log,
        startedAt,
        ...(config.workloadApi.disabled ? {} : { workloadSocketPath: config.socketPath }),
        delegatedIdentity: { source: manager, attestation: new WorkloadAttestation({ attestors, log }), authorizedDelegates: config.authorizedDelegates },
      });
      const adminSocketPath = config.adminSocketPath;
      await admin.start(adminSocketPath).catch((err: unknown) => {
        throw new Error(`admin_socket_path ${JSON.stringify(adminSocketPath)}: ${(err as Error).message}`, { cause: err });
      });
      stops.push(() => admin.close());
      adminApi = admin;
    }

    const health = await serveHealthChecks(
      config.healthChecks,
      () => {
        const lost = identity.terminal !== undefined;
        const synced = !manager.degraded;
        return {
          'agent.node': { live: !lost, ready: !lost, ...(lost ? { details: { error: identity.terminal?.message } } : {}) },
          'agent.sync': { live: true, ready: synced, ...(synced ? {} : { details: { degraded: true } }) },
        };
      },
      stops,
      log,
    );
    log.info('spire-agent is ready', { spiffe_id: identity.svid.spiffeId, socket_path: config.socketPath });
    return { identity, manager, workloadApi, adminApi, health, terminated, close: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
