import { open } from 'node:fs/promises';
import {
  PluginError,
  Status,
  s,
  schemaConfig,
  type BuiltConfig,
  type Logger,
  type PluginDefinition,
  type ServiceImpl,
} from '@spire-ts/plugin-sdk';

export const AGENT_NODE_ATTESTOR_SERVICE = 'spire.plugin.agent.nodeattestor.v1.NodeAttestor';

/** Where Kubernetes projects the token in SPIRE's sample manifests (SPIRE's default). */
export const DEFAULT_TOKEN_PATH = '/var/run/secrets/tokens/spire-agent';

/**
 * The largest token file read. Projected tokens are a few KiB; the server
 * side refuses payloads above 64 KiB, so a bigger file is a mistake
 * (wrong path) better reported here.
 */
export const MAX_TOKEN_BYTES = 60 * 1024;

const configSchema = s.object({
  cluster: s.string({ required: true, nonEmpty: true }),
  token_path: s.string({ default: '' }),
});

/** The `plugin_data` of the agent `k8s_psat` NodeAttestor (SPIRE's keys). */
export interface K8sPsatAgentConfig {
  /** Name of the cluster; must be one of the server plugin's `clusters`. */
  cluster: string;
  /** Path of the projected service account token; empty = {@link DEFAULT_TOKEN_PATH}. */
  token_path: string;
}

export interface K8sPsatAgentOptions {
  log?: Logger;
}

type Call = Parameters<NonNullable<ServiceImpl<typeof AGENT_NODE_ATTESTOR_SERVICE>['AidAttestation']>>[0];

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.code === 'ENOENT') return 'no such file (is the projected token volume mounted?)';
  if (e?.code === 'EACCES') return 'permission denied';
  if (e?.code === 'EISDIR') return 'is a directory';
  return err instanceof Error ? err.message : String(err);
}

/** Reads the token file: at most {@link MAX_TOKEN_BYTES}, trailing whitespace dropped. */
async function readToken(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(MAX_TOKEN_BYTES + 1);
    let len = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, len, buf.length - len, null);
      if (bytesRead === 0) break;
      len += bytesRead;
      if (len > MAX_TOKEN_BYTES) throw new Error(`file is larger than ${MAX_TOKEN_BYTES} bytes; it is not a service account token`);
    }
    const token = buf.subarray(0, len).toString('utf8').trimEnd();
    if (token === '') throw new Error(`${JSON.stringify(path)} is empty`);
    return token;
  } finally {
    await fh.close();
  }
}

/**
 * The agent side of `k8s_psat`: sends SPIRE's payload, the JSON
 * `{"cluster": <cluster>, "token": <projected service account token>}`.
 * The server does not challenge: the TokenReview API vouches for the token.
 */
export class K8sPsatAgentAttestor {
  private config: K8sPsatAgentConfig | undefined;

  constructor(private readonly opts: K8sPsatAgentOptions = {}) {}

  configure(config: K8sPsatAgentConfig): void {
    this.config = { ...config };
  }

  get tokenPath(): string {
    return this.config?.token_path || DEFAULT_TOKEN_PATH;
  }

  /** The attestation payload (SPIRE's `PSATAttestationData`). */
  async payload(): Promise<Uint8Array> {
    const config = this.config;
    if (!config) throw PluginError.failedPrecondition('not configured');
    const path = this.tokenPath;
    let token: string;
    try {
      token = await readToken(path);
    } catch (err) {
      this.opts.log?.warn('cannot load the projected service account token', { path, error: reason(err) });
      throw PluginError.invalidArgument(`unable to load token from ${path}: ${reason(err)}`);
    }
    return Buffer.from(JSON.stringify({ cluster: config.cluster, token }), 'utf8');
  }

  /** The AidAttestation stream: the payload, then done (a challenge is a protocol error). */
  async aidAttestation(call: Call): Promise<void> {
    call.on('data', () => {
      call.destroy(new PluginError(Status.INVALID_ARGUMENT, 'k8s_psat does not answer challenges: the server sent one'));
    });
    const payload = await this.payload();
    call.write({ payload });
    call.end();
  }
}

/** The agent NodeAttestor `k8s_psat` (SPIRE's `plugin_data` keys `cluster` and `token_path`). */
export function k8sPsatAgentPlugin(
  opts: K8sPsatAgentOptions = {},
): PluginDefinition<typeof AGENT_NODE_ATTESTOR_SERVICE, BuiltConfig<K8sPsatAgentConfig>> {
  const attestor = new K8sPsatAgentAttestor(opts);
  return {
    service: AGENT_NODE_ATTESTOR_SERVICE,
    impl: {
      AidAttestation: (call: Call) => attestor.aidAttestation(call),
    },
    config: schemaConfig(configSchema, { apply: ({ value }) => attestor.configure(value) }),
  };
}
