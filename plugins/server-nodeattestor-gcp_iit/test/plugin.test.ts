// The server side of gcp_iit over its real gRPC socket against the fixture's
// fake Google certificates endpoint: configuration checks, the agent path
// template, trust on first use, certificate fetching and caching, and
// refusals of hostile tokens.
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@spire-ts/plugin-sdk';
import { rejection, servePluginInProcess, type InProcessPlugin } from '@spire-ts/conformance';
import { GCP_IIT_INSTANCE } from '../../../conformance/src/fixtures/gcp_iit.js';
import {
  computeInstance,
  identityClaims,
  makeGcpSigner,
  makeServiceAccount,
  signJwt,
  startGcpFakes,
  type GcpFakes,
  type GcpInstance,
  type GcpTestSigner,
} from '../../../conformance/src/fixtures/gcp_iit-fakes.js';
import { GoogleKeyRetriever, gcpIitServerPlugin, parseKeySet } from '../src/index.js';

type Svc = 'spire.plugin.server.nodeattestor.v1.NodeAttestor';
interface Attributes {
  spiffe_id: string;
  selector_values: string[];
  can_reattest: boolean;
}

function attest(p: InProcessPlugin<Svc>, payload: Uint8Array | string, first: 'payload' | 'challenge_response' = 'payload'): Promise<Attributes> {
  return new Promise((resolve, reject) => {
    const call = p.client.Attest({ deadline: Date.now() + 15_000 });
    call.on('data', (m: { response?: string; agent_attributes?: Attributes }) => {
      if (m.response === 'agent_attributes' && m.agent_attributes) resolve(m.agent_attributes);
      else reject(new Error(`unexpected response ${JSON.stringify(m)}`));
      call.end();
    });
    call.on('error', reject);
    call.write({ [first]: typeof payload === 'string' ? Buffer.from(payload) : payload });
  });
}

let fakes: GcpFakes;
let signer: GcpTestSigner;
let p: InProcessPlugin<Svc>;
let serial = 0;
/** The server's AgentStore as these tests see it. */
const stored = new Set<string>();
const now = () => Math.floor(Date.now() / 1000);
/** A fresh instance each time, so trust on first use does not interfere. */
const instance = (over: Partial<GcpInstance> = {}): GcpInstance => ({ ...GCP_IIT_INSTANCE, instanceId: String(7_000_000 + ++serial), ...over });
const token = (i: GcpInstance, claims: Record<string, unknown> = {}): string =>
  signJwt({ ...identityClaims(i, 'spire-gcp-node-attestor', now()), ...claims }, signer);
const data = (extra = ''): string => `projectid_allow_list = ["${GCP_IIT_INSTANCE.projectId}", "p2"]\ngoogle_certs_url = ${JSON.stringify(fakes.certsUrl)}\n${extra}`;

beforeAll(async () => {
  signer = await makeGcpSigner('k1');
  fakes = await startGcpFakes({ instance: GCP_IIT_INSTANCE, signer, published: [signer] });
  p = await servePluginInProcess(gcpIitServerPlugin({ attested: (id) => Promise.resolve(stored.has(id)) }));
});

afterAll(async () => {
  await p?.close();
  await fakes?.close();
});

describe('server gcp_iit configuration', () => {
  it.each([
    ['', /projectid_allow_list is required/],
    ['projectid_allow_list = []', /projectid_allow_list is required/],
    ['projectid_allow_list = ["p"]\nuse_instance_metadata = true\nservice_account_file = "/nonexistent/key.json"', /service_account_file: cannot read service account file "\/nonexistent\/key.json"/],
    ['projectid_allow_list = ["p"]\ncompute_api_url = "ftp://x"', /compute_api_url.*http\(s\) URL/],
    ['projectid_allow_list = ["p"]\nagent_path_template = "/{{ .Nope }}"', /failed to parse agent path template: .*unsupported action "\{\{ \.Nope \}\}"/],
    ['projectid_allow_list = ["p"]\nagent_path_template = "/{{ .ProjectID"', /unclosed action/],
    ['projectid_allow_list = ["p"]\ngoogle_certs_url = "file:///etc/passwd"', /google_certs_url.*http\(s\) URL/],
    ['projectid_allow_list = ["p"]\naudience = "x"', /audience/],
  ])('refuses %j', async (hcl, re) => {
    const err = await rejection(p.configure(hcl));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toMatch(re);
  });

  it("accepts SPIRE's metadata-related keys when use_instance_metadata is off", async () => {
    await p.configure(data('allowed_label_keys = ["a"]\nallowed_metadata_keys = ["b"]\nmax_metadata_value_size = 64\nservice_account_file = "/x.json"'));
  });
});

