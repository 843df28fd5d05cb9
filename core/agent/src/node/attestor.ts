/**
 * What node attestation needs from an agent NodeAttestor: a payload for the
 * server, then one answer per server challenge. `join_token` is built in;
 * other types are plugins (see nodeattestor-v1.ts).
 */

export interface AttestationSession {
  /** The attestation payload (never empty). */
  payload(): Promise<Uint8Array>;
  /** The response to one server challenge. */
  answer(challenge: Uint8Array): Promise<Uint8Array>;
  /** Ends the session (idempotent). */
  close(): void;
}

export interface AgentNodeAttestor {
  /** The attestation type sent to the server (the plugin name; "join_token"). */
  readonly name: string;
  begin(): AttestationSession;
}

export const JOIN_TOKEN_TYPE = 'join_token';

/** The built-in join token attestor: payload = the token; no challenges. */
export class JoinTokenAttestor implements AgentNodeAttestor {
  readonly name = JOIN_TOKEN_TYPE;
  constructor(readonly token: string) {
    if (token === '') throw new Error('join token cannot be empty');
  }

  begin(): AttestationSession {
    const token = this.token;
    return {
      payload: () => Promise.resolve(new Uint8Array(Buffer.from(token, 'utf8'))),
      answer: () => Promise.reject(new Error('join_token attestation does not answer challenges; the server sent one')),
      close: () => undefined,
    };
  }
}
