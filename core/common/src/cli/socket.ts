/**
 * Which API socket a CLI command dials, as SPIRE chooses it: an explicit
 * `-socketPath`, then `-instance` substituted into a template variable,
 * then a socket variable, then (the agent) a fallback such as
 * SPIFFE_ENDPOINT_SOCKET, then the default. The variable names and the
 * wording of a missing template are the side's.
 *
 * @module
 */

import { isAbsolute, normalize } from 'node:path';

/** The environment, as a record or a lookup function. */
export type CliEnv = Readonly<Record<string, string | undefined>> | ((name: string) => string | undefined);

/**
 * How one side picks its socket.
 *
 * @example
 * ```ts
 * const rules: SocketRules = { templateEnv: 'SPIRE_SERVER_PRIVATE_SOCKET_TEMPLATE', socketEnv: 'SPIRE_SERVER_PRIVATE_SOCKET', defaultPath: '/tmp/spire-server/private/api.sock', missingTemplate: (v) => `you must define ${v} to use the instance flag` };
 * ```
 */
export interface SocketRules {
  readonly templateEnv: string;
  readonly socketEnv: string;
  readonly defaultPath: string;
  /** The error when `-instance` is given without the template variable. */
  readonly missingTemplate: (templateEnv: string) => string;
  /** Consulted after `socketEnv`: a path, or `undefined` to use the default. May throw. */
  readonly fallback?: (get: (name: string) => string) => string | undefined;
}

/**
 * The socket to dial. `flags.socketPath` is the flag's value when given
 * ('' otherwise); throws an Error worded for the user.
 *
 * @example
 * ```ts
 * selectSocketPath({ socketPath: '', instance: 'a' }, { SPIRE_SERVER_PRIVATE_SOCKET_TEMPLATE: '/run/%i.sock' }, rules); // '/run/a.sock'
 * ```
 */
export function selectSocketPath(flags: { readonly socketPath: string; readonly instance: string }, env: CliEnv, rules: SocketRules): string {
  const get = (name: string): string => (typeof env === 'function' ? env(name) : env[name]) ?? '';
  const tpl = get(rules.templateEnv);
  if (flags.instance !== '') {
    if (tpl === '') throw new Error(rules.missingTemplate(rules.templateEnv));
    if (!tpl.includes('%i')) throw new Error(`failed to find %i in ${rules.templateEnv}`);
  }
  if (flags.socketPath !== '') return flags.socketPath;
  if (flags.instance !== '') return tpl.replaceAll('%i', flags.instance);
  const sock = get(rules.socketEnv);
  if (sock !== '') return sock;
  return rules.fallback?.(get) ?? rules.defaultPath;
}

/**
 * The grpc-js target that dials the Unix socket at `path`, absolute or
 * relative to the working directory. `unix://${path}` would not do: a
 * relative path's first component would be read as the URI's authority
 * (`unix://server/api.sock` dials `api.sock`).
 *
 * @example
 * ```ts
 * unixSocketTarget('server/api.sock'); // 'unix:server/api.sock'
 * unixSocketTarget('/tmp/spire-server/private/api.sock'); // 'unix:/tmp/spire-server/private/api.sock'
 * ```
 */
export function unixSocketTarget(path: string): string {
  // `unix:` then the path, which grpc-js takes as it is; a leading `//`
  // would still start an authority, so an absolute path is normalized.
  return `unix:${isAbsolute(path) ? normalize(path) : path}`;
}