describe('server gcp_iit attestation', () => {
  it("answers SPIRE's agent ID and selectors, can_reattest false", async () => {
    await p.configure(data());
    const i = instance();
    expect(await attest(p, token(i))).toEqual({
      spiffe_id: `spiffe://example.org/spire/agent/gcp_iit/${i.projectId}/${i.instanceId}`,
      selector_values: [`project-id:${i.projectId}`, `zone:${i.zone}`, `instance-name:${i.instanceName}`, `sa:${i.email}`],
      can_reattest: false,
    });
  });

  it('refuses a second attestation of an instance the server has stored (TOFU); once evicted it attests again', async () => {
    await p.configure(data());
    const i = instance();
    const first = (await attest(p, token(i))) as { spiffe_id: string };
    stored.add(first.spiffe_id);
    await p.configure(data());
    const err = await rejection(attest(p, token(i)));
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.details).toBe('attestation data has already been used to attest an agent');
    stored.delete(first.spiffe_id);
    expect(await attest(p, token(i))).toMatchObject({ spiffe_id: first.spiffe_id });
  });

  it('executes agent_path_template with every SPIRE field', async () => {
    await p.configure(
      data(
        'agent_path_template = "/{{ .PluginName }}/{{ .ProjectNumber }}/{{ .Zone }}/{{ .InstanceName }}/{{ .InstanceCreationTimestamp }}/{{- .ServiceAccount -}}/{{ .InstanceID }}"',
      ),
    );
    const i = instance({ projectId: 'p2' });
    const out = await attest(p, token(i));
    expect(out.spiffe_id).toBe(
      `spiffe://example.org/spire/agent/gcp_iit/${i.projectNumber}/${i.zone}/${i.instanceName}/1714557600/${i.email.replace('@', '_')}/${i.instanceId}`,
    );
  });

  it('refuses an agent path the template makes invalid with INTERNAL', async () => {
    await p.configure(data('agent_path_template = "/{{ .PluginName }}/{{ .InstanceName }}"'));
    const err = await rejection(attest(p, token(instance({ instanceName: 'a b' }))));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toMatch(/invalid agent path suffix "\/gcp_iit\/a b": segment "a b"/);
  });

  it('refuses hostile tokens precisely', async () => {
    await p.configure(data());
    const cases: [string, Status, RegExp][] = [
      [token(instance(), { exp: undefined }), Status.PERMISSION_DENIED, /no expiry/],
      [token(instance(), { nbf: now() + 3600 }), Status.PERMISSION_DENIED, /not valid yet \(nbf\)/],
      [token(instance(), { iat: now() + 3600 }), Status.PERMISSION_DENIED, /issued in the future/],
      [token(instance(), { aud: ['a', 'b'] }), Status.PERMISSION_DENIED, /audience \["a","b"\]/],
      [token(instance(), { google: { compute_engine: { project_id: 7 } } }), Status.INVALID_ARGUMENT, /claim "google.compute_engine.project_id" is not a string/],
      [token(instance({ projectId: 'evil' })), Status.PERMISSION_DENIED, /project ID "evil" is not in the allow list/],
      [signJwt({ a: 1 }, signer, { alg: 'HS256' }), Status.INVALID_ARGUMENT, /"HS256"; only RS256/],
      [signJwt({ a: 1 }, signer, { crit: ['exp'] }), Status.INVALID_ARGUMENT, /critical/],
      [`${token(instance()).split('.').slice(0, 2).join('.')}.`, Status.INVALID_ARGUMENT, /signature is empty/],
      ['a.b.c.d', Status.INVALID_ARGUMENT, /not a compact JWS/],
      ['e30.%%%.c2ln', Status.INVALID_ARGUMENT, /not a compact JWS/],
    ];
    for (const [payload, code, re] of cases) {
      const err = await rejection(attest(p, payload));
      expect({ code: err.code, details: err.details }).toMatchObject({ code });
      expect(err.details).toMatch(re);
    }
    const notPayload = await rejection(attest(p, token(instance()), 'challenge_response'));
    expect(notPayload.code).toBe(Status.INVALID_ARGUMENT);
    expect(notPayload.details).toBe('missing attestation payload');
  });

  it("fails with INTERNAL naming the URL when Google's certificates cannot be fetched", async () => {
    await p.configure(data().replace(fakes.certsUrl, fakes.certsUrl.replace('/oauth2/v1/certs', '/nope')));
    const err = await rejection(attest(p, token(instance())));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toMatch(/unable to fetch Google's certificates from http:\/\/127.0.0.1:\d+\/nope: unexpected status code: 404/);
  });
});

