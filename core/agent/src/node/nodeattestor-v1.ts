/**
 * The agent NodeAttestor facade over a plugin (SPIRE's
 * pkg/agent/plugin/nodeattestor/v1.go): drives the bidi `AidAttestation`
 * stream. The host opens it and sends nothing; the plugin must send a
 * non-empty payload first, then exactly one challenge_response per
 * Challenge the host relays from the server. Anything else from the plugin
 * is an error naming the plugin.
 */
import { messageReader } from '@spire-ts/common';
import type { ManagedPlugin } from '@spire-ts/common';
import type { agentNodeAttestorV1 } from '@spire-ts/proto';
import { describeError } from './errors.js';
import type { AgentNodeAttestor, AttestationSession } from './attestor.js';

type Service = 'spire.plugin.agent.nodeattestor.v1.NodeAttestor';

/** Longest a whole attestation may take on the plugin side. */
const DEFAULT_DEADLINE_MS = 5 * 60_000;

export class NodeAttestorV1 implements AgentNodeAttestor {
  readonly name: string;

  constructor(
    private readonly plugin: ManagedPlugin<Service>,
    private readonly opts: { deadlineMs?: number } = {},
  ) {
    this.name = plugin.name;
  }

  begin(): AttestationSession {
    const label = this.plugin.label;
    const fail = (msg: string, cause?: unknown): Error => new Error(`${label}: ${msg}`, cause === undefined ? undefined : { cause });
    let stream: ReturnType<ManagedPlugin<Service>['client']['AidAttestation']>;
    try {
      stream = this.plugin.client.AidAttestation({ deadline: Date.now() + (this.opts.deadlineMs ?? DEFAULT_DEADLINE_MS) });
    } catch (err) {
      const e = fail(`cannot open the attestation stream: ${describeError(err)}`, err);
      return { payload: () => Promise.reject(e), answer: () => Promise.reject(e), close: () => undefined };
    }
    const reader = messageReader<agentNodeAttestorV1.PayloadOrChallengeResponse__Output>(stream);
    let closed = false;
    const receive = async (want: 'payload' | 'challenge_response'): Promise<Uint8Array> => {
      let msg: agentNodeAttestorV1.PayloadOrChallengeResponse__Output | undefined;
      try {
        msg = await reader.next();
      } catch (err) {
        throw fail(`attestation failed: ${describeError(err)}`, err);
      }
      if (!msg) throw fail(`plugin closed the stream before sending the ${want === 'payload' ? 'payload' : 'challenge response'}`);
      const value = msg[want];
      if (msg.data !== want || !value) {
        const got = msg.data ?? 'an empty message';
        throw fail(want === 'payload' ? `plugin must send the attestation payload first (got ${got})` : `plugin must answer the challenge with a challenge_response (got ${got})`);
      }
      if (value.length === 0) throw fail(`plugin sent an empty ${want === 'payload' ? 'payload' : 'challenge response'}`);
      return new Uint8Array(value);
    };
    let payloadRead = false;
    return {
      payload: async () => {
        if (payloadRead) throw fail('internal: payload requested twice');
        payloadRead = true;
        return receive('payload');
      },
      answer: async (challenge: Uint8Array) => {
        if (!payloadRead) throw fail('internal: challenge before payload');
        stream.write({ challenge });
        return receive('challenge_response');
      },
      close: () => {
        if (closed) return;
        closed = true;
        reader.close();
        stream.end();
        // Like SPIRE (the stream's context is cancelled when attestation returns).
        stream.cancel();
      },
    };
  }
}
