/** Connection strings in SPIRE's documented formats, parsed into driver options; passwords redacted. */
import { describe, expect, it } from 'vitest';
import {
  ConnectionStringError, parseGoDuration, parseMySqlDsn, parsePostgresConnectionString, parseSqliteConnectionString, redactConnectionString,
} from '../src/index.js';

const env = {};

describe('postgres connection strings', () => {
  const cases: Array<{ name: string; input: string; output?: Record<string, unknown>; error?: RegExp }> = [
    {
      name: 'URL',
      input: 'postgres://user:p%40ss@db.example:6543/spire?sslmode=disable&connect_timeout=10&application_name=srv',
      output: { host: 'db.example', port: 6543, user: 'user', password: 'p@ss', database: 'spire', sslMode: 'disable', connectTimeoutMs: 10_000, applicationName: 'srv' },
    },
    { name: 'postgresql:// URL, defaults', input: 'postgresql://u@h/d', output: { host: 'h', port: 5432, user: 'u', database: 'd', sslMode: 'require' } },
    { name: 'IPv6 URL', input: 'postgres://u@[::1]:5433/d?sslmode=verify-full&sslrootcert=/ca.pem', output: { host: '::1', port: 5433, sslMode: 'verify-full', sslRootCertPath: '/ca.pem' } },
    {
      name: 'key=value (SPIRE doc)',
      input: 'dbname=spire user=postgres host=127.0.0.1 port=5432 sslmode=disable',
      output: { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'spire', sslMode: 'disable' },
    },
    {
      name: 'key=value with quotes, escapes and spaces around =',
      input: "dbname = 'my db' password='it\\'s secret' user=x host=/var/run/postgresql sslmode=verify-ca",
      output: { database: 'my db', password: "it's secret", host: '/var/run/postgresql', sslMode: 'verify-ca' },
    },
    { name: 'dbname defaults to user', input: 'user=alice host=h', output: { database: 'alice', sslMode: 'require' } },
    { name: 'hostaddr wins over host', input: 'host=name hostaddr=10.0.0.1 user=u', output: { host: '10.0.0.1' } },
    { name: 'unknown keys become run-time parameters', input: 'user=u search_path=spire statement_timeout=5s', output: { options: '-c search_path=spire -c statement_timeout=5s' } },
    { name: 'bad sslmode', input: 'user=u sslmode=prefer', error: /unsupported sslmode/ },
    { name: 'missing =', input: 'user u', error: /missing "="/ },
    { name: 'unterminated quote', input: "password='abc", error: /unterminated/ },
    { name: 'bad port', input: 'postgres://u@h:99999/d', error: /malformed URL|invalid port/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      if (c.error) expect(() => parsePostgresConnectionString(c.input, env)).toThrow(c.error);
      else expect(parsePostgresConnectionString(c.input, env)).toMatchObject(c.output ?? {});
    });
  }

  it('redacts passwords in both forms', () => {
    expect(redactConnectionString('postgres', 'postgres://u:hunter2@h:5432/d?sslmode=disable')).toBe('postgres://u:xxxxx@h:5432/d?sslmode=disable');
    expect(redactConnectionString('postgres', "dbname=d password='a b c' user=u")).toBe('dbname=d password=xxxxx user=u');
    expect(redactConnectionString('postgres', 'dbname=d password=abc')).toBe('dbname=d password=xxxxx');
    expect(redactConnectionString('postgres', 'postgres://u@h/d?password=abc')).toBe('postgres://u@h/d?password=xxxxx');
  });
});

