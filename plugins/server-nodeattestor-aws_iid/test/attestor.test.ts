// The aws_iid server attestor in-process against the fixture's fakes (real
// AWS SDK clients over HTTP): configuration errors, the anti-tampering check,
// agent path templates, selectors, the account list and trust on first use.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status, buildConfigOrThrow } from '@spire-ts/plugin-sdk';
import type { AttestedLookup } from '@spire-ts/nodeattestor-kit';
import { AwsIidAttestor } from '../src/index.js';
import { configSchema } from '../src/config.js';
import { AWS_IID_INSTANCE, identityDocument, setupAwsIid, signedContent, type AwsIidFixtureEnv } from '../../../conformance/src/fixtures/aws_iid.js';

let dir: string;
let env: AwsIidFixtureEnv;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aws-iid-test-'));
  env = await setupAwsIid({ tmpDir: dir, trustDomain: 'example.org' });
});
afterAll(async () => {
  await env.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The server's AgentStore as these tests see it: agent IDs stored as attested. */
const stored = new Set<string>();
const lookup: AttestedLookup = (id) => Promise.resolve(stored.has(id));

function attestor(extra = '', processEnv: NodeJS.ProcessEnv = {}, attested: AttestedLookup | null = lookup): AwsIidAttestor {
  const a = new AwsIidAttestor({ env: processEnv, ...(attested ? { attested } : {}) });
  // `extra` may replace a key of the fixture's plugin_data.
  const key = /^\s*(\w+)\s*=/.exec(extra)?.[1];
  const base = key ? env.serverPluginData.split('\n').filter((l) => !l.startsWith(`${key} =`)).join('\n') : env.serverPluginData;
  a.configure(buildConfigOrThrow(configSchema, `${base}\n${extra}`), 'example.org');
  return a;
}

function payload(document = identityDocument()): Uint8Array {
  return Buffer.from(JSON.stringify(signedContent(document, env.signer)));
}

async function refusal(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code: number; details?: string; message: string };
    return { code: e.code, message: e.details ?? e.message };
  }
  throw new Error('expected a refusal');
}

describe('configuration', () => {
  const configure = (hcl: string, processEnv: NodeJS.ProcessEnv = {}) => () =>
    new AwsIidAttestor({ env: processEnv }).configure(buildConfigOrThrow(configSchema, hcl), 'example.org');

  it('refuses what it cannot honour, naming the key', () => {
    expect(configure('assume_role = "spire-delegate"')).toThrow(/assume_role is not supported/);
    expect(configure('validate_eks_cluster_membership = { eks_cluster_names = ["a"] }')).toThrow(/validate_eks_cluster_membership is not supported/);
    expect(configure('verify_organization = { management_account_id = "123456789012" assume_org_role = "r" }')).toThrow(/use "account_list_file"/);
    expect(configure('partition = "aws-mars"')).toThrow(/invalid partition "aws-mars"/);
    expect(configure('agent_path_template = "/{{ .Nope }}"')).toThrow(/unsupported action "{{ .Nope }}"/);
    expect(configure('aws_ca_cert_paths = { "us-west-2" = "/nonexistent.pem" }')).toThrow(/aws_ca_cert_paths\["us-west-2"\]: cannot read/);
    expect(configure('access_key_id = "AKIA"')).toThrow(/missing secret access key/);
    expect(configure('', { AWS_SECRET_ACCESS_KEY: 'x' })).toThrow(/missing access key id/);
    expect(configure('verify_organization = { account_list_file = "/nonexistent.json" }')).toThrow(/invalid "account_list_file"/);
    const bad = join(dir, 'bad-accounts.json');
    writeFileSync(bad, '["12345"]');
    expect(configure(`verify_organization = { account_list_file = ${JSON.stringify(bad)} }`)).toThrow(/entry 0 \("12345"\) is not a 12-digit/);
  });

  it('an unconfigured attestor refuses with FAILED_PRECONDITION', async () => {
    expect((await refusal(new AwsIidAttestor().attest(payload()))).code).toBe(Status.FAILED_PRECONDITION);
  });
});

