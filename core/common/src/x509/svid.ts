/**
 * X.509-SVID validation (SPIFFE X509-SVID.md §5 plus RFC 5280 path
 * validation), done independently of the builder: signatures are checked by
 * node:crypto `X509Certificate.verify`.
 */
import { X509Certificate } from 'node:crypto';
import { parseCertificate, type Certificate } from './certificate.js';
import { X509Error } from './errors.js';
import type { ParsedSubtree } from './extensions-parse.js';
import { formatName } from './name.js';
import { checkSpiffeId } from './spiffe-id.js';

/** The outcome of a successful {@link validateX509Svid}. */
export interface X509SvidValidation {
  /** The leaf's SPIFFE ID. */
  readonly spiffeId: string;
  readonly trustDomain: string;
  readonly path: string;
  /** The verified path: leaf, intermediates, then the trusted root. */
  readonly chain: readonly Certificate[];
}

/** Longest path (leaf to root) and most signature checks one validation will try. */
const MAX_PATH = 10;
const MAX_VERIFICATIONS = 64;

function fail(message: string, cause?: unknown): never {
  throw new X509Error('ERR_X509_SVID', message, cause === undefined ? undefined : { cause });
}

function describe(c: Certificate): string {
  return `"${formatName(c.subject) || c.serialNumber.toString(16)}"`;
}

function parse(der: Uint8Array, what: string): Certificate {
  try {
    return parseCertificate(der);
  } catch (err) {
    return fail(`${what}: ${(err as Error).message}`, err);
  }
}

function checkValidity(c: Certificate, now: Date, what: string): void {
  if (now.getTime() < c.notBefore.getTime()) fail(`${what} ${describe(c)} is not valid before ${c.notBefore.toISOString()}`);
  if (now.getTime() > c.notAfter.getTime()) fail(`${what} ${describe(c)} expired at ${c.notAfter.toISOString()}`);
}

function checkLeaf(leaf: Certificate): { id: string; trustDomain: string; path: string } {
  const ext = leaf.extensions;
  const uris = ext.subjectAltName?.uris ?? [];
  if (uris.length !== 1) fail(`leaf must have exactly one URI SAN, found ${uris.length}`);
  const id = checkSpiffeId(uris[0] as string);
  if (typeof id === 'string') fail(`leaf URI SAN ${JSON.stringify(uris[0])} is not a SPIFFE ID: ${id}`);
  if (id.path === '') fail(`leaf SPIFFE ID ${id.id} has no path`);
  if (ext.basicConstraints?.ca) fail('leaf certificate has CA=true');
  if (!ext.keyUsage) fail('leaf certificate has no keyUsage extension');
  if (!ext.keyUsage.critical) fail('leaf keyUsage extension is not critical');
  const usages = ext.keyUsage.usages;
  if (!usages.includes('digitalSignature')) fail('leaf keyUsage lacks digitalSignature');
  if (usages.includes('keyCertSign')) fail('leaf keyUsage has keyCertSign');
  if (usages.includes('cRLSign')) fail('leaf keyUsage has cRLSign');
  const eku = ext.extKeyUsage?.usages;
  if (eku && !(eku.includes('serverAuth') && eku.includes('clientAuth'))) {
    fail(`leaf extKeyUsage must include serverAuth and clientAuth, has ${eku.join(', ')}`);
  }
  if (leaf.subject.rdns.length === 0 && !ext.subjectAltName?.critical) fail('leaf has an empty subject and a non-critical SAN');
  if (ext.unhandledCritical.length > 0) fail(`leaf has unhandled critical extensions ${ext.unhandledCritical.join(', ')}`);
  return { id: id.id, trustDomain: id.trustDomain, path: id.path };
}

