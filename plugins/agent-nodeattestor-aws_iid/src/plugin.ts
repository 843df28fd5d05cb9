/**
 * The agent NodeAttestor `aws_iid`: reads the instance identity document and
 * its two signatures (`signature`, RSA-SHA256 for older servers, and
 * `rsa2048`, PKCS#7) from IMDSv2 and sends them as SPIRE's
 * `IIDAttestationData` JSON payload. The server asks no challenge.
 * `plugin_data`: SPIRE's `ec2_metadata_endpoint`.
 */
import {
  PluginError,
  s,
  schemaConfig,
  type BuiltConfig,
  type Logger,
  type PluginDefinition,
  type ServiceImpl,
} from '@spire-ts/plugin-sdk';
import { runAidAttestation } from '@spire-ts/nodeattestor-kit';
import { ImdsClient, ImdsError } from './imds.js';

export const NODE_ATTESTOR_SERVICE = 'spire.plugin.agent.nodeattestor.v1.NodeAttestor';

const configSchema = s.object({
  ec2_metadata_endpoint: s.string({
    default: '',
    check: (v) => {
      if (v === '') return undefined;
      try {
        const u = new URL(v);
        return u.protocol === 'http:' || u.protocol === 'https:' ? undefined : 'must be an http(s) URL';
      } catch {
        return 'must be an http(s) URL';
      }
    },
  }),
});

export interface AwsIidAgentConfig {
  ec2_metadata_endpoint: string;
}

/** SPIRE's `IIDAttestationData` (field order as SPIRE's JSON). */
export interface IIDAttestationData {
  document: string;
  signature: string;
  rsa2048: string;
}

const DOC_PATH = 'instance-identity/document';
const SIG_PATH = 'instance-identity/signature';
const SIG_RSA2048_PATH = 'instance-identity/rsa2048';

type Impl = ServiceImpl<typeof NODE_ATTESTOR_SERVICE>;
type AidCall = Parameters<NonNullable<Impl['AidAttestation']>>[0];

/** Reads the attestation data from IMDSv2 at `endpoint` (default the link-local address). */
export async function fetchAttestationData(endpoint: string): Promise<IIDAttestationData> {
  const client = new ImdsClient(endpoint);
  const token = await client.token();
  const document = await client.dynamic(DOC_PATH, token);
  const signature = await client.dynamic(SIG_PATH, token);
  const rsa2048 = await client.dynamic(SIG_RSA2048_PATH, token);
  return { document, signature, rsa2048 };
}

export function awsIidAgentPlugin(opts: { log?: Logger } = {}): PluginDefinition<typeof NODE_ATTESTOR_SERVICE, BuiltConfig<AwsIidAgentConfig>> {
  let config: AwsIidAgentConfig | undefined;
  const impl: Impl = {
    AidAttestation: (call: AidCall) => {
      runAidAttestation(
        call,
        async () => {
          if (!config) throw PluginError.failedPrecondition('not configured');
          let data: IIDAttestationData;
          try {
            data = await fetchAttestationData(config.ec2_metadata_endpoint);
          } catch (err) {
            if (err instanceof ImdsError) throw PluginError.internal(err.message, err);
            throw err;
          }
          call.write({ payload: Buffer.from(JSON.stringify(data), 'utf8') });
          call.end();
        },
        (err) => opts.log?.error('aws_iid attestation data unavailable', { error: (err as Error).message }),
      );
    },
  };
  return {
    service: NODE_ATTESTOR_SERVICE,
    impl,
    config: schemaConfig(configSchema, {
      apply: ({ value }) => {
        config = { ...value };
      },
    }),
  };
}
