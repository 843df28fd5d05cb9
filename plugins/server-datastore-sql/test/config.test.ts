/** plugin_data validation: SPIRE's keys, every problem reported by name. */
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../src/index.js';

describe('buildConfig', () => {
  it('accepts a SPIRE server.conf DataStore block unchanged', () => {
    const { config, notes } = buildConfig({
      database_type: 'postgres',
      connection_string: 'dbname=spire_development user=spire host=127.0.0.1 sslmode=disable',
      ro_connection_string: 'postgres://ro@replica/spire',
      max_open_conns: 20,
      max_idle_conns: 5,
      conn_max_lifetime: '1h',
      disable_migration: false,
    });
    expect(notes).toEqual([]);
    expect(config).toEqual({
      databaseType: 'postgres',
      connectionString: 'dbname=spire_development user=spire host=127.0.0.1 sslmode=disable',
      roConnectionString: 'postgres://ro@replica/spire',
      maxOpenConns: 20,
      maxIdleConns: 5,
      connMaxLifetimeMs: 3_600_000,
      disableMigration: false,
    });
  });

  it('defaults pool settings as SPIRE documents', () => {
    expect(buildConfig({ database_type: 'sqlite3', connection_string: 'x.db' }).config).toMatchObject({ maxOpenConns: 100, maxIdleConns: 100, connMaxLifetimeMs: 0 });
  });

  it('accepts MySQL TLS files', () => {
    const { config } = buildConfig({ database_type: 'mysql', connection_string: 'u@tcp(h)/d', root_ca_path: '/ca.pem', client_cert_path: '/c.pem', client_key_path: '/k.pem' });
    expect(config).toMatchObject({ rootCaPath: '/ca.pem', clientCertPath: '/c.pem', clientKeyPath: '/k.pem' });
  });

  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['missing database_type', { connection_string: 'x' }, /database_type is required/],
    ['unknown database_type', { database_type: 'oracle', connection_string: 'x' }, /not supported/],
    ['IAM block', { database_type: { aws_postgres: { region: 'x' } }, connection_string: 'x' }, /blocks .* not supported/],
    ['missing connection_string', { database_type: 'sqlite3' }, /connection_string is required/],
    ['unknown key', { database_type: 'sqlite3', connection_string: 'x', log_sql: true }, /unknown configuration key "log_sql"/],
    ['bad postgres string', { database_type: 'postgres', connection_string: 'user' }, /connection_string: postgres connection string/],
    ['bad mysql ro string', { database_type: 'mysql', connection_string: 'u@tcp(h)/d', ro_connection_string: 'nope' }, /ro_connection_string/],
    ['bad duration', { database_type: 'sqlite3', connection_string: 'x', conn_max_lifetime: '1 hour' }, /conn_max_lifetime/],
    ['non-integer pool size', { database_type: 'sqlite3', connection_string: 'x', max_open_conns: 'ten' }, /max_open_conns must be an integer/],
    ['non-boolean disable_migration', { database_type: 'sqlite3', connection_string: 'x', disable_migration: 'yes' }, /disable_migration must be a boolean/],
    ['TLS files on postgres', { database_type: 'postgres', connection_string: 'user=u', root_ca_path: '/x' }, /mysql only/],
    ['cert without key', { database_type: 'mysql', connection_string: 'u@tcp(h)/d', client_cert_path: '/c' }, /must be set together/],
  ];
  for (const [name, data, note] of bad) {
    it(`reports ${name}`, () => {
      const { config, notes } = buildConfig(data);
      expect(config).toBeUndefined();
      expect(notes.join('\n')).toMatch(note);
    });
  }

  it('reports every problem at once', () => {
    expect(buildConfig({ foo: 1, bar: 2, max_open_conns: 'x' }).notes).toHaveLength(5);
  });
});
