/**
 * Who is calling: set by the transport before a handler runs (from the admin
 * socket, or the TLS peer certificate verified against the bundle), read by
 * handlers with {@link callerOf}. Nothing a client sends in a message or in
 * metadata can change it.
 */

/** The caller of one RPC. */
export type Caller =
  /** A process on the admin Unix socket: full admin rights (the socket's permissions are the guard). */
  | { readonly kind: 'local' }
  /** A TLS client without a (valid) client certificate. */
  | { readonly kind: 'anonymous'; readonly address: string }
  /** A TLS client whose X.509-SVID verified against the bundle. */
  | {
      readonly kind: 'x509';
      readonly address: string;
      readonly spiffeId: string;
      /** Leaf serial number as a decimal string (SPIRE's format in the DataStore). */
      readonly serialNumber: string;
      /** Unix seconds. */
      readonly notAfter: number;
      /** DER leaf then intermediates, as presented. */
      readonly chain: readonly Uint8Array[];
    };

/**
 * Where the caller is kept on the call object: a module-private symbol, so
 * no message or metadata can name it. (A WeakMap by call grew and rebuilt its
 * table at the call rate, in V8's old generation.)
 */
const CALLER = Symbol('spire-ts caller');

type WithCaller = { [CALLER]?: Caller };

/** Records the caller of `call` (transport only). */
export function setCaller(call: object, caller: Caller): void {
  (call as WithCaller)[CALLER] = caller;
}

/** The caller of `call`; throws if the transport did not identify it (a wiring bug, never a client's doing). */
export function callerOf(call: object): Caller {
  const c = (call as WithCaller)[CALLER];
  if (!c) throw new Error('internal: call has no identified caller');
  return c;
}

/** The caller's SPIFFE ID, if it presented an X.509-SVID. */
export function callerId(caller: Caller): string | undefined {
  return caller.kind === 'x509' ? caller.spiffeId : undefined;
}
