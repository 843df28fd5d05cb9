/**
 * Finding the Workload API: the SPIFFE_ENDPOINT_SOCKET variable or an
 * explicit address, `unix:///abs/path`, `unix:path` or `tcp://<ip>:<port>`,
 * turned into a grpc-js target.
 */
import { isIP } from 'node:net';
import { resolve } from 'node:path';

/** The environment variable that names the Workload API endpoint. */
export const ENDPOINT_SOCKET_ENV = 'SPIFFE_ENDPOINT_SOCKET';

/**
 * The grpc-js target for a Workload API address. Throws with the reason when
 * the address is not a usable `unix:` or `tcp:` URI.
 *
 * @example
 * ```ts
 * workloadApiTarget('unix:///run/spire/sockets/agent.sock'); // 'unix:///run/spire/sockets/agent.sock'
 * workloadApiTarget('unix:agent.sock');                       // 'unix:///<cwd>/agent.sock'
 * workloadApiTarget('tcp://127.0.0.1:8081');                  // '127.0.0.1:8081'
 * ```
 */
export function workloadApiTarget(address: string): string {
  const bad = (why: string): Error => new Error(`workload endpoint address ${JSON.stringify(address)} is invalid: ${why}`);
  if (address === '') throw bad('it is empty');
  if (address.startsWith('unix:')) {
    const rest = address.slice('unix:'.length);
    let path: string;
    if (rest.startsWith('//')) {
      let u: URL;
      try {
        u = new URL(address);
      } catch {
        throw bad('not a URI');
      }
      if (u.host !== '') throw bad(`unix socket URI must have an empty authority (use unix:///path), got "${u.host}"`);
      if (u.search !== '' || u.hash !== '') throw bad('unix socket URI must not include a query or fragment');
      path = decodeURIComponent(u.pathname);
    } else {
      if (/[?#]/.test(rest)) throw bad('unix socket URI must not include a query or fragment');
      path = resolve(rest);
    }
    if (path === '' || path === '/' || path.endsWith('/')) throw bad('unix socket URI must include a socket file path');
    return `unix://${path}`;
  }
  if (address.startsWith('tcp:')) {
    let u: URL;
    try {
      u = new URL(address);
    } catch {
      throw bad('not a URI');
    }
    if (u.username || u.password) throw bad('tcp URI must not include user info');
    if (u.pathname !== '' && u.pathname !== '/') throw bad('tcp URI must not include a path');
    if (u.search !== '' || u.hash !== '') throw bad('tcp URI must not include a query or fragment');
    const host = u.hostname.replace(/^\[|\]$/g, '');
    if (!isIP(host)) throw bad(`tcp URI host must be an IP address, got "${u.hostname}"`);
    if (u.port === '') throw bad('tcp URI must include a port');
    return `${u.hostname}:${u.port}`;
  }
  throw bad('scheme must be "unix" or "tcp"');
}

/** The Workload API address from `SPIFFE_ENDPOINT_SOCKET`; throws if it is not set. */
export function endpointFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const v = env[ENDPOINT_SOCKET_ENV];
  if (!v) throw new Error(`workload endpoint address not given and ${ENDPOINT_SOCKET_ENV} is not set`);
  return v;
}
