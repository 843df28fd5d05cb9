/**
 * Workload X.509-SVID issuance: a fresh key per SVID generated in the agent's
 * memory (workload keys are handed to workloads, so, as in SPIRE, they never
 * live in the KeyManager), a CSR with the SPIFFE ID as URI SAN, and one
 * BatchNewX509SVID call per batch. Each returned chain is checked against the
 * request before it is accepted.
 */
import { generateKeyPair, createPublicKey, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { buildCSR, parseCertificate, type KeyType } from '@spire-ts/common';
import type { AgentServerApi } from '../node/server-api.js';
import type { DueSvid } from './identity-cache.js';

/** SPIRE signs at most this many CSRs per BatchNewX509SVID call from one agent (limits.SignLimitPerIP). */
export const MAX_X509_BATCH = 500;

const genKeyPair = promisify(generateKeyPair);

/** A new private key of `type`. */
export async function generateWorkloadKey(type: KeyType): Promise<KeyObject> {
  switch (type) {
    case 'ec-p256':
      return (await genKeyPair('ec', { namedCurve: 'P-256' })).privateKey;
    case 'ec-p384':
      return (await genKeyPair('ec', { namedCurve: 'P-384' })).privateKey;
    case 'rsa-2048':
      return (await genKeyPair('rsa', { modulusLength: 2048 })).privateKey;
    case 'rsa-4096':
      return (await genKeyPair('rsa', { modulusLength: 4096 })).privateKey;
    default:
      throw new RangeError(`unsupported workload key type ${JSON.stringify(type as string)}`);
  }
}

export type MintOutcome =
  | {
      readonly ok: true;
      readonly due: DueSvid;
      readonly certChainDer: readonly Uint8Array[];
      readonly privateKeyPkcs8Der: Uint8Array;
      readonly notBefore: Date;
      readonly notAfter: Date;
    }
  | { readonly ok: false; readonly due: DueSvid; readonly code: number; readonly message: string };

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** Why `chain` is not an acceptable SVID for `due` with key `spki`, or its validity period if it is. */
function checkChain(chain: readonly Uint8Array[], due: DueSvid, spki: Uint8Array, now: Date): string | { notBefore: Date; notAfter: Date } {
  if (!Array.isArray(chain) || chain.length === 0) return 'the server returned an empty certificate chain';
  let leaf;
  try {
    leaf = parseCertificate(chain[0] as Uint8Array);
  } catch (err) {
    return `the server returned an unparsable X.509-SVID: ${(err as Error).message}`;
  }
  const uris = leaf.extensions.subjectAltName?.uris ?? [];
  if (uris.length !== 1 || uris[0] !== due.spiffeId) return `the server returned an X.509-SVID for ${JSON.stringify(uris)}, expected ${due.spiffeId}`;
  if (!sameBytes(leaf.publicKey.der, spki)) return 'the server returned an X.509-SVID for another public key';
  if (leaf.notAfter.getTime() <= now.getTime()) return `the server returned an X.509-SVID that expired at ${leaf.notAfter.toISOString()}`;
  return { notBefore: leaf.notBefore, notAfter: leaf.notAfter };
}

/**
 * Issues SVIDs for up to {@link MAX_X509_BATCH} entries in one call. Rejects
 * when the call itself fails (or answers with the wrong number of results);
 * a per-entry failure is an `ok: false` outcome.
 */
export async function mintX509Batch(api: AgentServerApi, due: readonly DueSvid[], keyType: KeyType, now: () => Date): Promise<MintOutcome[]> {
  if (due.length === 0) return [];
  if (due.length > MAX_X509_BATCH) throw new RangeError(`at most ${MAX_X509_BATCH} CSRs per batch, got ${due.length}`);
  const keys = await Promise.all(due.map(() => generateWorkloadKey(keyType)));
  const requests = due.map((d, i) => ({ entryId: d.entryId, csr: buildCSR(keys[i] as KeyObject, { uris: [d.spiffeId] }) }));
  const results = await api.batchNewX509Svid(requests);
  if (!Array.isArray(results) || results.length !== requests.length) {
    throw new Error(`BatchNewX509SVID returned ${Array.isArray(results) ? results.length : 'no'} results for ${requests.length} requests`);
  }
  const at = now();
  return results.map((r, i): MintOutcome => {
    const d = due[i] as DueSvid;
    if (r.entryId !== d.entryId) return { ok: false, due: d, code: 13, message: `result ${i} is for entry ${JSON.stringify(r.entryId)}, expected ${JSON.stringify(d.entryId)}` };
    if (!r.ok) return { ok: false, due: d, code: r.code, message: r.message };
    const key = keys[i] as KeyObject;
    const spki = new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' }));
    const checked = checkChain(r.certChain, d, spki, at);
    if (typeof checked === 'string') return { ok: false, due: d, code: 13, message: checked };
    return {
      ok: true,
      due: d,
      certChainDer: r.certChain,
      privateKeyPkcs8Der: new Uint8Array(key.export({ type: 'pkcs8', format: 'der' })),
      notBefore: checked.notBefore,
      notAfter: checked.notAfter,
    };
  });
}
