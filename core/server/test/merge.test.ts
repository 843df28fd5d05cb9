import { describe, expect, it } from 'vitest';
import { mergeConfig, parseFile, SERVER_DEFAULTS } from '@spire-ts/server';
import type { FlagValues, MergedServer, Origin } from '@spire-ts/server';

function merge(text: string, flags: FlagValues) {
  const r = parseFile(text, { filename: 'server.conf' });
  if (!r.ok) throw new Error('bad fixture');
  return mergeConfig(r.file, flags, 'server.conf');
}

const file: Origin = { kind: 'file' };
const dflt: Origin = { kind: 'default' };
const flag = (name: string): Origin => ({ kind: 'flag', flag: name });

describe('mergeConfig: flags over file over defaults', () => {
  const cases: [string, string, FlagValues, Partial<MergedServer>, Partial<Record<keyof MergedServer, Origin>>][] = [
    [
      'defaults fill what neither sets',
      'server {}',
      {},
      { bind_address: '0.0.0.0', bind_port: 8081, socket_path: '/tmp/spire-server/private/api.sock', ca_ttl: 86_400_000, log_level: 'INFO', log_format: 'text' },
      { bind_address: dflt, bind_port: dflt, socket_path: dflt, ca_ttl: dflt, log_level: dflt },
    ],
    [
      'the file overrides defaults',
      'server {\n  bind_port = 9000\n  ca_ttl = "48h"\n  log_level = "debug"\n}',
      {},
      { bind_port: 9000, ca_ttl: 172_800_000, log_level: 'debug' },
      { bind_port: file, ca_ttl: file, log_level: file },
    ],
    [
      'flags override the file',
      'server {\n  bind_address = "10.0.0.1"\n  bind_port = 9000\n  trust_domain = "file.test"\n  data_dir = "/file"\n  log_level = "debug"\n}',
      { bindAddress: '127.0.0.1', serverPort: 9999, trustDomain: 'flag.test', dataDir: '/flag', logLevel: 'error', logFormat: 'json', logFile: '/log', socketPath: '/s.sock' },
      { bind_address: '127.0.0.1', bind_port: 9999, trust_domain: 'flag.test', data_dir: '/flag', log_level: 'error', log_format: 'json', log_file: '/log', socket_path: '/s.sock' },
      { bind_address: flag('-bindAddress'), bind_port: flag('-serverPort'), trust_domain: flag('-trustDomain'), data_dir: flag('-dataDir'), log_level: flag('-logLevel') },
    ],
    [
      'flags fill what the file lacks',
      'server {\n  bind_port = 9000\n}',
      { trustDomain: 'flag.test' },
      { bind_port: 9000, trust_domain: 'flag.test' },
      { bind_port: file, trust_domain: flag('-trustDomain') },
    ],
    [
      'empty and zero values count as unset (SPIRE merges with mergo)',
      'server {\n  bind_address = ""\n  bind_port = 0\n  trust_domain = "file.test"\n}',
      { serverPort: 0, dataDir: '' },
      { bind_address: '0.0.0.0', bind_port: 8081, trust_domain: 'file.test' },
      { bind_address: dflt, bind_port: dflt, trust_domain: file },
    ],
    [
      'a false flag does not override a true file value',
      'server {\n  log_source_location = true\n}',
      { logSourceLocation: false },
      { log_source_location: true },
      { log_source_location: file },
    ],
    [
      'keys without flags come from the file only',
      'server {\n  admin_ids = ["spiffe://a.test/admin"]\n  agent_ttl = "3h"\n}',
      {},
      { admin_ids: ['spiffe://a.test/admin'], agent_ttl: 10_800_000 },
      { admin_ids: file, agent_ttl: file },
    ],
  ];
  it.each(cases)('%s', (_name, text, flags, server, origins) => {
    const m = merge(text, flags);
    expect(m.server).toMatchObject(server);
    expect(m.origins).toMatchObject(origins);
  });

  it('works without a server block and keeps the other blocks', () => {
    const m = merge('plugins {\n  KeyManager "memory" {}\n}\nhealth_checks {\n  bind_port = 81\n}\n', { trustDomain: 'x.test', dataDir: '/d' });
    expect(m.server).toEqual({ ...SERVER_DEFAULTS, trust_domain: 'x.test', data_dir: '/d' });
    expect(m.plugins?.[0]?.key).toBe('KeyManager');
    expect(m.healthChecks.bind_port).toBe(81);
    expect(m.configPath).toBe('server.conf');
  });
});
