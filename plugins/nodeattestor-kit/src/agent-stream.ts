/**
 * The agent side of a NodeAttestor `AidAttestation` stream: run the
 * exchange and fail the stream with the error's gRPC status, wait for the
 * server's challenge, or send a payload to a server that never challenges.
 */
import { PluginError, Status, toServiceError, type ServiceImpl } from '@spire-ts/plugin-sdk';

type Impl = ServiceImpl<'spire.plugin.agent.nodeattestor.v1.NodeAttestor'>;
/** The agent-side `AidAttestation` stream of a NodeAttestor plugin. */
export type AgentAidCall = Parameters<NonNullable<Impl['AidAttestation']>>[0];

/**
 * Runs `exchange` for one stream (it writes the payload and any challenge
 * responses, then ends the stream); a failure is passed to `onError` (for
 * logging) and fails the stream with its status ({@link toServiceError}).
 */
export function runAidAttestation(call: AgentAidCall, exchange: () => Promise<void>, onError?: (err: unknown) => void): void {
  void (async () => {
    try {
      await exchange();
    } catch (err) {
      onError?.(err);
      call.emit('error', toServiceError(err));
    }
  })();
}

/**
 * The next message from the host: the server's challenge (empty when the
 * message has none). `ended` makes the error for a stream that ends first.
 * Call it before writing the payload so the answer cannot be missed.
 */
export function nextChallenge(call: AgentAidCall, ended: () => Error): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      call.off('data', onData);
      call.off('end', onEnd);
      call.off('error', onError);
    };
    const onData = (msg: { challenge?: Uint8Array | null }): void => {
      done();
      resolve(msg.challenge ?? new Uint8Array());
    };
    const onEnd = (): void => {
      done();
      reject(ended());
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

/**
 * For attestors whose server never challenges: sends the payload and ends the
 * stream; a challenge from the server destroys the stream with InvalidArgument.
 */
export async function sendPayloadOnly(call: AgentAidCall, attestor: string, payload: () => Promise<Uint8Array>): Promise<void> {
  call.on('data', () => {
    call.destroy(new PluginError(Status.INVALID_ARGUMENT, `${attestor} does not answer challenges: the server sent one`));
  });
  const bytes = await payload();
  call.write({ payload: bytes });
  call.end();
}
