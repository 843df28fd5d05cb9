import { PluginError, parseDuration, s } from '@spire-ts/plugin-sdk';

export const DEFAULT_MAX_POLL_ATTEMPTS = 60;
export const DEFAULT_POLL_RETRY_INTERVAL_MS = 500;
export const DEFAULT_SECURE_KUBELET_PORT = 10250;
export const DEFAULT_KUBELET_CA_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt';
export const DEFAULT_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';
export const DEFAULT_NODE_NAME_ENV = 'MY_NODE_NAME';
export const DEFAULT_RELOAD_INTERVAL_MS = 60_000;
/** SPIRE's fixed kubelet request timeout (here the default of `kubelet_request_timeout`). */
export const DEFAULT_KUBELET_REQUEST_TIMEOUT_MS = 10_000;
/** Largest `/pods` answer accepted (spire-ts bound; a node's 110 pods take a few MiB). */
export const DEFAULT_MAX_POD_LIST_BYTES = 32 * 1024 * 1024;

export const configSchema = s.object({
  kubelet_read_only_port: s.int({ default: 0 }),
  kubelet_secure_port: s.int({ default: 0 }),
  max_poll_attempts: s.int({ default: 0 }),
  poll_retry_interval: s.string({ default: '' }),
  kubelet_ca_path: s.string({ default: '' }),
  skip_kubelet_verification: s.bool({ default: false }),
  token_path: s.string({ default: '' }),
  certificate_path: s.string({ default: '' }),
  private_key_path: s.string({ default: '' }),
  use_anonymous_authentication: s.bool({ default: false }),
  node_name_env: s.string({ default: '' }),
  node_name: s.string({ default: '' }),
  reload_interval: s.string({ default: '' }),
  disable_container_selectors: s.bool({ default: false }),
  use_new_container_locator: s.bool(),
  verbose_container_locator_logs: s.bool({ default: false }),
  // spire-ts extensions (not in SPIRE):
  kubelet_host: s.string({ default: '' }),
  kubelet_request_timeout: s.string({ default: '' }),
});

/** `plugin_data` as written (SPIRE's keys plus the spire-ts extensions `kubelet_host` and `kubelet_request_timeout`). */
export interface K8sHclConfig {
  kubelet_read_only_port: number;
  kubelet_secure_port: number;
  max_poll_attempts: number;
  poll_retry_interval: string;
  kubelet_ca_path: string;
  skip_kubelet_verification: boolean;
  token_path: string;
  certificate_path: string;
  private_key_path: string;
  use_anonymous_authentication: boolean;
  node_name_env: string;
  node_name: string;
  reload_interval: string;
  disable_container_selectors: boolean;
  use_new_container_locator?: boolean | undefined;
  verbose_container_locator_logs: boolean;
  kubelet_host: string;
  kubelet_request_timeout: string;
}

/** How to reach and authenticate to the kubelet. */
export interface KubeletConfig {
  secure: boolean;
  port: number;
  /** Address connected to: `kubelet_host`, else the node name (secure port), else 127.0.0.1. */
  host: string;
  /** Node name the serving certificate is checked against; empty: chain only (SPIRE's behaviour without a node name). */
  nodeName: string;
  skipVerification: boolean;
  caPath: string;
  tokenPath: string;
  certificatePath: string;
  privateKeyPath: string;
  anonymous: boolean;
  reloadIntervalMs: number;
  requestTimeoutMs: number;
  maxResponseBytes: number;
}

export interface K8sConfig {
  maxPollAttempts: number;
  pollRetryIntervalMs: number;
  disableContainerSelectors: boolean;
  useNewContainerLocator: boolean;
  verboseContainerLocatorLogs: boolean;
  kubelet: KubeletConfig;
}

/** A Go duration; empty or non-positive = `fallback`. */
function durationOr(text: string, what: string, fallback: number): number {
  if (text === '') return fallback;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    throw PluginError.invalidArgument(`unable to parse ${what}: ${(err as Error).message}`);
  }
  return ms > 0 ? ms : fallback;
}

