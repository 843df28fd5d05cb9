import { beforeAll, describe, expect, it } from 'vitest';
import { Catalog, listBuiltIns, memoryLogger, nullLogger, unary, type CatalogOptions, type ManagedPlugin } from '@spire-ts/common';
import { alive, chmodFixtures, expectHostError, fixture, type KM_SERVICE } from './helpers.js';

beforeAll(chmodFixtures);

const base: CatalogOptions = { side: 'server', trustDomain: 'example.org', log: nullLogger, handshakeTimeoutMs: 10_000, restart: false };

describe.concurrent('Catalog.load', () => {
  it('stops the plugins already started when a later one fails, and rethrows its error', async () => {
    const ready = new Map<string, number>();
    const states: string[] = [];
    const load = Catalog.load(
      [
        { type: 'KeyManager', name: 'good', pluginCmd: fixture('configurable.mjs'), pluginData: 'x = 1' },
        // Fails at once; load() still lets "good" finish starting, then stops it.
        { type: 'Notifier', name: 'bad', pluginCmd: fixture('raw.mjs'), pluginArgs: ['garbage'] },
      ],
      {
        ...base,
        onState: (p, s) => {
          states.push(`${p.name}:${s}`);
          if (s === 'ready') ready.set(p.name, p.pid!);
        },
      },
    );
    await expectHostError(load, 'ERR_PLUGIN_HANDSHAKE', 'notifier(bad): malformed handshake line "hello, I am not a plugin"');
    const good = ready.get('good');
    expect(good).toBeTypeOf('number');
    expect(alive(good!)).toBe(false);
    expect(states.filter((s) => s.startsWith('good:'))).toEqual(['good:starting', 'good:ready', 'good:stopping', 'good:stopped']);
    expect(states).toContain('bad:stopped');
  });

  it('a plugin declared twice is an error', async () => {
    const decl = { type: 'KeyManager' as const, name: 'dup', pluginCmd: fixture('configurable.mjs') };
    await expectHostError(Catalog.load([decl, { ...decl }], base), 'ERR_PLUGIN_CONFIG', 'keymanager(dup): declared more than once');
  });

  it('an unknown built-in name is an error listing the known built-ins', async () => {
    expect(listBuiltIns('server', 'KeyManager')).toContain('memory');
    await expectHostError(
      Catalog.load([{ type: 'KeyManager', name: 'vault' }], base),
      'ERR_PLUGIN_CONFIG',
      'keymanager(vault): no built-in KeyManager plugin named "vault" for spire-server',
      /\(built-in: [^)]*\bmemory\b[^)]*\)/,
      'set plugin_cmd to load an external plugin',
    );
  });

  it('plugin_checksum on a built-in is an error', async () => {
    await expectHostError(
      Catalog.load([{ type: 'KeyManager', name: 'memory', pluginChecksum: 'a'.repeat(64) }], base),
      'ERR_PLUGIN_CONFIG',
      'keymanager(memory): plugin_checksum is only meaningful with plugin_cmd',
    );
  });

  it('a plugin type the side does not support is an error', async () => {
    await expectHostError(
      Catalog.load([{ type: 'WorkloadAttestor', name: 'unix' }], base),
      'ERR_PLUGIN_CONFIG',
      'plugin type WorkloadAttestor is not supported by spire-server',
    );
  });

  it('loads the built-in server KeyManager "memory", which serves, and closes it', async () => {
    const log = memoryLogger();
    const cat = await Catalog.load([{ type: 'KeyManager', name: 'memory' }, { type: 'KeyManager', name: 'disabled', enabled: false }], { ...base, log });
    const km = cat.one('KeyManager') as ManagedPlugin<typeof KM_SERVICE>;
    const pid = km.pid!;
    try {
      expect(km.name).toBe('memory');
      expect(cat.plugins).toHaveLength(1);
      const gen = await unary(km.client, 'GenerateKey', { key_id: 'k1', key_type: 'EC_P256' }, { deadlineMs: 10_000 });
      expect(gen.public_key?.id).toBe('k1');
      const all = await unary(km.client, 'GetPublicKeys', {}, { deadlineMs: 5000 });
      expect(all.public_keys.map((k) => k.id)).toEqual(['k1']);
      expect(log.lines).toContainEqual(expect.objectContaining({ level: 'info', msg: 'Plugins loaded', fields: { count: 1 } }));
    } finally {
      await cat.close();
    }
    expect(km.currentState).toBe('stopped');
    expect(alive(pid)).toBe(false);
  });
});
