/** PEM armour (RFC 7468) for certificates, CSRs and keys. */
import { X509Error } from './errors.js';

/** Wraps DER in PEM with 64-column base64 lines. */
export function pemEncode(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.length).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}${lines.length ? '\n' : ''}-----END ${label}-----\n`;
}

/**
 * Every PEM block in `text` with the given label (all labels when omitted), in
 * order. Text between blocks is ignored.
 * @throws X509Error `ERR_X509_PARSE` for an unterminated block, mismatched labels or bad base64.
 */
export function pemDecode(text: string, label?: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
  let consumed = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const [, begin, body, end] = m as unknown as [string, string, string, string];
    if (begin !== end) throw new X509Error('ERR_X509_PARSE', `PEM block BEGIN ${begin} ends with END ${end}`);
    consumed = re.lastIndex;
    if (label !== undefined && begin !== label) continue;
    const b64 = body.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
      throw new X509Error('ERR_X509_PARSE', `PEM block ${begin} is not valid base64`);
    }
    out.push(new Uint8Array(Buffer.from(b64, 'base64')));
  }
  if (text.indexOf('-----BEGIN', consumed) >= 0) throw new X509Error('ERR_X509_PARSE', 'unterminated PEM block');
  return out;
}
