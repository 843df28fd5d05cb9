/**
 * The quickstart's settings (flags and SPIRE_TS_QUICKSTART_* variables), the
 * layout of its data directory, and the spire-server and spire-agent
 * configurations it writes there (SPIRE's HCL shape, built-in plugins).
 */
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TRUST_DOMAIN = 'example.org';
/** The node alias `token generate -spiffeID` creates; the workload entries hang off it. */
export const NODE_ALIAS = `spiffe://${TRUST_DOMAIN}/quickstart/node`;

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const SERVER_MAIN = join(REPO, 'core/server/dist/cli/main.js');
export const AGENT_MAIN = join(REPO, 'core/agent/dist/cli/main.js');
const DEMO = join(REPO, 'examples/mtls-demo/dist');
export const DEMO_SERVER_MAIN = join(DEMO, 'server.js');
export const DEMO_CLIENT_MAIN = join(DEMO, 'client.js');
export const DEMO_INTRUDER_MAIN = join(DEMO, 'intruder.js');

/** One demo workload: its SPIFFE ID and the entry hint it picks its SVID by. */
export interface Workload {
  readonly name: 'demo-server' | 'demo-client' | 'intruder';
  readonly spiffeId: string;
}
export const WORKLOADS: readonly Workload[] = [
  { name: 'demo-server', spiffeId: `spiffe://${TRUST_DOMAIN}/demo-server` },
  { name: 'demo-client', spiffeId: `spiffe://${TRUST_DOMAIN}/demo-client` },
  { name: 'intruder', spiffeId: `spiffe://${TRUST_DOMAIN}/intruder` },
];

export interface Options {
  readonly dataDir: string;
  /** spire-server's port (SPIRE's default 8081). */
  readonly port: number;
  /** X.509-SVID TTL of the demo entries, seconds. */
  readonly svidTtl: number;
  /** How often the client calls the server, ms. */
  readonly callIntervalMs: number;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = `usage: npm start [-- --data-dir DIR] [--port N] [--svid-ttl SECONDS] [--call-every SECONDS]

  --data-dir    where configs, databases, keys, sockets and logs live
                (SPIRE_TS_QUICKSTART_DIR; default .spire-ts-quickstart in the repo)
  --port        spire-server's port (SPIRE_TS_QUICKSTART_PORT; default 8081)
  --svid-ttl    X.509-SVID lifetime of the demo workloads, seconds; they rotate at
                about half of it (SPIRE_TS_QUICKSTART_SVID_TTL; default 60)
  --call-every  seconds between the client's calls (SPIRE_TS_QUICKSTART_CALL_EVERY; default 20)
`;

function int(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || n < min || n > max) throw new UsageError(`${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(raw)}`);
  return n;
}

/** Options from the command line (wins) and the environment. */
export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): Options {
  const raw: Record<string, string | undefined> = {
    'data-dir': env.SPIRE_TS_QUICKSTART_DIR,
    port: env.SPIRE_TS_QUICKSTART_PORT,
    'svid-ttl': env.SPIRE_TS_QUICKSTART_SVID_TTL,
    'call-every': env.SPIRE_TS_QUICKSTART_CALL_EVERY,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--?([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m || !(m[1]! in raw)) throw new UsageError(arg === '--help' || arg === '-h' ? '' : `unknown argument ${JSON.stringify(arg)}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new UsageError(`${arg} needs a value`);
    raw[m[1]!] = value;
  }
  const dir = raw['data-dir'] || join(REPO, '.spire-ts-quickstart');
  return {
    dataDir: isAbsolute(dir) ? dir : resolve(dir),
    port: raw.port ? int('the port', raw.port, 1, 65535) : 8081,
    svidTtl: raw['svid-ttl'] ? int('the SVID TTL', raw['svid-ttl'], 10, 86400) : 60,
    callIntervalMs: (raw['call-every'] ? int('the call interval', raw['call-every'], 1, 3600) : 20) * 1000,
  };
}

/** Where everything lives in the data directory. */
export function layout(dataDir: string) {
  return {
    dataDir,
    pidFile: join(dataDir, 'quickstart.pid'),
    logs: join(dataDir, 'logs'),
    serverLog: join(dataDir, 'logs', 'spire-server.log'),
    agentLog: join(dataDir, 'logs', 'spire-agent.log'),
    serverConf: join(dataDir, 'server.conf'),
    agentConf: join(dataDir, 'agent.conf'),
    serverDir: join(dataDir, 'server'),
    serverSocket: join(dataDir, 'server', 'private', 'api.sock'),
    agentDir: join(dataDir, 'agent'),
    agentSocket: join(dataDir, 'agent', 'public', 'api.sock'),
    /** The agent's data_dir: its SVID, key and cached bundle. */
    agentData: join(dataDir, 'agent', 'data'),
    agentSvid: join(dataDir, 'agent', 'data', 'agent_svid.der'),
    bundle: join(dataDir, 'agent', 'bootstrap-bundle.pem'),
  };
}
export type Layout = ReturnType<typeof layout>;

const q = (s: string): string => JSON.stringify(s);

/** spire-server's configuration: SQLite DataStore, disk KeyManager, join_token attestation. */
export function serverConf(l: Layout, port: number): string {
  return `# Written by the spire-ts quickstart (npm start); rewritten on every run.
server {
  bind_address = "127.0.0.1"
  bind_port = "${port}"
  socket_path = ${q(l.serverSocket)}
  trust_domain = "${TRUST_DOMAIN}"
  data_dir = ${q(join(l.serverDir, 'data'))}
  log_level = "INFO"
}

plugins {
  NodeAttestor "join_token" {
    plugin_data {}
  }
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = ${q(join(l.serverDir, 'datastore.sqlite3'))}
    }
  }
  KeyManager "disk" {
    plugin_data {
      keys_path = ${q(join(l.serverDir, 'keys.json'))}
    }
  }
}
`;
}

/** spire-agent's configuration; `joinToken` only when the agent must attest. */
export function agentConf(l: Layout, port: number, joinToken: string | undefined): string {
  const token = joinToken ? `\n  join_token = ${q(joinToken)}` : '';
  return `# Written by the spire-ts quickstart (npm start); rewritten on every run.
agent {
  data_dir = ${q(l.agentData)}
  log_level = "INFO"
  server_address = "127.0.0.1"
  server_port = "${port}"
  socket_path = ${q(l.agentSocket)}
  trust_bundle_path = ${q(l.bundle)}
  trust_domain = "${TRUST_DOMAIN}"${token}
}

plugins {
  NodeAttestor "join_token" {
    plugin_data {}
  }
  KeyManager "disk" {
    plugin_data {
      directory = ${q(join(l.agentDir, 'keys'))}
    }
  }
  WorkloadAttestor "unix" {
    plugin_data {}
  }
}
`;
}