describe('mysql DSNs (go-sql-driver format)', () => {
  const cases: Array<{ name: string; input: string; output?: Record<string, unknown>; error?: RegExp }> = [
    {
      name: 'SPIRE doc example',
      input: 'username:password@tcp(localhost:3306)/dbname?parseTime=true',
      output: { user: 'username', password: 'password', host: 'localhost', port: 3306, database: 'dbname', tls: 'off', ignored: ['parseTime'] },
    },
    { name: 'empty password, default port', input: 'spire:@tcp(127.0.0.1)/spire_development?parseTime=true', output: { user: 'spire', password: '', host: '127.0.0.1', port: 3306 } },
    { name: 'password containing @ and /', input: 'u:p@ss/w@tcp(h:1)/db', output: { user: 'u', password: 'p@ss/w', host: 'h', port: 1, database: 'db' } },
    { name: 'no credentials or address', input: '/db', output: { user: '', host: '127.0.0.1', port: 3306, database: 'db' } },
    { name: 'unix socket', input: 'u@unix(/run/mysqld/mysqld.sock)/db', output: { socketPath: '/run/mysqld/mysqld.sock', database: 'db' } },
    { name: 'IPv6', input: 'u@tcp([::1]:3307)/db', output: { host: '::1', port: 3307 } },
    {
      name: 'params: tls, charset, timeout, session variables',
      input: 'u@tcp(h)/db?tls=skip-verify&charset=utf8mb4,utf8&timeout=1.5s&sql_mode=%27TRADITIONAL%27&allowCleartextPasswords=1',
      output: { tls: 'skip-verify', charset: 'utf8mb4', connectTimeoutMs: 1500, sessionVariables: [['sql_mode', "'TRADITIONAL'"]], ignored: ['allowCleartextPasswords'] },
    },
    { name: 'tls=true verifies', input: 'u@tcp(h)/db?tls=true', output: { tls: 'verify' } },
    { name: 'custom tls config name', input: 'u@tcp(h)/db?tls=spire', output: { tls: 'custom' } },
    { name: 'escaped database name', input: 'u@tcp(h)/my%20db', output: { database: 'my db' } },
    { name: 'missing slash', input: 'u:p@tcp(h:3306)', error: /missing "\/"/ },
    { name: 'unclosed address', input: 'u@tcp(h:3306/db', error: /invalid address|unsupported network/ },
    { name: 'bad network', input: 'u@udp(h)/db', error: /unsupported network/ },
    { name: 'bad timeout', input: 'u@tcp(h)/db?timeout=soon', error: /invalid timeout/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      if (c.error) expect(() => parseMySqlDsn(c.input)).toThrow(c.error);
      else expect(parseMySqlDsn(c.input)).toMatchObject(c.output ?? {});
    });
  }

  it('redacts the password', () => {
    expect(redactConnectionString('mysql', 'spire:s3cret@tcp(h:3306)/db?x=1')).toBe('spire:xxxxx@tcp(h:3306)/db?x=1');
    expect(redactConnectionString('mysql', 'u:p@ss/w@tcp(h)/db')).toBe('u:xxxxx@tcp(h)/db');
    expect(redactConnectionString('mysql', 'u@tcp(h)/db')).toBe('u@tcp(h)/db');
  });
});

describe('sqlite3 connection strings', () => {
  const cases: Array<{ name: string; input: string; output?: Record<string, unknown>; error?: RegExp }> = [
    { name: 'relative path', input: './.data/datastore.sqlite3', output: { filename: './.data/datastore.sqlite3', memory: false, readonly: false, busyTimeoutMs: 5000 } },
    { name: 'memory URI (SPIRE doc)', input: 'file:memdb?mode=memory&cache=shared', output: { filename: ':memory:', memory: true } },
    { name: ':memory:', input: ':memory:', output: { memory: true } },
    { name: 'file URI with params', input: 'file:/var/lib/spire/ds.db?_busy_timeout=10000&_journal_mode=DELETE&_sync=NORMAL&mode=ro', output: { filename: '/var/lib/spire/ds.db', busyTimeoutMs: 10_000, journalMode: 'DELETE', synchronous: 'NORMAL', readonly: true } },
    { name: 'file:/// URI', input: 'file:///tmp/a%20b.db', output: { filename: '/tmp/a b.db' } },
    { name: 'path with params', input: 'data.db?_foreign_keys=off', output: { filename: 'data.db', foreignKeys: false } },
    { name: 'empty', input: '', error: /file path is required/ },
    { name: 'other scheme', input: 'http://x/y.db', error: /unsupported scheme/ },
    { name: 'bad mode', input: 'file:x.db?mode=rwx', error: /invalid mode/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      if (c.error) expect(() => parseSqliteConnectionString(c.input)).toThrow(c.error);
      else expect(parseSqliteConnectionString(c.input)).toMatchObject(c.output ?? {});
    });
  }
});

describe('Go durations', () => {
  it.each([
    ['0', 0], ['300ms', 300], ['1.5h', 5_400_000], ['2h45m', 9_900_000], ['1m30s', 90_000], ['10us', 0.01], ['-1s', -1000],
  ])('%s', (text, ms) => expect(parseGoDuration(text)).toBeCloseTo(ms));
  it.each(['', '1', '1d', 'h', '1h 2m'])('rejects %j', (text) => expect(() => parseGoDuration(text)).toThrow(ConnectionStringError));
});