function port(n: number, key: string): number {
  if (n > 65535) throw PluginError.invalidArgument(`${key} ${n} is not a TCP port (1-65535)`);
  return n > 0 ? n : 0;
}

/**
 * Distils `plugin_data` as SPIRE does: secure port 10250 unless a port is
 * given; both ports is an error; non-positive poll settings take their
 * defaults; node name from `node_name`, else `$<node_name_env>`, else
 * `$MY_NODE_NAME`. File checks (CA, token, key pair) happen when the
 * kubelet client is built.
 */
export function distilConfig(c: K8sHclConfig, env: NodeJS.ProcessEnv, maxResponseBytes = DEFAULT_MAX_POD_LIST_BYTES): K8sConfig {
  const ro = port(c.kubelet_read_only_port, 'kubelet_read_only_port');
  const sec = port(c.kubelet_secure_port, 'kubelet_secure_port');
  if (ro > 0 && sec > 0) throw PluginError.invalidArgument('cannot use both the read-only and secure port');
  const secure = ro === 0;
  const kubeletPort = secure ? sec || DEFAULT_SECURE_KUBELET_PORT : ro;

  const pollRetryIntervalMs = durationOr(c.poll_retry_interval, 'poll retry interval', DEFAULT_POLL_RETRY_INTERVAL_MS);
  const reloadIntervalMs = durationOr(c.reload_interval, 'reload interval', DEFAULT_RELOAD_INTERVAL_MS);
  const requestTimeoutMs = durationOr(c.kubelet_request_timeout, 'kubelet request timeout', DEFAULT_KUBELET_REQUEST_TIMEOUT_MS);
  const maxPollAttempts = c.max_poll_attempts > 0 ? c.max_poll_attempts : DEFAULT_MAX_POLL_ATTEMPTS;

  const nodeName = c.node_name !== '' ? c.node_name : (env[c.node_name_env !== '' ? c.node_name_env : DEFAULT_NODE_NAME_ENV] ?? '');
  if (/[\s/@?#]/.test(nodeName)) throw PluginError.invalidArgument(`node name ${JSON.stringify(nodeName)} is not a valid host name`);
  if (c.kubelet_host !== '' && /[\s/@?#]/.test(c.kubelet_host)) {
    throw PluginError.invalidArgument(`kubelet_host ${JSON.stringify(c.kubelet_host)} is not a valid host name or address`);
  }
  if (secure && !c.use_anonymous_authentication) {
    if (c.certificate_path !== '' && c.private_key_path === '') throw PluginError.invalidArgument('the private key path is required with the certificate path');
    if (c.private_key_path !== '' && c.certificate_path === '') throw PluginError.invalidArgument('the certificate path is required with the private key path');
  }

  const host = c.kubelet_host !== '' ? c.kubelet_host : secure && nodeName !== '' ? nodeName : '127.0.0.1';
  return {
    maxPollAttempts,
    pollRetryIntervalMs,
    disableContainerSelectors: c.disable_container_selectors,
    useNewContainerLocator: c.use_new_container_locator ?? true,
    verboseContainerLocatorLogs: c.verbose_container_locator_logs,
    kubelet: {
      secure,
      port: kubeletPort,
      host,
      nodeName: secure ? nodeName : '',
      skipVerification: c.skip_kubelet_verification,
      caPath: c.kubelet_ca_path !== '' ? c.kubelet_ca_path : DEFAULT_KUBELET_CA_PATH,
      tokenPath: c.token_path !== '' ? c.token_path : DEFAULT_TOKEN_PATH,
      certificatePath: c.certificate_path,
      privateKeyPath: c.private_key_path,
      anonymous: c.use_anonymous_authentication,
      reloadIntervalMs,
      requestTimeoutMs,
      maxResponseBytes,
    },
  };
}
