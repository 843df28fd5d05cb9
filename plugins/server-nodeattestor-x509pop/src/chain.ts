/**
 * Chain-of-trust verification for x509pop (the part of Go's
 * x509.Certificate.Verify that SPIRE relies on, with any extended key usage
 * accepted): every path from the leaf through the presented intermediates to
 * a trusted root, where each certificate is within its validity period, has
 * no unhandled critical extension, and is signed by the next one; issuers
 * other than roots must be CAs, and path length constraints hold. CAs with
 * name constraints are refused (not evaluated here), failing closed.
 *
 * Errors read like Go's (`x509: certificate signed by unknown authority`...)
 * since operators search for those.
 */
import { createHash } from 'node:crypto';
import { publicKeyObject, verifySignature, type Certificate } from '@spire-ts/common';

export class ChainError extends Error {
  override readonly name = 'ChainError';
}

/** A trusted root with its identity for de-duplication. */
export interface TrustAnchor {
  readonly cert: Certificate;
  readonly fingerprint: string;
}

export function sha1Hex(der: Uint8Array): string {
  return createHash('sha1').update(der).digest('hex');
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/** Go's time formatting is not needed: RFC 3339 in UTC is what an operator compares. */
function iso(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function checkValidity(c: Certificate, now: Date): void {
  if (now < c.notBefore) throw new ChainError(`x509: certificate has expired or is not yet valid: current time ${iso(now)} is before ${iso(c.notBefore)}`);
  if (now > c.notAfter) throw new ChainError(`x509: certificate has expired or is not yet valid: current time ${iso(now)} is after ${iso(c.notAfter)}`);
}

function checkCritical(c: Certificate): void {
  if (c.extensions.unhandledCritical.length > 0) throw new ChainError(`x509: unhandled critical extension (${c.extensions.unhandledCritical.join(', ')})`);
}

/** Whether `parent` signed `child` (names match, key identifiers agree if both present, signature verifies). */
function signs(parent: Certificate, child: Certificate): boolean {
  if (!sameBytes(parent.subject.der, child.issuer.der)) return false;
  const ski = parent.extensions.subjectKeyId;
  const aki = child.extensions.authorityKeyId;
  if (ski && aki && !sameBytes(ski, aki)) return false;
  try {
    return verifySignature(child.signatureAlgorithm, publicKeyObject(parent.publicKey), child.tbs, child.signature);
  } catch {
    return false;
  }
}

/** Why `issuer` cannot sign for a path already holding `below` certificates under it (leaf included), or undefined. */
function issuerProblem(issuer: Certificate, below: number, isRoot: boolean): string | undefined {
  const bc = issuer.extensions.basicConstraints;
  if (!isRoot && (!bc || !bc.ca)) return 'x509: certificate signed by an intermediate that is not a CA (basicConstraints)';
  if (bc?.pathLen !== undefined && below - 1 > bc.pathLen) return 'x509: too many intermediates for path length constraint';
  if (issuer.extensions.nameConstraints) return 'x509: CA certificates with name constraints are not supported';
  return undefined;
}

/** Most paths explored, whatever the input (bounds the work a hostile chain can cause). */
const MAX_PATHS = 64;

/**
 * Every verified chain from `leaf` to a root in `roots` (leaf first, root
 * last). Throws a {@link ChainError} when there is none, with the most
 * specific reason found.
 */
export function verifyChain(leaf: Certificate, intermediates: readonly Certificate[], roots: readonly Certificate[], now: Date): Certificate[][] {
  checkCritical(leaf);
  checkValidity(leaf, now);
  // A leaf that is itself a trusted root is its own chain (as Go).
  if (roots.some((r) => sameBytes(r.der, leaf.der))) return [[leaf]];

  const chains: Certificate[][] = [];
  let problem: string | undefined;
  let explored = 0;
  const extend = (path: Certificate[]): void => {
    if (explored++ >= MAX_PATHS) return;
    const child = path[path.length - 1]!;
    const candidates: Array<{ cert: Certificate; root: boolean }> = [
      ...roots.map((cert) => ({ cert, root: true })),
      ...intermediates.map((cert) => ({ cert, root: false })),
    ];
    for (const { cert, root } of candidates) {
      if (path.some((p) => sameBytes(p.der, cert.der))) continue;
      if (!signs(cert, child)) continue;
      try {
        checkCritical(cert);
        checkValidity(cert, now);
      } catch (err) {
        problem = (err as Error).message;
        continue;
      }
      const why = issuerProblem(cert, path.length, root);
      if (why) {
        problem = why;
        continue;
      }
      if (root) chains.push([...path, cert]);
      else extend([...path, cert]);
    }
  };
  extend([leaf]);
  if (chains.length === 0) throw new ChainError(problem ?? 'x509: certificate signed by unknown authority');
  return chains;
}
