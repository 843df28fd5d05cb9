// `spire-server federation ...` argument handling that fails before any RPC
// (SPIRE's messages), and the relationship block printer.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '@spire-ts/server';
import { formatRelationship } from '../src/cli/admin/federation.js';

const dir = mkdtempSync(join(tmpdir(), 'federation-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main([...args.slice(0, 2), '-socketPath', join(dir, 'none.sock'), ...args.slice(2)], {
    stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t),
    readFile: (p) => readFileSync(p, 'utf8'), readStdin: () => stdin, cwd: dir, env: {},
  } as Parameters<typeof main>[1]);
  return { code, stdout, stderr };
}

describe('federation create/update arguments', () => {
  it.each([
    [[], 'Error: trust domain is required'],
    [['-trustDomain', 'a.test'], 'Error: bundle endpoint URL is required'],
    [['-trustDomain', 'a.test', '-bundleEndpointURL', 'https://a.test'], 'Error: unknown bundle endpoint profile type: ""'],
    [['-trustDomain', 'a.test', '-bundleEndpointURL', 'https://a.test', '-bundleEndpointProfile', 'https_spiffe'], "Error: endpoint SPIFFE ID is required if 'https_spiffe' endpoint profile is set"],
    [['-trustDomain', 'a.test', '-bundleEndpointURL', 'https://a.test', '-bundleEndpointProfile', 'https_spiffe', '-endpointSpiffeID', 'nope'], 'Error: cannot parse bundle endpoint SPIFFE ID: '],
    [['-trustDomain', 'a.test', '-bundleEndpointURL', 'https://a.test', '-bundleEndpointProfile', 'https_web', '-trustDomainBundlePath', 'missing.pem'], 'Error: cannot read bundle file: '],
    [['-data', 'x.json', '-trustDomain', 'a.test'], "Error: cannot use other flags to specify relationship fields when 'data' flag is set"],
  ])('create %j fails with %s', async (flags, message) => {
    const r = await run(['federation', 'create', ...flags]);
    expect(r.code).toBe(1);
    expect(r.stderr.startsWith(message)).toBe(true);
  });

  it('reads -data items (with PEM and SPIFFE bundles) and names the bad item', async () => {
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ federationRelationships: [{ trustDomain: 'a.test', bundleEndpointURL: 'https://a.test', bundleEndpointProfile: 'https_web' }, { trustDomain: 'b.test' }] }));
    const r = await run(['federation', 'update', '-data', 'bad.json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Error: could not parse item 1: bundle endpoint URL is required\n');
    const notJson = await run(['federation', 'create', '-data', '-'], '{nope');
    expect(notJson.stderr).toMatch(/^Error: failed to parse JSON: /);
    const badBundle = await run(['federation', 'create', '-data', '-'], JSON.stringify({
      federationRelationships: [{ trustDomain: 'a.test', bundleEndpointURL: 'https://a.test', bundleEndpointProfile: 'https_web', trustDomainBundle: 'not pem', trustDomainBundleFormat: 'pem' }],
    }));
    expect(badBundle.stderr).toMatch(/^Error: could not parse item 0: cannot parse bundle raw message: /);
  });

  it('delete, refresh and show need their argument', async () => {
    expect((await run(['federation', 'delete'])).stderr.startsWith('Error: id is required')).toBe(true);
    expect((await run(['federation', 'refresh'])).stderr.startsWith('Error: id is required')).toBe(true);
    expect((await run(['federation', 'show'])).stderr.startsWith('Error: a trust domain name is required')).toBe(true);
  });

  it('lists the federation subcommands', async () => {
    const r = await run(['federation', '-h']);
    for (const sub of ['create', 'delete', 'list', 'refresh', 'show', 'update']) expect(r.stderr).toMatch(new RegExp(`^ {4}${sub} +`, 'm'));
  });
});

describe('relationship blocks', () => {
  it('prints https_web and https_spiffe relationships as SPIRE does', () => {
    expect(formatRelationship({ trust_domain: 'a.test', bundle_endpoint_url: 'https://a.test/b', https_web: {} })).toBe(
      'Trust domain              : a.test\nBundle endpoint URL       : https://a.test/b\nBundle endpoint profile   : https_web\n',
    );
    expect(formatRelationship({ trust_domain: 'b.test', bundle_endpoint_url: 'https://b.test', https_spiffe: { endpoint_spiffe_id: 'spiffe://b.test/s' } })).toBe(
      'Trust domain              : b.test\nBundle endpoint URL       : https://b.test\nBundle endpoint profile   : https_spiffe\nEndpoint SPIFFE ID        : spiffe://b.test/s\n',
    );
  });
});