function checkSigner(c: Certificate, what: string): void {
  const ext = c.extensions;
  if (!ext.basicConstraints?.ca) fail(`${what} ${describe(c)} is not a CA (basicConstraints CA=true missing)`);
  if (ext.keyUsage && !ext.keyUsage.usages.includes('keyCertSign')) fail(`${what} ${describe(c)} keyUsage lacks keyCertSign`);
  if (ext.unhandledCritical.length > 0) fail(`${what} ${describe(c)} has unhandled critical extensions ${ext.unhandledCritical.join(', ')}`);
  for (const uri of ext.subjectAltName?.uris ?? []) {
    const id = checkSpiffeId(uri);
    if (typeof id !== 'string' && id.path !== '') fail(`${what} ${describe(c)} has a SPIFFE ID with a path (${uri})`);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

function hostMatches(host: string, constraint: string): boolean {
  const h = host.toLowerCase();
  const c = constraint.toLowerCase();
  // RFC 5280 §4.2.1.10: `.example.org` means subdomains only, `example.org` that host only.
  return c.startsWith('.') ? h.endsWith(c) : h === c;
}

function dnsMatches(name: string, constraint: string): boolean {
  const n = name.toLowerCase();
  const c = constraint.toLowerCase().replace(/^\./, '');
  return c === '' || n === c || n.endsWith(`.${c}`);
}

/** URI and DNS name constraints of `ca`, applied to the leaf's SPIFFE ID host and DNS SANs. */
function checkNameConstraints(ca: Certificate, leaf: Certificate, trustDomain: string): void {
  const nc = ca.extensions.nameConstraints;
  if (!nc) return;
  const all = [...nc.permitted, ...nc.excluded];
  if (all.some((s) => s.type === 'other')) fail(`CA ${describe(ca)} has name constraints of a form not supported here`);
  const names = leaf.extensions.subjectAltName;
  if (all.some((s) => s.type === 'ip') && (names?.ipAddresses.length ?? 0) > 0) fail(`CA ${describe(ca)} constrains IP addresses, which are not supported here`);
  if (all.some((s) => s.type === 'email') && (names?.emails.length ?? 0) > 0) fail(`CA ${describe(ca)} constrains email addresses, which are not supported here`);
  const check = (type: ParsedSubtree['type'], value: string, matches: (v: string, c: string) => boolean): void => {
    const permitted = nc.permitted.filter((s) => s.type === type);
    if (permitted.length > 0 && !permitted.some((s) => matches(value, s.value))) fail(`${type.toUpperCase()} name ${value} is not permitted by CA ${describe(ca)}`);
    if (nc.excluded.some((s) => s.type === type && matches(value, s.value))) fail(`${type.toUpperCase()} name ${value} is excluded by CA ${describe(ca)}`);
  };
  check('uri', trustDomain, hostMatches);
  for (const d of names?.dnsNames ?? []) check('dns', d, dnsMatches);
}

/**
 * Validates an X.509-SVID: the SPIFFE leaf rules (exactly one URI SAN with a
 * `spiffe://` ID that has a path, CA=false, critical keyUsage with
 * digitalSignature and without keyCertSign/cRLSign, EKU serverAuth+clientAuth
 * when present), then builds a path through `intermediates` to one of `roots`
 * (the trust bundle), checking every signature with node:crypto, validity
 * periods at `now`, CA=true and keyCertSign on signers, pathLen and URI/DNS
 * name constraints.
 *
 * @param leafDer the SVID certificate.
 * @param intermediates the rest of the SVID chain (leaf excluded), in any order.
 * @param roots the trust bundle's X.509 authorities.
 * @throws X509Error `ERR_X509_SVID` naming the first rule broken.
 *
 * @example
 * ```ts
 * const [leaf, ...chain] = svid.x509SvidChain;
 * const { spiffeId } = validateX509Svid(leaf, chain, bundle.x509Authorities, clock.now());
 * ```
 */
export function validateX509Svid(
  leafDer: Uint8Array,
  intermediates: readonly Uint8Array[],
  roots: readonly Uint8Array[],
  now: Date,
): X509SvidValidation {
  if (roots.length === 0) fail('the trust bundle has no X.509 authorities');
  const leaf = parse(leafDer, 'leaf');
  const id = checkLeaf(leaf);
  checkValidity(leaf, now, 'leaf');
  const pool = [
    ...intermediates.map((d, i) => ({ cert: parse(d, `intermediate ${i}`), root: false })),
    ...roots.map((d, i) => ({ cert: parse(d, `bundle authority ${i}`), root: true })),
  ];
  const x509 = new Map<Certificate, X509Certificate>();
  const nodeCert = (c: Certificate): X509Certificate => {
    let x = x509.get(c);
    if (!x) {
      try {
        x = new X509Certificate(c.der);
      } catch (err) {
        return fail(`${describe(c)}: node:crypto cannot read it: ${(err as Error).message}`, err);
      }
      x509.set(c, x);
    }
    return x;
  };
  nodeCert(leaf);
  let budget = MAX_VERIFICATIONS;
  let lastError = `no issuer of ${describe(leaf)} (issuer "${formatName(leaf.issuer)}") in the chain or the trust bundle`;

  const extend = (path: Certificate[]): Certificate[] | undefined => {
    const child = path[path.length - 1] as Certificate;
    for (const { cert, root } of pool) {
      if (path.includes(cert) || !sameBytes(cert.subject.der, child.issuer.der)) continue;
      const aki = child.extensions.authorityKeyId;
      const ski = cert.extensions.subjectKeyId;
      if (aki && ski && !sameBytes(aki, ski)) continue;
      if (budget-- <= 0) fail('too many candidate issuers: gave up building a path');
      try {
        if (!nodeCert(child).verify(nodeCert(cert).publicKey)) {
          lastError = `signature of ${describe(child)} does not verify with the key of ${describe(cert)}`;
          continue;
        }
        checkSigner(cert, root ? 'bundle authority' : 'intermediate');
        checkValidity(cert, now, root ? 'bundle authority' : 'intermediate');
        // pathLen counts the intermediates below this CA.
        const below = path.length - 1;
        const pathLen = cert.extensions.basicConstraints?.pathLen;
        if (pathLen !== undefined && below > pathLen) fail(`CA ${describe(cert)} allows ${pathLen} intermediates below it, the path has ${below}`);
        checkNameConstraints(cert, leaf, id.trustDomain);
      } catch (err) {
        if (!(err instanceof X509Error)) throw err;
        lastError = err.message;
        continue;
      }
      if (root) return [...path, cert];
      if (path.length + 1 >= MAX_PATH) {
        lastError = `path longer than ${MAX_PATH} certificates`;
        continue;
      }
      const found = extend([...path, cert]);
      if (found) return found;
    }
    return undefined;
  };

  const chain = extend([leaf]);
  if (!chain) fail(lastError);
  return { spiffeId: id.id, trustDomain: id.trustDomain, path: id.path, chain };
}