describe('attestation', () => {
  it('SPIRE agent ID and selectors; the same instance is refused while the server has it (TOFU), and attests again once evicted', async () => {
    const a = attestor();
    const r = await a.attest(payload());
    stored.add(r.spiffeId);
    expect(r.spiffeId).toBe(`spiffe://example.org/spire/agent/aws_iid/123456789012/us-west-2/${AWS_IID_INSTANCE}`);
    expect(r.selectorValues).toEqual([
      'account_id:123456789012',
      'az:us-west-2b',
      'iamrole:arn:aws:iam::123456789012:role/Blog',
      'image:id:ami-5fb8c835',
      `instance:id:${AWS_IID_INSTANCE}`,
      'region:us-west-2',
      'sg:id:sg-01234567',
      'sg:name:blog-web',
      'tag:Name:blog',
      'tag:env:prod',
    ]);
    const again = await refusal(a.attest(payload()));
    expect(again).toEqual({ code: Status.PERMISSION_DENIED, message: 'attestation data has already been used to attest an agent' });
    // A restarted plugin asks the server too.
    expect(await refusal(attestor().attest(payload()))).toEqual(again);
    stored.delete(r.spiffeId); // the operator evicted the agent
    expect((await a.attest(payload())).spiffeId).toBe(r.spiffeId);
  });

  it('an answered instance stays claimed until the server has stored it', async () => {
    const a = attestor();
    await a.attest(payload()); // not stored: the server has not created the agent yet
    expect((await refusal(a.attest(payload()))).code).toBe(Status.PERMISSION_DENIED);
  });

  it('without the AgentStore host service every attestation is refused (fail closed)', async () => {
    expect(await refusal(attestor('', {}, null).attest(payload()))).toEqual({
      code: Status.INTERNAL,
      message: 'required AgentStore host service not available: aws_iid cannot check that the attestation data was not used before',
    });
  });

  it('concurrent attestations of one instance: exactly one wins', async () => {
    const a = attestor();
    const results = await Promise.allSettled([a.attest(payload()), a.attest(payload()), a.attest(payload())]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('agent_path_template with instance tags', async () => {
    const a = attestor('agent_path_template = "/{{ .PluginName }}/{{ .Tags.env }}/{{ index .Tags \\"Name\\" }}/{{ .InstanceID }}"');
    expect((await a.attest(payload())).spiffeId).toBe(`spiffe://example.org/spire/agent/aws_iid/prod/blog/${AWS_IID_INSTANCE}`);
    const missing = attestor('agent_path_template = "/{{ .Tags.team }}"');
    expect(await refusal(missing.attest(payload()))).toEqual({ code: Status.INTERNAL, message: 'failed to create spiffe ID: the instance has no tag "team"' });
  });

  it('disable_instance_profile_selectors: no IAM call and no iamrole selector', async () => {
    const before = env.fakes.counts.get('iam:GetInstanceProfile') ?? 0;
    const r = await attestor('disable_instance_profile_selectors = true').attest(payload());
    expect(r.selectorValues.some((v) => v.startsWith('iamrole:'))).toBe(false);
    expect(env.fakes.counts.get('iam:GetInstanceProfile') ?? 0).toBe(before);
  });

  it('a root volume attached long after boot is refused unless skipped or the account is trusted locally', async () => {
    const inst = env.fakes.instances.get(AWS_IID_INSTANCE)!;
    const saved = inst.rootAttachTime;
    inst.rootAttachTime = new Date(inst.eni0AttachTime.getTime() + 600_000);
    try {
      expect(await refusal(attestor().attest(payload()))).toEqual({
        code: Status.INTERNAL,
        message: 'failed aws ec2 attestation: failed checking the disparity device attach times, root BlockDeviceMapping and NetworkInterface[0] attach times differ by 600 seconds',
      });
      await attestor('skip_block_device = true').attest(payload());
      await attestor('account_ids_for_local_validation = ["123456789012"]').attest(payload());
    } finally {
      inst.rootAttachTime = saved;
    }
  });

  it('an instance EC2 does not know, and wrong AWS credentials, are INTERNAL errors naming the cause', async () => {
    const unknown = identityDocument({ instanceId: 'i-0aaaaaaaaaaaaaaa1' });
    const r = await refusal(attestor().attest(payload(unknown)));
    expect(r.code).toBe(Status.INTERNAL);
    expect(r.message).toMatch(/failed to describe instance i-0aaaaaaaaaaaaaaa1 in us-west-2: .*does not exist/);
    const creds = await refusal(attestor('access_key_id = "AKIAWRONGWRONGWRONG1"').attest(payload()));
    expect(creds.code).toBe(Status.INTERNAL);
    expect(creds.message).toMatch(/AuthFailure|validate the provided access credentials/);
  });

  it('a malformed document field is refused even when signed', async () => {
    const r = await refusal(attestor().attest(payload(identityDocument({ accountId: '12x' }))));
    expect(r).toEqual({ code: Status.INVALID_ARGUMENT, message: 'instance identity document has a malformed "accountId": "12x"' });
  });

  it('the account list file is re-read after its TTL and fails closed', async () => {
    const file = join(dir, 'accounts.json');
    writeFileSync(file, '["123456789012"]');
    const a = attestor(`verify_organization = { account_list_file = ${JSON.stringify(file)} org_account_map_ttl = "1m" }`);
    await a.attest(payload());
    const cfg = (a as unknown as { config: { orgAccounts: { loadedAt: number } } }).config;
    writeFileSync(file, 'not json');
    cfg.orgAccounts.loadedAt -= 120_000;
    const r = await refusal(a.attest(payload()));
    expect(r.code).toBe(Status.INTERNAL);
    expect(r.message).toMatch(/organization account list is unavailable: .* is not JSON/);
  });
});
