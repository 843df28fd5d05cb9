/**
 * PostgreSQL connection strings as lib/pq (SPIRE's driver) reads them: a URL
 * (`postgres://user:pass@host:port/db?sslmode=disable`) or the key=value form
 * (`dbname=spire user=postgres host=127.0.0.1 sslmode=disable`). Parsing is
 * pure; TLS files are read later, when connecting.
 */
import { userInfo } from 'node:os';
import { ConnectionStringError } from './common.js';

export type PgSslMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';

export interface PgTarget {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  sslMode: PgSslMode;
  sslCertPath?: string;
  sslKeyPath?: string;
  sslRootCertPath?: string;
  connectTimeoutMs?: number;
  applicationName?: string;
  /** Run-time parameters for keys pg has no option for, as `-c key=value`. */
  options?: string;
}

const SSL_MODES: readonly string[] = ['disable', 'require', 'verify-ca', 'verify-full'];
const IGNORED = new Set(['krbsrvname', 'krbspn', 'sslsni', 'sslinline', 'target_session_attrs', 'binary_parameters', 'disable_prepared_binary_result']);

export function parsePostgresConnectionString(cs: string, env: NodeJS.ProcessEnv = process.env): PgTarget {
  const trimmed = cs.trim();
  const params = /^postgres(ql)?:\/\//i.test(trimmed) ? parseUrl(trimmed) : parseKeyValue(trimmed);
  return toTarget(params, env);
}

function parseUrl(cs: string): Map<string, string> {
  let url: URL;
  try {
    url = new URL(cs);
  } catch {
    throw new ConnectionStringError('postgres connection string: malformed URL');
  }
  const params = new Map<string, string>();
  if (url.username) params.set('user', decodeURIComponent(url.username));
  if (url.password) params.set('password', decodeURIComponent(url.password));
  if (url.hostname) params.set('host', url.hostname.replace(/^\[(.*)\]$/, '$1'));
  if (url.port) params.set('port', url.port);
  const db = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (db) params.set('dbname', db);
  for (const [k, v] of url.searchParams) params.set(k, v);
  return params;
}

/** lib/pq's key=value grammar: whitespace separated, values optionally single-quoted with backslash escapes. */
function parseKeyValue(cs: string): Map<string, string> {
  const params = new Map<string, string>();
  let i = 0;
  const n = cs.length;
  const skipSpace = (): void => {
    while (i < n && /\s/.test(cs[i] as string)) i++;
  };
  while (true) {
    skipSpace();
    if (i >= n) break;
    let key = '';
    while (i < n && cs[i] !== '=' && !/\s/.test(cs[i] as string)) key += cs[i++];
    skipSpace();
    if (cs[i] !== '=') throw new ConnectionStringError(`postgres connection string: missing "=" after ${JSON.stringify(key)}`);
    i++;
    skipSpace();
    let value = '';
    if (cs[i] === "'") {
      i++;
      let closed = false;
      while (i < n) {
        const c = cs[i++] as string;
        if (c === '\\' && i < n) value += cs[i++];
        else if (c === "'") {
          closed = true;
          break;
        } else value += c;
      }
      if (!closed) throw new ConnectionStringError(`postgres connection string: unterminated quoted value for ${JSON.stringify(key)}`);
    } else {
      while (i < n && !/\s/.test(cs[i] as string)) {
        const c = cs[i++] as string;
        value += c === '\\' && i < n ? cs[i++] : c;
      }
    }
    if (key === '') throw new ConnectionStringError('postgres connection string: empty key');
    params.set(key, value);
  }
  return params;
}

function toTarget(p: Map<string, string>, env: NodeJS.ProcessEnv): PgTarget {
  const take = (k: string): string | undefined => {
    const v = p.get(k);
    p.delete(k);
    return v === '' ? undefined : v;
  };
  const hostaddr = take('hostaddr');
  const host = hostaddr ?? take('host') ?? env['PGHOST'] ?? 'localhost';
  p.delete('host');
  const portText = take('port') ?? env['PGPORT'] ?? '5432';
  const port = Number(portText);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new ConnectionStringError(`postgres connection string: invalid port ${JSON.stringify(portText)}`);
  const user = take('user') ?? env['PGUSER'] ?? safeUser();
  const password = take('password') ?? env['PGPASSWORD'];
  const database = take('dbname') ?? env['PGDATABASE'] ?? user;
  const sslMode = take('sslmode') ?? env['PGSSLMODE'] ?? 'require';
  if (!SSL_MODES.includes(sslMode)) {
    throw new ConnectionStringError(`postgres connection string: unsupported sslmode ${JSON.stringify(sslMode)} (use disable, require, verify-ca or verify-full)`);
  }
  const target: PgTarget = { host, port, user, database, sslMode: sslMode as PgSslMode };
  if (password !== undefined) target.password = password;
  const cert = take('sslcert');
  const key = take('sslkey');
  const root = take('sslrootcert');
  if (cert) target.sslCertPath = cert;
  if (key) target.sslKeyPath = key;
  if (root) target.sslRootCertPath = root;
  const timeout = take('connect_timeout');
  if (timeout !== undefined) {
    const secs = Number(timeout);
    if (!Number.isFinite(secs) || secs < 0) throw new ConnectionStringError(`postgres connection string: invalid connect_timeout ${JSON.stringify(timeout)}`);
    if (secs > 0) target.connectTimeoutMs = Math.round(secs * 1000);
  }
  const app = take('application_name') ?? take('fallback_application_name');
  p.delete('fallback_application_name');
  if (app) target.applicationName = app;
  const runtime: string[] = [];
  const explicitOptions = take('options');
  if (explicitOptions) runtime.push(explicitOptions);
  for (const [k, v] of p) {
    if (IGNORED.has(k)) continue;
    if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(k)) throw new ConnectionStringError(`postgres connection string: invalid parameter name ${JSON.stringify(k)}`);
    runtime.push(`-c ${k}=${v.replace(/([\\\s])/g, '\\$1')}`);
  }
  if (runtime.length) target.options = runtime.join(' ');
  return target;
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'postgres';
  }
}

/** The connection string with its password replaced by `xxxxx`. */
export function redactPostgres(cs: string): string {
  if (/^postgres(ql)?:\/\//i.test(cs.trim())) {
    return cs
      .replace(/^(\s*postgres(?:ql)?:\/\/[^:@/]*:)[^@/]*@/i, '$1xxxxx@')
      .replace(/([?&]password=)[^&]*/gi, '$1xxxxx');
  }
  return cs.replace(/(\bpassword\s*=\s*)('(?:\\.|[^'\\])*'|\S*)/gi, '$1xxxxx');
}
