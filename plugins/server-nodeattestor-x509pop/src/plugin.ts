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
import { buildX509PopConfig, configSchema, type RawConfig, type X509PopConfig } from './config.js';
import { encodeChallenge } from './pop.js';

export const NODE_ATTESTOR_SERVICE = 'spire.plugin.server.nodeattestor.v1.NodeAttestor';
/** SPIRE's metadata key for the attesting agent's address, set by the server. */
export const CLIENT_IP_METADATA = 'x-forwarded-client-ip';

type Impl = ServiceImpl<typeof NODE_ATTESTOR_SERVICE>;
type AttestCall = Parameters<NonNullable<Impl['Attest']>>[0];
type Request = serverNodeAttestorV1.AttestRequest__Output;

function clientIpOf(call: AttestCall): string | undefined {
  const v = call.metadata.get(CLIENT_IP_METADATA)[0];
  return typeof v === 'string' ? v : v === undefined ? undefined : Buffer.from(v).toString('utf8');
}

async function attest(config: X509PopConfig | undefined, call: AttestCall): Promise<void> {
  const reader = messageReader<Request>(call);
  try {
    const first = await reader.next();
    if (!first) return; // the host gave up before sending anything
    if (!config) throw PluginError.failedPrecondition('not configured');
    if (first.request !== 'payload' || !first.payload || first.payload.length === 0) throw PluginError.invalidArgument('missing attestation payload');
    const verified = verifyPayload(config, first.payload, clientIpOf(call));
    call.write({ challenge: encodeChallenge(verified.challenge) });
    const answer = await reader.next();
    if (!answer) return;
    checkResponse(verified, answer.request === 'challenge_response' ? (answer.challenge_response ?? undefined) : undefined);
    const attrs = agentAttributes(config, verified);
    call.write({ agent_attributes: { spiffe_id: attrs.spiffeId, selector_values: attrs.selectorValues, can_reattest: true } });
    call.end();
  } finally {
    reader.close();
  }
}

export function x509PopServerPlugin(opts: { log?: Logger } = {}): PluginDefinition<typeof NODE_ATTESTOR_SERVICE, BuiltConfig<RawConfig>> {
  let config: X509PopConfig | undefined;
  const impl: Impl = {
    Attest: (call: AttestCall) => {
      attest(config, call).catch((err: unknown) => {
        if (!(err instanceof PluginError)) opts.log?.error('x509pop attestation failed', { error: (err as Error).message });
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
        config = buildX509PopConfig(value, trustDomain);
      },
    }),
  };
}
