import type * as grpc from '@grpc/grpc-js';
import type { ServiceClientOf, ServiceName } from '@spire-ts/proto';
import { PluginError, Status } from './errors.js';
import { HOST_SERVICE_PROVIDER_ID } from './plugin-types.js';

interface ConnInfo {
  service_id: number;
  network: string;
  address: string;
}

/** go-plugin's broker window: a ConnInfo nobody dials within 5 s is dropped. */
const DIAL_WAIT_MS = 5000;

/**
 * The plugin half of go-plugin's GRPCBroker: remembers the listeners the host
 * announces on the StartStream stream so the plugin can dial them by id.
 */
export class Broker {
  private readonly known = new Map<number, ConnInfo>();
  private readonly waiters = new Map<number, Array<(info: ConnInfo | undefined) => void>>();
  private stream: grpc.ServerDuplexStream<unknown, unknown> | undefined;

  attach(stream: grpc.ServerDuplexStream<unknown, unknown>): void {
    this.stream = stream;
    stream.on('data', (msg: ConnInfo) => {
      this.known.set(msg.service_id, msg);
      const w = this.waiters.get(msg.service_id);
      if (w) {
        this.waiters.delete(msg.service_id);
        for (const fn of w) fn(msg);
      }
    });
    stream.on('error', () => undefined);
  }

  /** Waits (up to go-plugin's 5 s) for the host to announce `id`. */
  async connInfo(id: number): Promise<ConnInfo> {
    const have = this.known.get(id);
    if (have) return have;
    const info = await new Promise<ConnInfo | undefined>((resolve) => {
      const list = this.waiters.get(id) ?? [];
      const timer = setTimeout(() => resolve(undefined), DIAL_WAIT_MS);
      list.push((i) => {
        clearTimeout(timer);
        resolve(i);
      });
      this.waiters.set(id, list);
    });
    if (!info) throw new PluginError(Status.UNAVAILABLE, `timeout waiting for the host to announce broker service ${id}`);
    return info;
  }

  close(): void {
    for (const [, list] of this.waiters) for (const fn of list) fn(undefined);
    this.waiters.clear();
    try {
      this.stream?.end();
    } catch {
      /* already closed */
    }
  }
}

/**
 * The host services offered to this plugin (AgentStore, IdentityProvider,
 * Metrics in SPIRE's server; Metrics in the agent), reached over the broker.
 *
 * @example
 * ```ts
 * if (hosts.has('spire.hostservice.server.agentstore.v1.AgentStore')) {
 *   const store = await hosts.dial('spire.hostservice.server.agentstore.v1.AgentStore');
 * }
 * ```
 */
export class HostServices {
  private channel: Promise<string> | undefined;

  constructor(
    private readonly broker: Broker,
    /** Full names of the services the host offers. */
    readonly offered: readonly string[],
    /** Full names the plugin declared it wants. */
    readonly wanted: readonly string[],
  ) {}

  has(name: string): boolean {
    return this.offered.includes(name);
  }

  /** A typed client for a host service; fails with NOT_FOUND if the host does not offer it. */
  async dial<N extends ServiceName>(name: N): Promise<ServiceClientOf<N>> {
    if (!this.has(name)) throw new PluginError(Status.NOT_FOUND, `host does not offer ${name}`);
    // grpc-js and the full proto loader are loaded only by plugins that use host services.
    const [{ createClient }, grpcJs] = await Promise.all([import('@spire-ts/proto'), import('@grpc/grpc-js')]);
    this.channel ??= this.broker.connInfo(HOST_SERVICE_PROVIDER_ID).then((i) => `${i.network}:${i.address}`);
    const target = await this.channel;
    return createClient(name, target, grpcJs.credentials.createInsecure());
  }
}
