/**
 * One call to the demo server over SPIFFE mTLS, shared by the client and the
 * intruder: the server must present an SVID chaining to our trust domain's
 * bundle whose ID is exactly the expected one; we present our own SVID.
 */
import { authorizeId, spiffeDispatcher, type X509Source } from '@spire-ts/spiffe';
import { request, type Dispatcher } from 'undici';

export type CallResult =
  | { readonly kind: 'ok'; readonly body: string }
  | { readonly kind: 'refused'; readonly status: number; readonly body: string }
  | { readonly kind: 'error'; readonly message: string };

/** A keep-alive undici dispatcher that accepts only the server `serverId` (connections survive SVID rotations). */
export function demoDispatcher(source: X509Source, serverId: string): Dispatcher {
  return spiffeDispatcher(source, authorizeId(serverId), { keepAliveTimeout: 60_000 });
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  let msg = err.message;
  // undici wraps the TLS failure; the cause says why (e.g. the server's ID).
  let cause = (err as { cause?: unknown }).cause;
  while (cause instanceof Error) {
    if (!msg.includes(cause.message)) msg += `: ${cause.message}`;
    cause = (cause as { cause?: unknown }).cause;
  }
  const code = (err as { code?: string }).code;
  if (code === 'ECONNREFUSED') msg = `nothing listens there (${msg})`;
  return msg;
}

/** GETs `url` and classifies the outcome; never throws. */
export async function callServer(url: string, dispatcher: Dispatcher, timeoutMs = 10_000): Promise<CallResult> {
  try {
    const res = await request(url, { dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    const body = (await res.body.text()).trim();
    if (res.statusCode === 200) return { kind: 'ok', body };
    return { kind: 'refused', status: res.statusCode, body };
  } catch (err) {
    return { kind: 'error', message: describeError(err) };
  }
}
