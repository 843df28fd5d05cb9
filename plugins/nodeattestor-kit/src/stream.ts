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
