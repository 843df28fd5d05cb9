/**
 * Where and how to reach a cluster's API server: a kubeconfig file's current
 * context (the subset client-go's BuildConfigFromFlags uses for server, TLS
 * and static credentials), or the in-cluster service account.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, resolve } from 'node:path';

// js-yaml ships no types; this is the one function used (its safe default schema: no custom tags).
const { load } = createRequire(import.meta.url)('js-yaml') as { load(text: string, opts?: { filename?: string }): unknown };

/** How to talk to one API server. */
export interface ApiServerConnection {
  /** Base URL, e.g. `https://10.0.0.1:6443` (any path prefix kept). */
  readonly server: string;
  /** PEM CA bundle to trust; undefined = the system's roots. */
  readonly ca?: Buffer;
  readonly insecureSkipTlsVerify: boolean;
  /** SNI / verification name override (`tls-server-name`). */
  readonly tlsServerName?: string;
  readonly bearerToken?: string;
  readonly clientCert?: Buffer;
  readonly clientKey?: Buffer;
  readonly basicAuth?: { readonly username: string; readonly password: string };
}

/** A kubeconfig problem, naming the file and what is wrong. */
export class KubeConfigError extends Error {
  override readonly name = 'KubeConfigError';
}

/** Kubernetes' in-cluster service account files. */
export const IN_CLUSTER_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

