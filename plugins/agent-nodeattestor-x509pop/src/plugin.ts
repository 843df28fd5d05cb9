/**
 * The agent NodeAttestor `x509pop` (SPIRE's pkg/agent/plugin/nodeattestor/x509pop):
 * sends the node's certificate chain, then answers the server's challenge
 * with a signature proving it holds the identity certificate's private key.
 * `spiffe_endpoint_socket` (fetching the identity from a Workload API) is
 * not supported yet and is refused at configuration.
 */
import {
  PluginError,
  s,
  schemaConfig,
  type BuiltConfig,
  type Infer,
  type Logger,
  type PluginDefinition,
  type ServiceImpl,
} from '@spire-ts/plugin-sdk';
import { nextChallenge, runAidAttestation } from '@spire-ts/nodeattestor-kit';
import { loadKeyPair } from './keypair.js';
import { attestationPayload, calculateResponse, parseChallenge } from './pop.js';

export const NODE_ATTESTOR_SERVICE = 'spire.plugin.agent.nodeattestor.v1.NodeAttestor';

type Impl = ServiceImpl<typeof NODE_ATTESTOR_SERVICE>;
type AidCall = Parameters<NonNullable<Impl['AidAttestation']>>[0];

export const configSchema = s.object({
  private_key_path: s.string({ default: '' }),
  certificate_path: s.string({ default: '' }),
  intermediates_path: s.string({ default: '' }),
  spiffe_endpoint_socket: s.string({ default: '' }),
});
export type X509PopAgentConfig = Infer<typeof configSchema>;

function checkConfig(c: X509PopAgentConfig): void {
  if (c.spiffe_endpoint_socket !== '') {
    throw PluginError.invalidArgument('spiffe_endpoint_socket is not supported by this x509pop plugin: set private_key_path and certificate_path');
  }
  if (c.private_key_path === '') throw PluginError.invalidArgument('private_key_path is required');
  if (c.certificate_path === '') throw PluginError.invalidArgument('certificate_path is required');
}

async function keyPair(c: X509PopAgentConfig) {
  try {
    return await loadKeyPair({ certificatePath: c.certificate_path, privateKeyPath: c.private_key_path, intermediatesPath: c.intermediates_path });
  } catch (err) {
    throw PluginError.invalidArgument(`unable to load keypair: ${(err as Error).message}`);
  }
}

export function x509PopAgentPlugin(opts: { log?: Logger } = {}): PluginDefinition<typeof NODE_ATTESTOR_SERVICE, BuiltConfig<X509PopAgentConfig>> {
  let config: X509PopAgentConfig | undefined;
  const impl: Impl = {
    AidAttestation: (call: AidCall) => {
      runAidAttestation(
        call,
        async () => {
          if (!config) throw PluginError.failedPrecondition('not configured');
          const { key, chain } = await keyPair(config);
          const challenge = nextChallenge(call, () => PluginError.internal('the stream ended before the server challenge'));
          call.write({ payload: attestationPayload(chain) });
          let parsed;
          try {
            parsed = parseChallenge(await challenge);
          } catch (err) {
            if (err instanceof PluginError) throw err;
            throw PluginError.internal(`unable to unmarshal challenge: ${(err as Error).message}`);
          }
          let response;
          try {
            response = calculateResponse(key, parsed);
          } catch (err) {
            throw PluginError.internal(`failed to calculate challenge response: ${(err as Error).message}`);
          }
          call.write({ challenge_response: Buffer.from(JSON.stringify(response), 'utf8') });
          call.end();
        },
        (err) => opts.log?.error('x509pop attestation failed', { error: (err as Error).message }),
      );
    },
  };
  return {
    service: NODE_ATTESTOR_SERVICE,
    impl,
    config: schemaConfig(configSchema, {
      check: checkConfig,
      apply: async ({ value }) => {
        await keyPair(value);
        config = { ...value };
      },
    }),
  };
}
