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
import {
  PluginError,
  schemaConfig,
  toServiceError,
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
type AttestCall = Parameters<NonNullable<Impl['Attest']>>[0];
type Request = serverNodeAttestorV1.AttestRequest__Output;

async function attest(config: TpmDevIdConfig | undefined, call: AttestCall): Promise<void> {
  const reader = messageReader<Request>(call);
  try {
    const first = await reader.next();
    if (!first) return; // the host gave up before sending anything
    if (!config) throw PluginError.failedPrecondition('not configured');
    if (first.request !== 'payload' || !first.payload || first.payload.length === 0) throw PluginError.invalidArgument('missing attestation payload');
    const pending = verifyPayload(config, first.payload);
    call.write({ challenge: pending.challenge });
    const answer = await reader.next();
    if (!answer) return;
    checkResponse(pending, answer.request === 'challenge_response' ? (answer.challenge_response ?? undefined) : undefined);
    const attrs = agentAttributes(config, pending);
    call.write({ agent_attributes: { spiffe_id: attrs.spiffeId, selector_values: attrs.selectorValues, can_reattest: true } });
    call.end();
  } finally {
    reader.close();
  }
}

export function tpmDevIdServerPlugin(opts: { log?: Logger } = {}): PluginDefinition<typeof NODE_ATTESTOR_SERVICE, BuiltConfig<RawConfig>> {
  let config: TpmDevIdConfig | undefined;
  const impl: Impl = {
    Attest: (call: AttestCall) => {
      attest(config, call).catch((err: unknown) => {
        if (!(err instanceof PluginError)) opts.log?.error('tpm_devid attestation failed', { error: (err as Error).message });
        call.emit('error', toServiceError(err));
      });
    },
  };
  return {
    service: NODE_ATTESTOR_SERVICE,
    impl,
    config: schemaConfig(configSchema, {
      requireTrustDomain: true,
      apply: ({ value, trustDomain }) => {
        config = buildTpmDevIdConfig(value, trustDomain);
      },
    }),
  };
}
