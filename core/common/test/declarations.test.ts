import { describe, expect, it } from 'vitest';
import { buildConfig, describeIssues, ConfigError, parseConfig, s } from '@spire-ts/plugin-sdk';
import { pluginDeclarations, pluginsSchema, type PluginsConfig } from '@spire-ts/common';

const schema = s.object({ plugins: pluginsSchema });

function plugins(text: string, format: 'hcl' | 'json' = 'hcl'): PluginsConfig {
  const res = buildConfig(schema, text, { filename: 'server.conf', format });
  if (!res.ok) throw new ConfigError(res.errors);
  return res.value.plugins ?? [];
}

function errors(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return describeIssues(err.issues);
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const files: Record<string, string> = { '/etc/spire/km.hcl': 'keys_path = "/x"\n' };
const readFile = (p: string): string => {
  const f = files[p];
  if (f === undefined) throw new Error('ENOENT: no such file');
  return f;
};

describe('plugin declarations from SPIRE-shaped config', () => {
  it('keeps order, re-prints plugin_data as HCL the plugin can parse, reads plugin_data_file', () => {
    const decls = pluginDeclarations(
      plugins(`plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = "/var/lib/spire/datastore.sqlite3"
    }
  }
  KeyManager "disk" { plugin_data_file = "km.hcl" }
  NodeAttestor "join_token" {}
  NodeAttestor "x509pop" {
    plugin_cmd = "/opt/x509pop"
    plugin_args = ["-v"]
    plugin_checksum = "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
    enabled = false
  }
}`),
      { side: 'server', baseDir: '/etc/spire', readFile },
    );
    expect(decls.map((d) => `${d.type}/${d.name}`)).toEqual(['DataStore/sql', 'KeyManager/disk', 'NodeAttestor/join_token', 'NodeAttestor/x509pop']);
    const ds = decls[0]!;
    expect(parseConfig(ds.pluginData!)).toBeTruthy();
    expect(ds.pluginData).toContain('database_type = "sqlite3"');
    expect(decls[1]!.pluginData).toBe('keys_path = "/x"\n');
    expect(decls[2]!.pluginData).toBeUndefined();
    expect(decls[3]).toMatchObject({
      pluginCmd: '/opt/x509pop',
      pluginArgs: ['-v'],
      pluginChecksum: 'abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789',
      enabled: false,
    });
  });

  it('reads the same structure from JSON', () => {
    const decls = pluginDeclarations(
      plugins(JSON.stringify({ plugins: { KeyManager: { memory: {} }, DataStore: { sql: { plugin_data: { database_type: 'sqlite3' } } } } }), 'json'),
      { side: 'server' },
    );
    expect(decls.map((d) => `${d.type}/${d.name}`)).toEqual(['KeyManager/memory', 'DataStore/sql']);
    expect(decls[1]!.pluginData).toContain('database_type = "sqlite3"');
  });

  it('reports every problem with its position', () => {
    const text = `plugins {
  KeyManagr "memory" {}
  WorkloadAttestor "unix" {}
  KeyManager "disk" {
    plugin_data { a = 1 }
    plugin_data_file = "x"
  }
  KeyManager "disk" {}
  NodeAttestor "bad name" {}
  NodeAttestor "tpm" { plugin_args = ["x"] }
  DataStore "sql" { plugin_data_file = "/nope.hcl" }
}`;
    expect(errors(() => pluginDeclarations(plugins(text), { side: 'server', readFile }))).toBe(
      [
        'server.conf:2:3: unknown plugin type "KeyManagr" for spire-server (known: DataStore, KeyManager, NodeAttestor, UpstreamAuthority, Notifier, CredentialComposer, BundlePublisher)',
        'server.conf:3:3: unknown plugin type "WorkloadAttestor" for spire-server (known: DataStore, KeyManager, NodeAttestor, UpstreamAuthority, Notifier, CredentialComposer, BundlePublisher)',
        'server.conf:4:14: KeyManager "disk": plugin_data and plugin_data_file are mutually exclusive',
        'server.conf:8:14: KeyManager "disk" is declared more than once (first at line 4)',
        'server.conf:9:16: NodeAttestor: invalid plugin name "bad name" (letters, digits, ".", "_" and "-" only)',
        'server.conf:10:16: NodeAttestor "tpm": plugin_args needs plugin_cmd',
        'server.conf:11:13: DataStore "sql": cannot read plugin_data_file /nope.hcl: ENOENT: no such file',
      ].join('\n'),
    );
  });

  it('catches a duplicate declared in one go', () => {
    const cfg = plugins('plugins {\n  KeyManager "disk" {}\n  KeyManager "disk" {}\n}');
    expect(errors(() => pluginDeclarations(cfg, { side: 'server' }))).toBe('server.conf:3:14: KeyManager "disk" is declared more than once (first at line 2)');
  });

  it('checks plugin_checksum is a SHA-256', () => {
    expect(errors(() => plugins('plugins { KeyManager "x" { plugin_cmd = "/x" plugin_checksum = "abc" } }'))).toContain(
      'must be the hex SHA-256 of the plugin executable (64 hex digits)',
    );
  });
});
