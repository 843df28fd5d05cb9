// Trust on first use: the guard asks the host, refuses replays and
// concurrent duplicates, and holds an answered ID until the host stored it.
import { describe, expect, it } from 'vitest';
import { PluginError, Status } from '@spire-ts/plugin-sdk';
import { TofuGuard } from '../src/index.js';

const ID = 'spiffe://example.org/spire/agent/aws_iid/123456789012/us-west-2/i-0123456789abcdef0';

async function refusal(p: Promise<unknown>): Promise<PluginError> {
  try {
    await p;
  } catch (err) {
    return err as PluginError;
  }
  throw new Error('expected a refusal');
}

describe('TofuGuard', () => {
  it('fails closed without an AgentStore', async () => {
    const err = await refusal(new TofuGuard('aws_iid').guard(ID, () => Promise.resolve(1)));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.message).toMatch(/required AgentStore host service not available: aws_iid/);
  });

  it('refuses an attested ID, admits it again once the host forgot it (evicted)', async () => {
    const stored = new Set<string>([ID]);
    const g = new TofuGuard('gcp_iit', undefined, { holdMs: 0 });
    g.useLookup((id) => Promise.resolve(stored.has(id)));
    const err = await refusal(g.guard(ID, () => Promise.resolve(1)));
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.message).toBe('attestation data has already been used to attest an agent');
    stored.delete(ID);
    await expect(g.guard(ID, () => Promise.resolve(2))).resolves.toBe(2);
  });

  it('of concurrent attestations of one ID exactly one proceeds; a failed one releases the ID at once', async () => {
    const g = new TofuGuard('azure_msi');
    let slowLookups = 0;
    g.useLookup(async () => {
      slowLookups++;
      await new Promise((r) => setTimeout(r, 20));
      return false;
    });
    const results = await Promise.allSettled([1, 2, 3].map((n) => g.guard(ID, () => Promise.resolve(n))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(slowLookups).toBeGreaterThan(0);

    const other = `${ID}-2`;
    await expect(g.guard(other, () => Promise.reject(new Error('bad document')))).rejects.toThrow('bad document');
    await expect(g.guard(other, () => Promise.resolve('ok'))).resolves.toBe('ok');
  });

  it('holds an answered ID until the host confirms it, or the hold passes', async () => {
    let stored = false;
    const g = new TofuGuard('azure_imds', undefined, { holdMs: 100 });
    g.useLookup(() => Promise.resolve(stored));
    await g.guard(ID, () => Promise.resolve(1));
    expect((await refusal(g.guard(ID, () => Promise.resolve(2)))).code).toBe(Status.PERMISSION_DENIED);
    await new Promise((r) => setTimeout(r, 150));
    await expect(g.guard(ID, () => Promise.resolve(3))).resolves.toBe(3);
    stored = true;
    expect((await refusal(g.guard(ID, () => Promise.resolve(4)))).code).toBe(Status.PERMISSION_DENIED);
  });

  it("passes the host's lookup failure on with its code", async () => {
    const g = new TofuGuard('aws_iid');
    g.useLookup(() => Promise.reject(new PluginError(Status.UNAVAILABLE, 'unable to get agent info: datastore down')));
    const err = await refusal(g.guard(ID, () => Promise.resolve(1)));
    expect(err.code).toBe(Status.UNAVAILABLE);
  });
});
