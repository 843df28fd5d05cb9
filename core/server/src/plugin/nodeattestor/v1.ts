/**
 * The server NodeAttestor facade over a plugin (SPIRE's
 * pkg/server/plugin/nodeattestor/v1.go): drives the bidi `Attest` RPC —
 * payload first, then one challenge response per plugin challenge, until the
 * plugin answers with the agent's attributes. The plugin's answer is hostile
 * input: a response with neither field, a missing or malformed agent ID, an
 * empty selector value or an early end of stream is INTERNAL, naming the
 * plugin. Selector types are the plugin's configured name.
 */
import { Metadata } from '@grpc/grpc-js';
import { messageReader, parseSpiffeId, type ManagedPlugin, type PluginHostError } from '@spire-ts/common';
import { Status, isServiceError } from '@spire-ts/plugin-sdk';
import type { serverNodeAttestorV1 } from '@spire-ts/proto';
import type { AttestationResult, NodeAttestor } from '../../api/deps.js';
import { FacadeErrors } from '../facade.js';

type Service = 'spire.plugin.server.nodeattestor.v1.NodeAttestor';

/** SPIRE's outgoing metadata keys on Attest (values set by, and untrusted from, the client side). */
export const X_FORWARDED_HOST = 'x-untrusted-forwarded-host';
export const X_FORWARDED_CLIENT_IP = 'x-forwarded-client-ip';

/** What the server knows of the attesting agent's connection, forwarded to the plugin as metadata. */
export interface AttestPeer {
  /** Host part of the client's `:authority` (unauthenticated). */
  forwardedHost?: string;
  /** The peer's IP address, '' if unknown. */
  clientIp?: string;
}

/** Default longest a whole attestation may take (SPIRE bounds it by the agent's call). */
const DEFAULT_DEADLINE_MS = 5 * 60_000;

/** Marks errors from the challenge callback so they pass through unchanged. */
class ChallengeFailure {
  constructor(readonly error: unknown) {}
}

export class NodeAttestorV1 implements NodeAttestor {
  readonly name: string;
  private readonly errors: FacadeErrors;

  constructor(
    private readonly plugin: ManagedPlugin<Service>,
    private readonly opts: { deadlineMs?: number } = {},
  ) {
    this.name = plugin.name;
    this.errors = new FacadeErrors(plugin.label);
  }

  private fail(code: Status, msg: string, cause?: unknown): PluginHostError {
    return this.errors.fail(code, msg, cause);
  }

  /** A plugin status error keeps its code, its message prefixed with the plugin label (SPIRE's WrapErr). */
  private wrap(err: unknown): PluginHostError {
    if (isServiceError(err)) return this.fail(err.code as Status, err.details, err);
    return this.errors.wrap(err, 'attestation failed');
  }

  async attest(
    payload: Uint8Array,
    challenge: (challenge: Uint8Array) => Promise<Uint8Array>,
    peer: AttestPeer = {},
  ): Promise<AttestationResult> {
    if (payload.length === 0) throw this.fail(Status.INVALID_ARGUMENT, 'payload cannot be empty');
    const md = new Metadata();
    md.set(X_FORWARDED_HOST, peer.forwardedHost ?? '');
    md.set(X_FORWARDED_CLIENT_IP, peer.clientIp ?? '');
    let client;
    try {
      client = this.plugin.client;
    } catch (err) {
      throw this.wrap(err);
    }
    const stream = client.Attest(md, { deadline: Date.now() + (this.opts.deadlineMs ?? DEFAULT_DEADLINE_MS) });
    const reader = messageReader<serverNodeAttestorV1.AttestResponse__Output>(stream);
    try {
      stream.write({ payload });
      for (;;) {
        let res: serverNodeAttestorV1.AttestResponse__Output | undefined;
        try {
          res = await reader.next();
        } catch (err) {
          throw this.wrap(err);
        }
        if (!res) throw this.fail(Status.INTERNAL, 'plugin closed stream unexpectedly');
        if (res.response === 'agent_attributes' && res.agent_attributes) {
          stream.end();
          return this.result(res.agent_attributes);
        }
        if (res.response !== 'challenge' || !res.challenge) {
          throw this.fail(Status.INTERNAL, 'plugin response missing challenge or agent attributes');
        }
        let answer: Uint8Array;
        try {
          answer = await challenge(new Uint8Array(res.challenge));
        } catch (err) {
          throw new ChallengeFailure(err);
        }
        stream.write({ challenge_response: answer });
      }
    } catch (err) {
      if (err instanceof ChallengeFailure) throw err.error;
      throw err;
    } finally {
      reader.close();
      // Like SPIRE (the call's context is cancelled on return): never leave the plugin's stream open.
      stream.cancel();
    }
  }

  private result(attrs: serverNodeAttestorV1.AgentAttributes__Output): AttestationResult {
    const id = attrs.spiffe_id;
    if (!id) throw this.fail(Status.INTERNAL, 'plugin response missing agent ID');
    try {
      parseSpiffeId(id);
    } catch (err) {
      throw this.fail(Status.INTERNAL, `plugin returned an invalid agent ID ${JSON.stringify(id)}: ${(err as Error).message}`, err);
    }
    const values = attrs.selector_values ?? [];
    const empty = values.findIndex((v) => typeof v !== 'string' || v === '');
    if (empty !== -1) throw this.fail(Status.INTERNAL, `plugin returned an empty selector value (index ${empty})`);
    return {
      agentId: id,
      selectors: values.map((value) => ({ type: this.name, value })),
      canReattest: attrs.can_reattest === true,
    };
  }
}
