/**
 * The common front of JSON attestation payloads: present, within the size
 * limit, strict UTF-8 JSON. Every problem is InvalidArgument with SPIRE's
 * wording; the caller checks the decoded value's shape.
 */
import { PluginError } from '@spire-ts/plugin-sdk';

/** Decodes a JSON payload of at most `maxBytes`; `attestor` names the plugin in the hint for a foreign payload. */
export function decodeJsonPayload(payload: Uint8Array | undefined, maxBytes: number, attestor: string): unknown {
  if (!payload || payload.length === 0) throw PluginError.invalidArgument('missing attestation payload');
  if (payload.length > maxBytes) {
    throw PluginError.invalidArgument(`attestation payload is too large (${payload.length} bytes, at most ${maxBytes})`);
  }
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload)) as unknown;
  } catch (err) {
    throw PluginError.invalidArgument(`failed to unmarshal data payload: ${(err as Error).message} (is the agent using the ${attestor} NodeAttestor?)`);
  }
}
