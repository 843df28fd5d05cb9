/**
 * Proto-JSON pieces of the agent CLI: bytes as base64 and
 * google.protobuf.Struct as a plain object (Go's encoding/json and
 * `time.Time` text are @spire-ts/common's `goJson` and `goTimeUTC`).
 *
 * @module
 */

import type { workload } from '@spire-ts/proto';

/** Base64 of bytes, as protojson writes `bytes` fields. */
export function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

type Struct = NonNullable<workload.ValidateJWTSVIDResponse__Output['claims']>;
type Value = Struct['fields'][string];

function valueToJson(v: Value | null | undefined): unknown {
  if (!v) return null;
  switch (v.kind) {
    case 'numberValue':
      return v.numberValue ?? 0;
    case 'stringValue':
      return v.stringValue ?? '';
    case 'boolValue':
      return v.boolValue ?? false;
    case 'structValue':
      return structToJson(v.structValue);
    case 'listValue':
      return (v.listValue?.values ?? []).map(valueToJson);
    default:
      return null;
  }
}

/**
 * A google.protobuf.Struct as the plain JSON object protojson makes of it.
 *
 * @example
 * ```ts
 * structToJson({ fields: { sub: { kind: 'stringValue', stringValue: 'spiffe://example.org/w' } } }); // { sub: 'spiffe://example.org/w' }
 * ```
 */
export function structToJson(s: Struct | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = valueToJson(v);
  return out;
}
