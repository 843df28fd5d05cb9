/**
 * Just enough DER to read an X.509 certificate's notAfter and subject key
 * identifier, which bundle pruning and tainting need. Node's X509Certificate
 * exposes neither portably on Node 20.
 */

interface Tlv {
  tag: number;
  start: number;
  end: number;
}

function readTlv(buf: Uint8Array, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) throw new Error('truncated DER');
  const tag = buf[pos] as number;
  let len = buf[pos + 1] as number;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new Error('unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[start + i] as number);
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new Error('truncated DER');
  return { tag, start, end };
}

function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = parent.start; pos < parent.end; ) {
    const t = readTlv(buf, pos, parent.end);
    out.push(t);
    pos = t.end;
  }
  return out;
}

function parseTime(buf: Uint8Array, t: Tlv): number {
  const s = Buffer.from(buf.subarray(t.start, t.end)).toString('latin1');
  let m: RegExpExecArray | null;
  let year: number;
  if (t.tag === 0x17 && (m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    const yy = Number(m[1]);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
  } else if (t.tag === 0x18 && (m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    year = Number(m[1]);
  } else throw new Error('unsupported certificate time');
  return Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) / 1000;
}

const SKI_OID = [0x55, 0x1d, 0x0e];

export interface CertificateFacts {
  /** Unix seconds. */
  notAfter: number;
  /** Lowercase hex, as SPIRE prints subject key IDs; empty when absent. */
  subjectKeyId: string;
}

/** Reads facts from one DER certificate; throws on anything else. */
export function certificateFacts(der: Uint8Array): CertificateFacts {
  const cert = readTlv(der, 0, der.length);
  if (cert.tag !== 0x30 || cert.end !== der.length) throw new Error('not a DER certificate');
  const [tbs] = children(der, cert);
  if (!tbs || tbs.tag !== 0x30) throw new Error('not a DER certificate');
  const fields = children(der, tbs);
  let i = fields[0]?.tag === 0xa0 ? 1 : 0; // optional version
  i += 3; // serial, signature algorithm, issuer
  const validity = fields[i];
  if (!validity || validity.tag !== 0x30) throw new Error('certificate has no validity');
  const times = children(der, validity);
  if (times.length !== 2) throw new Error('certificate has no validity');
  const notAfter = parseTime(der, times[1] as Tlv);
  let subjectKeyId = '';
  const exts = fields.find((f) => f.tag === 0xa3);
  if (exts) {
    const [seq] = children(der, exts);
    for (const ext of seq ? children(der, seq) : []) {
      const [oid, ...rest] = children(der, ext);
      if (!oid || oid.tag !== 0x06 || oid.end - oid.start !== 3) continue;
      if (!SKI_OID.every((b, k) => der[oid.start + k] === b)) continue;
      const value = rest[rest.length - 1];
      if (!value || value.tag !== 0x04) continue;
      const inner = readTlv(der, value.start, value.end);
      if (inner.tag === 0x04) subjectKeyId = Buffer.from(der.subarray(inner.start, inner.end)).toString('hex');
    }
  }
  return { notAfter, subjectKeyId };
}
