// The built-in binary over the real wire: lifecycle and KeyManager contract.
import { describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { unary } from '@spire-ts/common';
import { builtInTarget, runSuite, suitesFor } from '@spire-ts/conformance';
import { createLogger, startPluginServer } from '@spire-ts/plugin-sdk';
import { createClient } from '@spire-ts/proto';
import { agentMemoryKeyManagerPlugin } from '../src/index.js';

describe('agent:KeyManager:memory conformance', () => {
  const target = builtInTarget('agent:KeyManager:memory');
  it('serves the agent KeyManager service', () => {
    expect(target.service).toBe('spire.plugin.agent.keymanager.v1.KeyManager');
  });
  for (const suite of suitesFor(target)) {
    it(suite.name, async () => {
      const results = await runSuite(suite);
      const failed = results.filter((r) => r.status !== 'passed');
      for (const f of failed) console.error(`${f.status}: ${f.suite} / ${f.name}: ${f.message}`);
      expect(failed).toEqual([]);
      expect(results.length).toBe(suite.cases.length);
    }, 60_000);
  }
});

describe('agent:KeyManager:memory', () => {
  it('keeps keys per process only: a new plugin instance starts empty', async () => {
    const servers = [];
    try {
      const keys = [];
      for (let i = 0; i < 2; i++) {
        const srv = await startPluginServer(agentMemoryKeyManagerPlugin(), { log: createLogger({ level: 'warn' }) });
        servers.push(srv);
        const km = createClient('spire.plugin.agent.keymanager.v1.KeyManager', srv.target, grpc.credentials.createInsecure());
        if (i === 0) await unary(km, 'GenerateKey', { key_id: 'agent-svid-A', key_type: 'EC_P256' });
        keys.push((await unary(km, 'GetPublicKeys', {})).public_keys.map((k) => k.id));
        km.close();
      }
      expect(keys).toEqual([['agent-svid-A'], []]);
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });
});
