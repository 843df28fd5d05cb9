/**
 * The server NodeAttestor `tpm_devid` (SPIRE's
 * pkg/server/plugin/nodeattestor/tpmdevid): the agent proves it holds a
 * DevID key that lives in a genuine TPM (DevID certificate chained to
 * `devid_ca_path`, EK certificate chained to `endorsement_ca_path`, and
 * both challenges answered by that TPM). Answers the agent ID
 * `spiffe://<td>/spire/agent/tpm_devid/<sha1 fingerprint of the DevID
 * certificate>` and the selectors `subject:cn:`, `issuer:cn:`,
 * `ca:fingerprint:`. Agents may re-attest.
 */
import { messageReader } from '@spire-ts/common';
import { answerSingleChallenge } from '@spire-ts/nodeattestor-kit';
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
import { buildTpmDevIdConfig, configSchema, type RawConfig, type TpmDevIdConfig } from './config.js';

export const NODE_ATTESTOR_SERVICE = 'spire.plugin.server.nodeattestor.v1.NodeAttestor';

type Impl = ServiceImpl<typeof NODE_ATTESTOR_SERVICE>;
type Request = serverNodeAttestorV1.AttestRequest__Output;

export function tpmDevIdServerPlugin(opts: { log?: Logger } = {}): PluginDefinition<typeof NODE_ATTESTOR_SERVICE, BuiltConfig<RawConfig>> {
  let config: TpmDevIdConfig | undefined;
  let checked: { value: RawConfig; config: TpmDevIdConfig } | undefined;
  const impl: Impl = {
    Attest: (call) => {
      const c = config;
      answerSingleChallenge(
        call,
        messageReader<Request>(call),
        c && {
          begin: (payload) => {
            const pending = verifyPayload(c, payload);
            return { state: pending, challenge: pending.challenge };
          },
          finish: (pending, response) => {
            checkResponse(pending, response);
            return agentAttributes(c, pending);
          },
        },
        {
          canReattest: true,
          onError: (err) => {
            if (!(err instanceof PluginError)) opts.log?.error('tpm_devid attestation failed', { error: (err as Error).message });
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
        checked = { value, config: buildTpmDevIdConfig(value, input.trustDomain) };
      },
      // Configure runs check then apply on the same value: the files are read once.
      apply: ({ value, trustDomain }) => {
        config = checked?.value === value ? checked.config : buildTpmDevIdConfig(value, trustDomain);
        checked = undefined;
      },
    }),
  };
}