describe('Google key retrieval', () => {
  it('parses the PEM map and the JWKS forms, refusing junk', async () => {
    const s2 = await makeGcpSigner('k2');
    expect([...parseKeySet(JSON.stringify({ k2: s2.certPem })).keys()]).toEqual(['k2']);
    // JWK-exported from a DER copy: Node 20 can deadlock JWK-exporting a generated KeyObject.
    const jwk = createPrivateKey({ key: s2.key.export({ type: 'pkcs8', format: 'der' }), format: 'der', type: 'pkcs8' }).export({ format: 'jwk' });
    expect([...parseKeySet(JSON.stringify({ keys: [{ kty: 'RSA', n: jwk.n, e: jwk.e, kid: 'k2', alg: 'RS256' }] })).keys()]).toEqual(['k2']);
    expect(() => parseKeySet('[]')).toThrow(/not a JSON object/);
    expect(() => parseKeySet('{"k": "nope"}')).toThrow(/malformed PEM block for key "k"/);
    expect(() => parseKeySet('{"keys": [{"kty": "RSA"}]}')).toThrow(/has no "kid"/);
  });

  it('caches until Expires and refetches after; without Expires it fetches every time', async () => {
    let t = Date.parse('2030-01-01T00:00:00Z');
    const r = new GoogleKeyRetriever(fakes.certsUrl, () => t);
    const before = fakes.counts.get('certs') ?? 0;
    await r.keySet();
    await r.keySet();
    expect((fakes.counts.get('certs') ?? 0) - before).toBe(2);
    fakes.certsExpires = new Date(t + 60_000).toUTCString();
    try {
      await r.keySet();
      await r.keySet();
      t += 30_000;
      await r.keySet();
      expect((fakes.counts.get('certs') ?? 0) - before).toBe(3);
      t += 60_000;
      await r.keySet();
      expect((fakes.counts.get('certs') ?? 0) - before).toBe(4);
    } finally {
      fakes.certsExpires = undefined;
    }
  });
});

describe('server gcp_iit with use_instance_metadata (Compute Engine API)', () => {
  let dir: string;
  let keyFile: string;
  const md = (extra = ''): string =>
    data(
      `use_instance_metadata = true\nservice_account_file = ${JSON.stringify(keyFile)}\ncompute_api_url = ${JSON.stringify(fakes.computeUrl)}\n` +
        `allowed_label_keys = ["env", "absent"]\nallowed_metadata_keys = ["role", "empty"]\n${extra}`,
    );
  const register = (i: GcpInstance, metadata: Record<string, string> = { role: 'frontend', empty: '', secret: 's3cr3t' }): void => {
    fakes.instances.set(`${i.projectId}/${i.zone}/${i.instanceName}`, computeInstance(i, { tags: ['web', 'prod'], labels: { team: 'core', env: 'prod' }, metadata }));
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gcp-iit-md-'));
    keyFile = join(dir, 'key.json');
    writeFileSync(keyFile, fakes.serviceAccount.keyFile(fakes.tokenUri));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("adds SPIRE's tag, allowed label and allowed metadata selectors, with one OAuth token for many calls", async () => {
    await p.configure(md());
    const tokensBefore = fakes.counts.get('token') ?? 0;
    for (let n = 0; n < 2; n++) {
      const i = instance();
      register(i);
      expect((await attest(p, token(i))).selector_values).toEqual([
        `project-id:${i.projectId}`,
        `zone:${i.zone}`,
        `instance-name:${i.instanceName}`,
        `sa:${i.email}`,
        'tag:web',
        'tag:prod',
        'label:env:prod',
        'metadata:role:frontend',
        'metadata:empty:',
      ]);
    }
    expect((fakes.counts.get('token') ?? 0) - tokensBefore).toBe(1);
  });

  it('refuses a metadata value over max_metadata_value_size with INTERNAL, as SPIRE', async () => {
    await p.configure(md('max_metadata_value_size = 4'));
    const i = instance();
    register(i);
    const err = await rejection(attest(p, token(i)));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toBe('metadata "role" exceeded value limit (8 > 4)');
  });

  it('an instance the Compute API does not know, or a key the token endpoint refuses, fails with the API\'s reason', async () => {
    await p.configure(md());
    const missing = await rejection(attest(p, token(instance({ instanceName: 'not-in-compute' }))));
    expect(missing.code).toBe(Status.INTERNAL);
    expect(missing.details).toMatch(/^failed to fetch instance metadata: .*HTTP 404: The resource 'projects\/.*\/instances\/.*' was not found$/);

    const forged = join(dir, 'forged.json');
    writeFileSync(forged, makeServiceAccount(fakes.serviceAccount.email).keyFile(fakes.tokenUri));
    await p.configure(md().replace(JSON.stringify(keyFile), JSON.stringify(forged)));
    const i = instance();
    register(i);
    const refused = await rejection(attest(p, token(i)));
    expect(refused.code).toBe(Status.INTERNAL);
    expect(refused.details).toMatch(/failed to get an access token: .*\/token: HTTP 400: invalid_grant: Invalid JWT Signature\./);
  });

  it('without service_account_file uses the metadata server token of the VM (Application Default Credentials)', async () => {
    const adc = await servePluginInProcess(gcpIitServerPlugin({ attested: () => Promise.resolve(false), env: { GCE_METADATA_HOST: fakes.metadataHost } }));
    try {
      await adc.configure(md().replace(`service_account_file = ${JSON.stringify(keyFile)}\n`, ''));
      const i = instance();
      register(i);
      const before = fakes.counts.get('metadata-token') ?? 0;
      expect((await attest(adc, token(i))).selector_values).toContain('metadata:role:frontend');
      expect(fakes.counts.get('metadata-token')).toBe(before + 1);
    } finally {
      await adc.close();
    }
  });
});
