/**
 * MySQL connection strings in the go-sql-driver/mysql DSN form SPIRE uses:
 * `[user[:password]@][net[(addr)]]/dbname[?param=value&...]`, e.g.
 * `spire:secret@tcp(127.0.0.1:3306)/spire?parseTime=true`. Parsed the way the
 * Go driver does (last "/" ends the address, last "@" ends the credentials).
 */
import { ConnectionStringError, parseGoDuration } from './common.js';

export type MySqlTls = 'off' | 'verify' | 'skip-verify' | 'preferred' | 'custom';

export interface MySqlTarget {
  user: string;
  password?: string;
  /** tcp host (absent for unix sockets). */
  host?: string;
  port?: number;
  socketPath?: string;
  database: string;
  tls: MySqlTls;
  charset?: string;
  connectTimeoutMs?: number;
  /** Unknown DSN params: session variables, set on every new connection as the Go driver does. */
  sessionVariables: Array<[string, string]>;
  /** Params accepted for compatibility but with no effect here. */
  ignored: string[];
}

/** Params the Go driver knows that only matter to Go, or that we do not need. */
const NO_EFFECT = new Set([
  'parseTime', 'loc', 'timeTruncate', 'interpolateParams', 'columnsWithAlias', 'clientFoundRows', 'checkConnLiveness',
  'allowNativePasswords', 'allowOldPasswords', 'allowCleartextPasswords', 'allowFallbackToPlaintext', 'allowAllFiles',
  'maxAllowedPacket', 'rejectReadOnly', 'serverPubKey', 'connectionAttributes', 'readTimeout', 'writeTimeout', 'multiStatements',
]);

export function parseMySqlDsn(dsn: string): MySqlTarget {
  const slash = dsn.lastIndexOf('/');
  if (slash === -1) throw new ConnectionStringError('mysql connection string: missing "/" before the database name (user:pass@tcp(host:port)/dbname)');
  let user = '';
  let password: string | undefined;
  let net = '';
  let addr = '';
  if (slash > 0) {
    const left = dsn.slice(0, slash);
    const at = left.lastIndexOf('@');
    let rest = left;
    if (at !== -1) {
      const cred = left.slice(0, at);
      const colon = cred.indexOf(':');
      if (colon === -1) user = cred;
      else {
        user = cred.slice(0, colon);
        password = cred.slice(colon + 1);
      }
      rest = left.slice(at + 1);
    }
    const paren = rest.indexOf('(');
    if (paren !== -1) {
      if (!rest.endsWith(')')) throw new ConnectionStringError('mysql connection string: invalid address (missing ")")');
      addr = rest.slice(paren + 1, -1);
      net = rest.slice(0, paren);
    } else net = rest;
  }
  const afterSlash = dsn.slice(slash + 1);
  const q = afterSlash.indexOf('?');
  const dbRaw = q === -1 ? afterSlash : afterSlash.slice(0, q);
  let database: string;
  try {
    database = decodeURIComponent(dbRaw);
  } catch {
    throw new ConnectionStringError('mysql connection string: invalid database name escape');
  }
  const target: MySqlTarget = { user, database, tls: 'off', sessionVariables: [], ignored: [] };
  if (password !== undefined) target.password = password;
  applyAddress(target, net || 'tcp', addr);
  if (q !== -1) applyParams(target, afterSlash.slice(q + 1));
  return target;
}

function applyAddress(t: MySqlTarget, net: string, addr: string): void {
  if (net === 'unix') {
    t.socketPath = addr || '/tmp/mysql.sock';
    return;
  }
  if (net !== 'tcp' && net !== 'tcp4' && net !== 'tcp6') {
    throw new ConnectionStringError(`mysql connection string: unsupported network ${JSON.stringify(net)} (use tcp or unix)`);
  }
  let host = '127.0.0.1';
  let port = 3306;
  if (addr) {
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(addr) ?? /^([^:]*)(?::(\d+))?$/.exec(addr);
    if (!m) throw new ConnectionStringError(`mysql connection string: invalid address ${JSON.stringify(addr)}`);
    if (m[1]) host = m[1];
    if (m[2]) port = Number(m[2]);
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new ConnectionStringError(`mysql connection string: invalid port in ${JSON.stringify(addr)}`);
  }
  t.host = host;
  t.port = port;
}

function applyParams(t: MySqlTarget, query: string): void {
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq === -1) throw new ConnectionStringError(`mysql connection string: invalid parameter ${JSON.stringify(pair)}`);
    const key = pair.slice(0, eq);
    let value: string;
    try {
      value = decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, ' '));
    } catch {
      throw new ConnectionStringError(`mysql connection string: invalid escape in parameter ${JSON.stringify(key)}`);
    }
    switch (key) {
      case 'tls':
        t.tls = tlsMode(value);
        break;
      case 'charset': {
        const first = value.split(',')[0];
        if (first) t.charset = first;
        break;
      }
      case 'collation':
        t.charset = value;
        break;
      case 'timeout': {
        let ms: number;
        try {
          ms = parseGoDuration(value);
        } catch {
          throw new ConnectionStringError(`mysql connection string: invalid timeout ${JSON.stringify(value)}`);
        }
        if (ms > 0) t.connectTimeoutMs = Math.ceil(ms);
        break;
      }
      default:
        if (NO_EFFECT.has(key)) t.ignored.push(key);
        else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) t.sessionVariables.push([key, value]);
        else throw new ConnectionStringError(`mysql connection string: invalid parameter name ${JSON.stringify(key)}`);
    }
  }
}

function tlsMode(v: string): MySqlTls {
  switch (v.toLowerCase()) {
    case 'true':
    case '1':
      return 'verify';
    case 'false':
    case '0':
      return 'off';
    case 'skip-verify':
      return 'skip-verify';
    case 'preferred':
      return 'preferred';
    default:
      return 'custom';
  }
}

/** The DSN with its password replaced by `xxxxx`. */
export function redactMySql(dsn: string): string {
  const slash = dsn.lastIndexOf('/');
  if (slash <= 0) return dsn;
  const left = dsn.slice(0, slash);
  const at = left.lastIndexOf('@');
  if (at === -1) return dsn;
  const colon = left.slice(0, at).indexOf(':');
  if (colon === -1) return dsn;
  return `${left.slice(0, colon + 1)}xxxxx${dsn.slice(at)}`;
}