const MAX_FILE_BYTES = 4 * 1024 * 1024;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function readLimited(path: string, what: string): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KubeConfigError(`cannot read ${what} ${JSON.stringify(path)}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  if (data.length > MAX_FILE_BYTES) throw new KubeConfigError(`${what} ${JSON.stringify(path)} is larger than ${MAX_FILE_BYTES} bytes`);
  return data;
}

/** The `name`d item's inner object of a kubeconfig list (`clusters`, `users`, `contexts`). */
function named(doc: Obj, list: string, inner: string, name: string, file: string): Obj {
  const items = doc[list];
  if (items !== undefined && items !== null && !Array.isArray(items)) throw new KubeConfigError(`${file}: "${list}" must be a list`);
  for (const item of (items as unknown[] | undefined) ?? []) {
    if (isObj(item) && item.name === name) {
      const v = item[inner];
      if (v === undefined || v === null) return {};
      if (!isObj(v)) throw new KubeConfigError(`${file}: ${list} entry ${JSON.stringify(name)} has a malformed "${inner}"`);
      return v;
    }
  }
  throw new KubeConfigError(`${file}: no ${inner} named ${JSON.stringify(name)} in "${list}"`);
}

function str(o: Obj, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new KubeConfigError(`${where}: "${key}" must be a string`);
  return v;
}

function base64(o: Obj, key: string, where: string): Buffer | undefined {
  const v = str(o, key, where);
  if (v === undefined) return undefined;
  const clean = v.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) throw new KubeConfigError(`${where}: "${key}" is not base64`);
  return Buffer.from(clean, 'base64');
}

/**
 * Reads the current context of a kubeconfig file. Relative file references
 * are relative to the kubeconfig's directory (as kubectl resolves them).
 * Exec and auth-provider credential plugins are not supported: use a token,
 * a token file or a client certificate.
 */
export async function loadKubeConfig(path: string): Promise<ApiServerConnection> {
  const text = (await readLimited(path, 'kubeconfig file')).toString('utf8');
  let doc: unknown;
  try {
    doc = load(text, { filename: path });
  } catch (err) {
    throw new KubeConfigError(`kubeconfig file ${JSON.stringify(path)} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!isObj(doc)) throw new KubeConfigError(`kubeconfig file ${JSON.stringify(path)} is not a kubeconfig (expected a YAML mapping)`);
  const file = `kubeconfig ${JSON.stringify(path)}`;
  const rel = (p: string): string => (isAbsolute(p) ? p : resolve(dirname(path), p));

  const current = str(doc, 'current-context', file);
  if (!current) throw new KubeConfigError(`${file} has no current-context`);
  const context = named(doc, 'contexts', 'context', current, file);
  const clusterName = str(context, 'cluster', `${file} context ${JSON.stringify(current)}`);
  if (!clusterName) throw new KubeConfigError(`${file}: context ${JSON.stringify(current)} names no cluster`);
  const cluster = named(doc, 'clusters', 'cluster', clusterName, file);
  const cw = `${file} cluster ${JSON.stringify(clusterName)}`;
  const server = str(cluster, 'server', cw);
  if (!server) throw new KubeConfigError(`${cw} has no server`);
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new KubeConfigError(`${cw}: server ${JSON.stringify(server)} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new KubeConfigError(`${cw}: server ${JSON.stringify(server)} must be an http(s) URL`);

  let ca = base64(cluster, 'certificate-authority-data', cw);
  const caFile = str(cluster, 'certificate-authority', cw);
  if (!ca && caFile) ca = await readLimited(rel(caFile), `${cw} certificate-authority`);
  const insecure = cluster['insecure-skip-tls-verify'] === true;
  const tlsServerName = str(cluster, 'tls-server-name', cw);

  const userName = str(context, 'user', `${file} context ${JSON.stringify(current)}`);
  const user = userName ? named(doc, 'users', 'user', userName, file) : {};
  const uw = `${file} user ${JSON.stringify(userName ?? '')}`;
  if (user.exec !== undefined || user['auth-provider'] !== undefined) {
    throw new KubeConfigError(`${uw} uses an exec or auth-provider credential plugin, which is not supported: use token, tokenFile or client-certificate`);
  }
  let bearerToken = str(user, 'token', uw);
  const tokenFile = str(user, 'tokenFile', uw);
  if (!bearerToken && tokenFile) bearerToken = (await readLimited(rel(tokenFile), `${uw} tokenFile`)).toString('utf8').trim();
  let clientCert = base64(user, 'client-certificate-data', uw);
  const certFile = str(user, 'client-certificate', uw);
  if (!clientCert && certFile) clientCert = await readLimited(rel(certFile), `${uw} client-certificate`);
  let clientKey = base64(user, 'client-key-data', uw);
  const keyFile = str(user, 'client-key', uw);
  if (!clientKey && keyFile) clientKey = await readLimited(rel(keyFile), `${uw} client-key`);
  if (!clientCert !== !clientKey) throw new KubeConfigError(`${uw}: a client certificate needs both the certificate and its key`);
  const username = str(user, 'username', uw);
  const password = str(user, 'password', uw);

  return {
    server: server.replace(/\/+$/, ''),
    ...(ca ? { ca } : {}),
    insecureSkipTlsVerify: insecure,
    ...(tlsServerName ? { tlsServerName } : {}),
    ...(bearerToken ? { bearerToken } : {}),
    ...(clientCert && clientKey ? { clientCert, clientKey } : {}),
    ...(username !== undefined && password !== undefined ? { basicAuth: { username, password } } : {}),
  };
}

/**
 * client-go's in-cluster configuration: `KUBERNETES_SERVICE_HOST`/`_PORT`,
 * the pod's service account token and the cluster CA. The token is re-read
 * on each call (kubelet rotates it).
 */
export async function inClusterConfig(env: NodeJS.ProcessEnv = process.env, dir = IN_CLUSTER_DIR): Promise<ApiServerConnection> {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new KubeConfigError(
      'unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined (set kube_config_file when SPIRE server runs outside the cluster)',
    );
  }
  const token = (await readLimited(`${dir}/token`, 'in-cluster service account token')).toString('utf8').trim();
  const ca = await readLimited(`${dir}/ca.crt`, 'in-cluster CA');
  const h = host.includes(':') ? `[${host}]` : host;
  return { server: `https://${h}:${port}`, ca, insecureSkipTlsVerify: false, bearerToken: token };
}

/** The connection of a cluster: its kubeconfig file, or in-cluster when empty. */
export function loadConnection(kubeConfigFile: string): Promise<ApiServerConnection> {
  return kubeConfigFile === '' ? inClusterConfig() : loadKubeConfig(kubeConfigFile);
}
