/**
 * The agent NodeAttestor facade over real plugin processes: payload first,
 * one challenge_response per challenge, and every protocol violation or
 * plugin failure an error naming the plugin.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ManagedPlugin, nullLogger } from '@spire-ts/common';
import { NodeAttestorV1 } from '../src/node/nodeattestor-v1.js';
import { JoinTokenAttestor } from '../src/node/attestor.js';

const SERVICE = 'spire.plugin.agent.nodeattestor.v1.NodeAttestor';
const FIXTURE = fileURLToPath(new URL('./fixtures/node-attestor-plugin.mjs', import.meta.url));
const plugins: ManagedPlugin<typeof SERVICE>[] = [];

async function start(mode: string): Promise<NodeAttestorV1> {
  const plugin = new ManagedPlugin({
    launch: { type: 'NodeAttestor', name: 'test_attestor', command: process.execPath, args: [FIXTURE, mode] },
    service: SERVICE,
    trustDomain: 'example.org',
    log: nullLogger,
    restart: false,
  });
  plugins.push(plugin);
  await plugin.start();
  return new NodeAttestorV1(plugin);
}

afterAll(() => Promise.all(plugins.map((p) => p.stop())));

describe('NodeAttestorV1 (agent)', () => {
  it('relays the payload and answers challenges in order', async () => {
    const a = await start('ok');
    expect(a.name).toBe('test_attestor');
    const s = a.begin();
    expect(Buffer.from(await s.payload()).toString()).toBe('hello');
    expect(Buffer.from(await s.answer(Buffer.from('c1'))).toString()).toBe('re:c1');
    expect(Buffer.from(await s.answer(Buffer.from('c2'))).toString()).toBe('re:c2');
    s.close();
    s.close();
    // A second session on the same plugin works.
    const s2 = a.begin();
    expect(Buffer.from(await s2.payload()).toString()).toBe('hello');
    s2.close();
  });

  it('refuses a plugin that answers before sending its payload', async () => {
    const s = (await start('answer-first')).begin();
    await expect(s.payload()).rejects.toThrow('nodeattestor(test_attestor): plugin must send the attestation payload first (got challenge_response)');
    s.close();
  });

  it('refuses an empty payload', async () => {
    const s = (await start('empty')).begin();
    await expect(s.payload()).rejects.toThrow('nodeattestor(test_attestor): plugin sent an empty payload');
    s.close();
  });

  it('reports a plugin that closes the stream without a payload', async () => {
    const s = (await start('close')).begin();
    await expect(s.payload()).rejects.toThrow('nodeattestor(test_attestor): plugin closed the stream before sending the payload');
    s.close();
  });

  it('keeps the plugin error code and message', async () => {
    const s = (await start('fail')).begin();
    await expect(s.payload()).rejects.toThrow(/nodeattestor\(test_attestor\): attestation failed: PermissionDenied: no attestation for you/);
    s.close();
  });

  it('join_token: the token is the payload; challenges are refused', async () => {
    const s = new JoinTokenAttestor('abc').begin();
    expect(Buffer.from(await s.payload()).toString()).toBe('abc');
    await expect(s.answer(new Uint8Array([1]))).rejects.toThrow(/does not answer challenges/);
    expect(() => new JoinTokenAttestor('')).toThrow(/cannot be empty/);
  });
});
