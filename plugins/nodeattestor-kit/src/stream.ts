/**
 * The server side of a NodeAttestor `Attest` stream, as the plugins whose
 * exchange is a single payload share it: read the first message (which must
 * be a non-empty payload), and answer the agent's attributes or fail the
 * stream with the error's gRPC status.
 */
import { PluginError, toServiceError, type ServiceImpl } from '@spire-ts/plugin-sdk';

type Impl = ServiceImpl<'spire.plugin.server.nodeattestor.v1.NodeAttestor'>;
/** The server-side `Attest` stream of a NodeAttestor plugin. */
export type ServerAttestCall = Parameters<NonNullable<Impl['Attest']>>[0];

/** The first message of the stream: the payload (anything else is refused with InvalidArgument). */
export function firstPayload(call: ServerAttestCall): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      call.off('data', onData);
      call.off('end', onEnd);
      call.off('error', onError);
    };
    const onData = (msg: { payload?: Uint8Array | null; request?: string }): void => {
      done();
      if (msg.request !== 'payload' || !msg.payload || msg.payload.length === 0) reject(PluginError.invalidArgument('missing attestation payload'));
      else resolve(msg.payload);
    };
    const onEnd = (): void => {
      done();
      reject(PluginError.invalidArgument('the stream ended before the attestation payload'));
    };
    const onError = (err: unknown): void => {
      done();
      reject(err instanceof Error ? err : new Error(String(err)));
    };
    call.on('data', onData);
    call.on('end', onEnd);
    call.on('error', onError);
  });
}

/** What a successful attestation answers. */
export interface AttestedAgent {
  readonly spiffeId: string;
  readonly selectorValues: string[];
}

export interface AnswerOptions {
  /** Whether the agent may re-attest with the same data (SPIRE's `can_reattest`); default false. */
  readonly canReattest?: boolean;
  /** Called with any failure before the stream is failed with its status (for logging). */
  readonly onError?: (err: unknown) => void;
}

/**
 * Runs `attest` for one stream: writes the agent attributes and ends the
 * stream, or fails it with the error's status ({@link toServiceError}).
 */
export function answerAttestation(call: ServerAttestCall, attest: () => Promise<AttestedAgent>, opts: AnswerOptions = {}): void {
  void (async () => {
    try {
      const result = await attest();
      call.write({ agent_attributes: { spiffe_id: result.spiffeId, selector_values: result.selectorValues, can_reattest: opts.canReattest ?? false } });
      call.end();
    } catch (err) {
      opts.onError?.(err);
      call.emit('error', toServiceError(err));
    }
  })();
}

/** A message of the server-side `Attest` stream, as the plugin reads it. */
export interface AttestMessage {
  readonly request?: string;
  readonly payload?: Uint8Array | null;
  readonly challenge_response?: Uint8Array | null;
}

/** Reads a stream's messages one at a time (e.g. `messageReader(call)` of @spire-ts/common). */
export interface AttestReader {
  next(): Promise<AttestMessage | undefined>;
  close(): void;
}

/** The two checks of an attestation with one challenge (x509pop, tpm_devid). */
export interface SingleChallenge<S> {
  /** Verifies the payload; the state to keep and the challenge to send. */
  begin(payload: Uint8Array): { readonly state: S; readonly challenge: Uint8Array };
  /** Verifies the agent's answer (undefined when it sent something else) and says who the agent is. */
  finish(state: S, response: Uint8Array | undefined): AttestedAgent;
}

/**
 * Runs one payload → challenge → response exchange on `call`: the first
 * message must be a non-empty payload, `exchange` (undefined while the
 * plugin is not configured: FAILED_PRECONDITION) verifies it and the answer,
 * and the agent's attributes end the stream; a failure fails it with its
 * status. A host that gives up mid-way (the stream ends) gets nothing more.
 */
export function answerSingleChallenge<S>(call: ServerAttestCall, reader: AttestReader, exchange: SingleChallenge<S> | undefined, opts: AnswerOptions = {}): void {
  void (async () => {
    try {
      const first = await reader.next();
      if (!first) return;
      if (!exchange) throw PluginError.failedPrecondition('not configured');
      if (first.request !== 'payload' || !first.payload || first.payload.length === 0) throw PluginError.invalidArgument('missing attestation payload');
      const { state, challenge } = exchange.begin(first.payload);
      call.write({ challenge });
      const answer = await reader.next();
      if (!answer) return;
      const agent = exchange.finish(state, answer.request === 'challenge_response' ? (answer.challenge_response ?? undefined) : undefined);
      call.write({ agent_attributes: { spiffe_id: agent.spiffeId, selector_values: agent.selectorValues, can_reattest: opts.canReattest ?? false } });
      call.end();
    } catch (err) {
      opts.onError?.(err);
      call.emit('error', toServiceError(err));
    } finally {
      reader.close();
    }
  })();
}
