// The kubeconfig reader: the current context's server, CA, credentials,
// relative file references, and precise refusals.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KubeConfigError, inClusterConfig, loadKubeConfig } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

function config(cluster: string, user: string, extra = ''): string {
  return `apiVersion: v1
kind: Config
current-context: ctx-b
contexts:
- name: ctx-a
  context: {cluster: other, user: other}
- name: ctx-b
  context:
    cluster: prod
    user: admin
clusters:
- name: other
  cluster: {server: "https://wrong:1"}
- name: prod
  cluster:
${cluster}
users:
- name: other
  user: {token: wrong}
- name: admin
  user:
${user}
${extra}`;
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KubeConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a KubeConfigError');
}

describe('loadKubeConfig', () => {
  it('uses the current context: server, inline CA and bearer token', async () => {
    const path = write('inline.yaml', config(`    server: https://10.0.0.1:6443/\n    certificate-authority-data: ${b64(CA)}\n    tls-server-name: kubernetes`, '    token: s3cret'));
    const c = await loadKubeConfig(path);
    expect(c.server).toBe('https://10.0.0.1:6443');
    expect(c.ca?.toString()).toBe(CA);
    expect(c.bearerToken).toBe('s3cret');
    expect(c.tlsServerName).toBe('kubernetes');
    expect(c.insecureSkipTlsVerify).toBe(false);
    expect(c.clientCert).toBeUndefined();
  });

  it('reads CA, token and client certificate files relative to the kubeconfig', async () => {
    mkdirSync(join(dir, 'sub', 'pki'), { recursive: true });
    writeFileSync(join(dir, 'sub', 'pki', 'ca.crt'), CA);
    writeFileSync(join(dir, 'sub', 'pki', 'token'), 'from-file\n');
    writeFileSync(join(dir, 'sub', 'pki', 'client.crt'), 'CERT');
    writeFileSync(join(dir, 'sub', 'pki', 'client.key'), 'KEY');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    const path = write(
      join('sub', 'files.yaml'),
      config('    server: https://api.example:443\n    certificate-authority: pki/ca.crt', '    tokenFile: pki/token\n    client-certificate: pki/client.crt\n    client-key: pki/client.key'),
    );
    const c = await loadKubeConfig(path);
    expect(c.ca?.toString()).toBe(CA);
    expect(c.bearerToken).toBe('from-file');
    expect(c.clientCert?.toString()).toBe('CERT');
    expect(c.clientKey?.toString()).toBe('KEY');
  });

  it('accepts inline client certificates and insecure-skip-tls-verify', async () => {
    const path = write('cert.yaml', config('    server: https://api:6443\n    insecure-skip-tls-verify: true', `    client-certificate-data: ${b64('C')}\n    client-key-data: ${b64('K')}`));
    const c = await loadKubeConfig(path);
    expect(c.insecureSkipTlsVerify).toBe(true);
    expect(c.clientCert?.toString()).toBe('C');
    expect(c.clientKey?.toString()).toBe('K');
    expect(c.bearerToken).toBeUndefined();
  });

  it('refuses what it cannot use, naming the file and the problem', async () => {
    expect(await failure(loadKubeConfig(join(dir, 'absent.yaml')))).toMatch(/cannot read kubeconfig file ".*absent.yaml": no such file/);
    expect(await failure(loadKubeConfig(write('bad.yaml', 'clusters: [\n')))).toMatch(/is not valid YAML/);
    expect(await failure(loadKubeConfig(write('scalar.yaml', 'hello')))).toMatch(/is not a kubeconfig/);
    expect(await failure(loadKubeConfig(write('noctx.yaml', 'apiVersion: v1\nclusters: []\n')))).toMatch(/has no current-context/);
    expect(await failure(loadKubeConfig(write('nosrv.yaml', config('    certificate-authority-data: ""', '    token: t'))))).toMatch(/cluster "prod" has no server/);
    expect(await failure(loadKubeConfig(write('ftp.yaml', config('    server: ftp://x', '    token: t'))))).toMatch(/must be an http\(s\) URL/);
    expect(await failure(loadKubeConfig(write('b64.yaml', config('    server: https://x\n    certificate-authority-data: "!!notbase64"', '    token: t'))))).toMatch(
      /"certificate-authority-data" is not base64/,
    );
    expect(await failure(loadKubeConfig(write('exec.yaml', config('    server: https://x', '    exec:\n      command: aws'))))).toMatch(
      /exec or auth-provider credential plugin, which is not supported/,
    );
    expect(await failure(loadKubeConfig(write('halfcert.yaml', config('    server: https://x', `    client-certificate-data: ${b64('C')}`))))).toMatch(
      /needs both the certificate and its key/,
    );
    expect(await failure(loadKubeConfig(write('cafile.yaml', config('    server: https://x\n    certificate-authority: missing.crt', '    token: t'))))).toMatch(
      /certificate-authority ".*missing.crt": no such file/,
    );
    const unknownCtx = config('    server: https://x', '    token: t').replace('current-context: ctx-b', 'current-context: ctx-z');
    expect(await failure(loadKubeConfig(write('ctxz.yaml', unknownCtx)))).toMatch(/no context named "ctx-z" in "contexts"/);
  });
});

describe('inClusterConfig', () => {
  it('needs the service environment variables', async () => {
    expect(await failure(inClusterConfig({}, dir))).toMatch(/KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined .*kube_config_file/);
  });

  it('reads the pod service account token and CA', async () => {
    const sa = join(dir, 'sa');
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), 'pod-token\n');
    writeFileSync(join(sa, 'ca.crt'), CA);
    const c = await inClusterConfig({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, sa);
    expect(c).toMatchObject({ server: 'https://[fd00::1]:443', bearerToken: 'pod-token', insecureSkipTlsVerify: false });
    expect(c.ca?.toString()).toBe(CA);
  });
});
