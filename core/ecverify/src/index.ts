/**
 * @spire-ts/ecverify: ECDSA P-256/SHA-256 verification for keys seen once.
 *
 * The server checks the signature of every CSR it signs, each with a new
 * public key. Through node:crypto, OpenSSL 3 first decodes and imports that
 * key into its provider layer, which costs more than the verification
 * itself (~60–110 µs, then ~90 µs to verify on a 2-core VM). The addon
 * (src/native/ecverify.c, built by node-gyp at install) verifies with
 * OpenSSL's EC functions directly, the same ones Node links: ~55 µs for both
 * on the same machine.
 *
 * Callers keep a node:crypto path for when the addon is missing
 * ({@link ecVerifyAvailable} false) and for every other key type.
 */
import { createRequire } from 'node:module';

interface Addon {
  verifyP256(point: Uint8Array, message: Uint8Array, signature: Uint8Array): number;
}

const ADDON = '../build/Release/ecverify.node';

let addon: Addon | undefined;
let loadError: string | undefined;
try {
  const loaded: unknown = createRequire(import.meta.url)(ADDON);
  if (typeof (loaded as Partial<Addon> | null)?.verifyP256 !== 'function') throw new Error(`${ADDON} is not this package's addon`);
  addon = loaded as Addon;
} catch (err) {
  loadError = `ecverify: the native addon (build/Release/ecverify.node) is missing or does not load; run \`npm rebuild @spire-ts/ecverify\` (${(err as Error).message})`;
}

/** Whether the addon loaded; when not, {@link ecVerifyUnavailableReason} says why. */
export const ecVerifyAvailable: boolean = addon !== undefined;

/** Why the addon did not load, or undefined. */
export const ecVerifyUnavailableReason: string | undefined = loadError;

/** The encoded point is not a P-256 public key (not on the curve, wrong length or form, infinity). */
export class EcPointError extends Error {
  override readonly name = 'EcPointError';
}

/**
 * Verifies an ECDSA signature (DER ECDSA-Sig-Value, canonical) over `message`
 * hashed with SHA-256, with the P-256 public key `point` (SEC 1 encoding: the
 * contents of a SubjectPublicKeyInfo's BIT STRING).
 * @returns false for a wrong, malformed or non-canonical signature.
 * @throws EcPointError when `point` is not a P-256 point; Error when the addon is missing.
 */
export function verifyP256Sha256(point: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!addon) throw new Error(loadError);
  const r = addon.verifyP256(point, message, signature);
  if (r === -1) throw new EcPointError('not a P-256 public key');
  return r === 1;
}
