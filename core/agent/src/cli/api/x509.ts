/**
 * X.509-SVID responses of the Workload API as `spire-agent api fetch x509`
 * and `api watch` show them: parsed and (for fetch) verified against their
 * bundle, printed in SPIRE's layout, written as SPIRE writes them
 * (`svid.N.pem`, `svid.N.key` as PKCS#8 PEM mode 0600, `bundle.N.pem`,
 * `federated_bundle.N.M.pem`), or as protojson.
 *
 * @module
 */

import { createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import { goDurationString, goJson, goTimeUTC, parseCertificate, parseSpiffeId, pemEncode, splitCertificates, validateX509Svid } from '@spire-ts/common';
import type { Certificate } from '@spire-ts/common';
import type { workload } from '@spire-ts/proto';
import { ApiCliError } from './client.js';
import { b64 } from './json.js';

type X509Response = workload.X509SVIDResponse__Output;

/** One SVID of a response, parsed. */
export interface ParsedX509Svid {
  readonly spiffeId: string;
  readonly hint: string;
  /** Leaf first. */
  readonly certificates: readonly Certificate[];
  /** PKCS#8 DER, as re-encoded from the parsed key. */
  readonly privateKeyPkcs8: Uint8Array;
  readonly bundle: readonly Certificate[];
  /** Other trust domains' authorities, by the name printed (sorted). */
  readonly federated: ReadonlyMap<string, readonly Certificate[]>;
}

function certificates(blob: Uint8Array): Certificate[] {
  return splitCertificates(blob).map((der) => parseCertificate(der));
}

function sortedMap<V>(entries: Iterable<readonly [string, V]>): Map<string, V> {
  return new Map([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Parses an X509SVIDResponse as SPIRE's fetch command does: at least one
 * SVID, each with certificates, a PKCS#8 key and a non-empty bundle, and
 * each federated bundle non-empty. Federated bundles are keyed by trust
 * domain ID (`spiffe://td`), or by bare name with `bareNames`.
 *
 * @throws ApiCliError in SPIRE's words (`workload response contains no svids`, ...).
 */
export function parseX509Response(resp: X509Response, opts: { readonly bareNames?: boolean } = {}): ParsedX509Svid[] {
  if (resp.svids.length === 0) throw new ApiCliError('workload response contains no svids');
  const federated = new Map<string, Certificate[]>();
  for (const [td, blob] of Object.entries(resp.federated_bundles)) {
    let certs: Certificate[];
    try {
      certs = certificates(blob);
    } catch (err) {
      throw new ApiCliError(`failed to parse bundle for federated domain ${JSON.stringify(td)}: ${(err as Error).message}`);
    }
    if (certs.length === 0) throw new ApiCliError(`no certificates in bundle for federated domain ${JSON.stringify(td)}`);
    federated.set(opts.bareNames ? td.replace(/^spiffe:\/\//, '') : td, certs);
  }
  const fed = sortedMap(federated);
  return resp.svids.map((svid, i) => {
    try {
      return parseSvid(svid, fed);
    } catch (err) {
      throw new ApiCliError(`failed to parse svid entry ${i} for spiffe id ${JSON.stringify(svid.spiffe_id)}: ${(err as Error).message}`);
    }
  });
}

function parseSvid(svid: workload.X509SVID__Output, federated: ReadonlyMap<string, readonly Certificate[]>): ParsedX509Svid {
  const certs = certificates(svid.x509_svid);
  if (certs.length === 0) throw new Error('no certificates found');
  let key: Buffer;
  try {
    key = createPrivateKey({ key: Buffer.from(svid.x509_svid_key), format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'der' });
  } catch (err) {
    throw new Error(`failed to parse private key: ${(err as Error).message}`);
  }
  let bundle: Certificate[];
  try {
    bundle = certificates(svid.bundle);
  } catch (err) {
    throw new Error(`failed to parse trust bundle: ${(err as Error).message}`);
  }
  if (bundle.length === 0) throw new Error('no certificates in trust bundle');
  return { spiffeId: svid.spiffe_id, hint: svid.hint, certificates: certs, privateKeyPkcs8: new Uint8Array(key), bundle, federated };
}

/**
 * Verifies each SVID's chain against its own bundle at `now`, as SPIRE's fetch does.
 *
 * @throws ApiCliError `"<id>" SVID failed verification against bundle: ...`
 */
export function verifyX509Svids(svids: readonly ParsedX509Svid[], now: Date): void {
  for (const svid of svids) {
    try {
      parseSpiffeId(svid.spiffeId);
    } catch (err) {
      throw new ApiCliError((err as Error).message);
    }
    const [leaf, ...intermediates] = svid.certificates;
    try {
      validateX509Svid(
        leaf!.der,
        intermediates.map((c) => c.der),
        svid.bundle.map((c) => c.der),
        now,
      );
    } catch (err) {
      throw new ApiCliError(`${JSON.stringify(svid.spiffeId)} SVID failed verification against bundle: ${(err as Error).message}`);
    }
  }
}

/**
 * SPIRE's pretty output of SVIDs: `Received N svid(s) after <duration>`,
 * then per SVID its ID, hint, validity of the leaf, intermediates, CAs and
 * federated CAs, ending with a blank line.
 *
 * @example
 * ```ts
 * formatX509Svids(svids, 1.5); // 'Received 1 svid after 1.5ms\n\nSPIFFE ID:\t\tspiffe://example.org/w\n...'
 * ```
 */
export function formatX509Svids(svids: readonly ParsedX509Svid[], responseMs: number): string {
  let out = `Received ${svids.length} svid${svids.length === 1 ? '' : 's'} after ${goDurationString(responseMs)}\n`;
  const validity = (label: string, c: Certificate): string =>
    `${label} Valid After:\t${goTimeUTC(c.notBefore)}\n${label} Valid Until:\t${goTimeUTC(c.notAfter)}\n`;
  for (const svid of svids) {
    out += `\nSPIFFE ID:\t\t${svid.spiffeId}\n`;
    if (svid.hint !== '') out += `Hint:\t\t\t${svid.hint}\n`;
    out += `SVID Valid After:\t${goTimeUTC(svid.certificates[0]!.notBefore)}\n`;
    out += `SVID Valid Until:\t${goTimeUTC(svid.certificates[0]!.notAfter)}\n`;
    svid.certificates.slice(1).forEach((c, i) => (out += validity(`Intermediate #${i + 1}`, c)));
    svid.bundle.forEach((c, i) => (out += validity(`CA #${i + 1}`, c)));
    for (const [td, certs] of svid.federated) certs.forEach((c, i) => (out += validity(`[${td}] CA #${i + 1}`, c)));
  }
  return `${out}\n`;
}

const certsPem = (certs: readonly Certificate[]): string => certs.map((c) => pemEncode('CERTIFICATE', c.der)).join('');

/**
 * Writes each SVID as SPIRE does, printing `Writing ... to file <path>.`
 * for each file. `write(path, data, mode)` writes one file.
 */
export function writeX509Svids(
  svids: readonly ParsedX509Svid[],
  dir: string,
  write: (path: string, data: string, mode: number) => void,
  print: (text: string) => void,
): void {
  const put = (path: string, data: string, mode: number): void => {
    try {
      write(path, data, mode);
    } catch (err) {
      throw new ApiCliError(`unable to write ${path}: ${(err as Error).message}`);
    }
  };
  svids.forEach((svid, i) => {
    const svidPath = join(dir, `svid.${i}.pem`);
    const keyPath = join(dir, `svid.${i}.key`);
    const bundlePath = join(dir, `bundle.${i}.pem`);
    print(`Writing SVID #${i} to file ${svidPath}.\n`);
    put(svidPath, certsPem(svid.certificates), 0o644);
    print(`Writing key #${i} to file ${keyPath}.\n`);
    put(keyPath, pemEncode('PRIVATE KEY', svid.privateKeyPkcs8), 0o600);
    print(`Writing bundle #${i} to file ${bundlePath}.\n`);
    put(bundlePath, certsPem(svid.bundle), 0o644);
    [...svid.federated].forEach(([td, certs], j) => {
      const path = join(dir, `federated_bundle.${i}.${j}.pem`);
      print(`Writing federated bundle #${j} for trust domain ${td} to file ${path}.\n`);
      put(path, certsPem(certs), 0o644);
    });
  });
}

/**
 * The `-output json` line of an X509SVIDResponse (protojson: proto field
 * names, all fields, bytes as base64, keys sorted).
 */
export function x509ResponseJson(resp: X509Response): string {
  return `${goJson({
    svids: resp.svids.map((s) => ({ spiffe_id: s.spiffe_id, x509_svid: b64(s.x509_svid), x509_svid_key: b64(s.x509_svid_key), bundle: b64(s.bundle), hint: s.hint })),
    crl: resp.crl.map(b64),
    federated_bundles: Object.fromEntries(Object.entries(resp.federated_bundles).map(([k, v]) => [k, b64(v)])),
  })}\n`;
}
