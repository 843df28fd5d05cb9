/**
 * The server NodeAttestor `x509pop` (SPIRE's
 * pkg/server/plugin/nodeattestor/x509pop): the agent sends its certificate
 * chain; once the chain verifies against the configured CA bundle, the
 * plugin challenges the agent to sign a fresh nonce with the leaf's key and
 * answers the agent ID (by default `spiffe://<td>/spire/agent/x509pop/<sha1
 * fingerprint of the leaf>`) and selectors (`subject:cn:`,
 * `ca:fingerprint:`, `serialnumber:`, `san:<key>:<value>`). Agents may
 * re-attest (a node keeps its certificate).
 */
import { messageReader } from '@spire-ts/common';
import { answerSingleChallenge, type ServerAttestCall } from '@spire-ts/nodeattestor-kit';
import {
  PluginError,
  schemaConfig,
  type BuiltConfig,
  type Logger,
  type PluginDefinition,
  type ServiceImpl,
} from '@spire-ts/plugin-sdk';
import type { serverNodeAttestorV1 } from '@spire-ts/proto';
import { agentAttributes, checkResponse, verifyPayload } from './attest.js';
import { buildX509PopConfig, configSchema, type RawConfig, type X509PopConfig } from './config.js';
import { encodeChallenge } from './pop.js';

export const NODE_ATTESTOR_SERVICE = 'spire.plugin.server.nodeattestor.v1.NodeAttestor';
/** SPIRE's metadata key for the attesting agent's address, set by the server. */
export const CLIENT_IP_METADATA = 'x-forwarded-client-ip';

type Impl = ServiceImpl<typeof NODE_ATTESTOR_SERVICE>;
type Request = serverNodeAttestorV1.AttestRequest__Output;

function clientIpOf(call: ServerAttestCall): string | undefined {
  const v = call.metadata.get(CLIENT_IP_METADATA)[0];
  return typeof v === 'string' ? v : v === undefined ? undefined : Buffer.from(v).toString('utf8');
}

export function x509PopServerPlugin(opts: { log?: Logger } = {}): PluginDefinition<typeof NODE_ATTESTOR_SERVICE, BuiltConfig<RawConfig>> {
  let config: X509PopConfig | undefined;
  let checked: { value: RawConfig; config: X509PopConfig } | undefined;
  const impl: Impl = {
    Attest: (call) => {
      const c = config;
      answerSingleChallenge(
        call,
        messageReader<Request>(call),
        c && {
          begin: (payload) => {
            const verified = verifyPayload(c, payload, clientIpOf(call));
            return { state: verified, challenge: encodeChallenge(verified.challenge) };
          },
          finish: (verified, response) => {
            checkResponse(verified, response);
            return agentAttributes(c, verified);
          },
        },
        {
          canReattest: true,
          onError: (err) => {
            if (!(err instanceof PluginError)) opts.log?.error('x509pop attestation failed', { error: (err as Error).message });
          },
        },
      );
    },
  };
  return {
    service: NODE_ATTESTOR_SERVICE,
    impl,
    config: schemaConfig(configSchema, {
      requireTrustDomain: true,
      // The files are read on Validate too, so \`spire-server validate\` reports what Configure would refuse.
      check: (value, input) => {
        checked = { value, config: buildX509PopConfig(value, input.trustDomain) };
      },
      // Configure runs check then apply on the same value: the files are read once.
      apply: ({ value, trustDomain }) => {
        config = checked?.value === value ? checked.config : buildX509PopConfig(value, trustDomain);
        checked = undefined;
      },
    }),
  };
}
