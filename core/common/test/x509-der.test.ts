import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DER, MAX_DER_CHILDREN, MAX_DER_DEPTH, TAG, X509Error, decodeDer, decodeDerTree, formatName, parseName, encodeName, nameToSpec, pemDecode, pemEncode } from '../src/x509/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

function derError(fn: () => unknown): X509Error {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(X509Error);
    return err as X509Error;
  }
  throw new Error('expected an X509Error');
}

describe('DER encoder', () => {
  it.each([
    [0n, '020100'],
    [127n, '02017f'],
    [128n, '02020080'],
    [255n, '020200ff'],
    [256n, '02020100'],
    [-1n, '0201ff'],
    [-128n, '020180'],
    [-129n, '0202ff7f'],
    [-256n, '0202ff00'],
    [(1n << 128n) - 1n, `021100${'ff'.repeat(16)}`],
  ])('INTEGER %s is minimal two\'s complement', (value, want) => {
    expect(hex(DER.integer(value))).toBe(want);
    expect(decodeDer(DER.integer(value)).integer()).toBe(value);
  });

  it('round-trips random integers', () => {
    for (let i = 0; i < 200; i++) {
      const len = 1 + (i % 40);
      let v = BigInt(`0x${Buffer.from(Array.from({ length: len }, () => Math.floor(Math.random() * 256))).toString('hex')}`);
      if (i % 2) v = -v;
      expect(decodeDer(DER.integer(v)).integer()).toBe(v);
    }
  });

  it('encodes OIDs, including large arcs and arc 2.x ≥ 40', () => {
    expect(hex(DER.oid('1.2.840.10045.2.1'))).toBe('06072a8648ce3d0201');
    expect(hex(DER.oid('2.5.29.17'))).toBe('0603551d11');
    for (const oid of ['1.2.840.113549.1.9.14', '2.999.3', '1.3.6.1.4.1.4294967296.1', '0.0']) {
      expect(decodeDer(DER.oid(oid)).oid()).toBe(oid);
    }
    expect(() => DER.oid('1.40')).toThrow(/second arc must be < 40/);
    expect(() => DER.oid('3.1')).toThrow(X509Error);
    expect(() => DER.oid('1.02')).toThrow(X509Error);
  });

  it('encodes lengths in short and minimal long form', () => {
    expect(hex(DER.octetString(new Uint8Array(127))).slice(0, 4)).toBe('047f');
    expect(hex(DER.octetString(new Uint8Array(128))).slice(0, 6)).toBe('048180');
    expect(hex(DER.octetString(new Uint8Array(256))).slice(0, 8)).toBe('04820100');
    expect(hex(DER.octetString(new Uint8Array(70000))).slice(0, 10)).toBe('0483011170');
  });

  it('encodes the simple types', () => {
    expect(hex(DER.boolean(true))).toBe('0101ff');
    expect(hex(DER.boolean(false))).toBe('010100');
    expect(hex(DER.null())).toBe('0500');
    expect(hex(DER.bitString(Uint8Array.of(0xa8), 3))).toBe('030203a8');
    expect(() => DER.bitString(Uint8Array.of(0xa9), 3)).toThrow(/unused bits/);
    expect(hex(DER.utf8String('é'))).toBe('0c02c3a9');
    expect(hex(DER.printableString('US'))).toBe('13025553');
    expect(() => DER.printableString('a@b')).toThrow(/PrintableString/);
    expect(hex(DER.ia5String('a.b'))).toBe('1603612e62');
    expect(() => DER.ia5String('é')).toThrow(/IA5String/);
    expect(hex(DER.explicit(0, DER.integer(2)))).toBe('a003020102');
    expect(hex(DER.implicit(2, DER.ia5String('a')))).toBe('820161');
    expect(hex(DER.implicit(0, DER.sequence()))).toBe('a000');
  });

  it('sorts SET OF by encoding', () => {
    expect(hex(DER.set(DER.integer(300), DER.integer(5), DER.boolean(true)))).toBe('310a0101ff02010502020' + '12c');
  });

  it('uses UTCTime through 2049 and GeneralizedTime from 2050, seconds precision', () => {
    expect(Buffer.from(DER.time(new Date('2049-12-31T23:59:59.999Z'))).toString('latin1').slice(2)).toBe('491231235959Z');
    expect(DER.time(new Date('2049-12-31T23:59:59Z'))[0]).toBe(TAG.UTC_TIME);
    expect(Buffer.from(DER.time(new Date('2050-01-01T00:00:00Z'))).toString('latin1').slice(2)).toBe('20500101000000Z');
    expect(DER.time(new Date('2050-01-01T00:00:00Z'))[0]).toBe(TAG.GENERALIZED_TIME);
    expect(DER.time(new Date('1949-06-01T00:00:00Z'))[0]).toBe(TAG.GENERALIZED_TIME);
    expect(hex(DER.time(new Date('1950-01-01T00:00:00Z'))).slice(4)).toBe(hex(Buffer.from('500101000000Z')));
    for (const iso of ['1950-01-01T00:00:00Z', '1999-12-31T23:59:59Z', '2000-02-29T12:00:00Z', '2049-12-31T23:59:59Z', '2050-01-01T00:00:00Z', '9999-12-31T23:59:59Z']) {
      expect(decodeDer(DER.time(new Date(iso))).time().toISOString()).toBe(new Date(iso).toISOString());
    }
    expect(() => DER.utcTime(new Date('2050-01-01T00:00:00Z'))).toThrow(/UTCTime cannot hold year 2050/);
    expect(() => DER.time(new Date(Number.NaN))).toThrow(X509Error);
  });
});

describe('DER decoder', () => {
  it('walks nested structures lazily with absolute offsets', () => {
    const der = DER.sequence(DER.integer(1), DER.sequence(DER.oid('2.5.4.3'), DER.utf8String('x')), DER.explicit(3, DER.boolean(true)));
    const top = decodeDer(der);
    const [a, b, c] = top.children() as [ReturnType<typeof decodeDer>, ReturnType<typeof decodeDer>, ReturnType<typeof decodeDer>];
    expect(a.integer()).toBe(1n);
    expect(b.children()[1]?.string()).toBe('x');
    expect(b.children()[1]?.offset).toBe(12);
    expect(c.tag).toBe(0xa3);
    expect(c.children()[0]?.boolean()).toBe(true);
    expect(decodeDerTree(der).children?.[1]?.children?.[0]?.contents).toEqual(bytes('550403'));
  });

  const bad: Array<[string, string, RegExp]> = [
    ['empty input', '', /offset 0: truncated: missing tag/],
    ['tag without length', '30', /has no length/],
    ['indefinite length', '3080 0500 0000', /offset 1: indefinite length is not allowed/],
    ['long form for a short length', '048105' + '00'.repeat(5), /length 5 must use the short form/],
    ['leading zero length octet', '04820005' + '00'.repeat(5), /not minimally encoded \(leading zero\)/],
    ['length of 5 octets', '04850000000001' + '00', /length of 5 octets is too large/],
    ['length past the end', '040a0102', /claims 10 bytes but only 2 remain/],
    ['huge length', '3084ffffffff00', /claims 4294967295 bytes but only 1 remain/],
    ['length octets past the end', '3083ffff', /length octets run past the end/],
    ['trailing bytes', '0500ff', /1 trailing bytes after the NULL/],
    ['high tag number form', '1f2200', /high-tag-number form/],
  ];
  it.each(bad)('rejects %s', (_name, input, message) => {
    const err = derError(() => decodeDer(bytes(input)));
    expect(err.code).toBe('ERR_DER');
    expect(err.message).toMatch(message);
  });

  const badValues: Array<[string, string, (el: ReturnType<typeof decodeDer>) => unknown, RegExp]> = [
    ['non-minimal positive INTEGER', '0202007f', (e) => e.integer(), /INTEGER is not minimally encoded/],
    ['non-minimal negative INTEGER', '0202ff80', (e) => e.integer(), /INTEGER is not minimally encoded/],
    ['empty INTEGER', '0200', (e) => e.integer(), /empty INTEGER/],
    ['BOOLEAN 01', '010101', (e) => e.boolean(), /00 or FF/],
    ['NULL with contents', '050100', (e) => e.null(), /NULL has contents/],
    ['OID arc with leading 0x80', '0603808101', (e) => e.oid(), /not minimally encoded/],
    ['OID ending inside an arc', '06022a86', (e) => e.oid(), /ends inside an arc/],
    ['OID arc too large', `060a2a${'ff'.repeat(8)}7f`, (e) => e.oid(), /arc too large/],
    ['BIT STRING with 8 unused bits', '03020800', (e) => e.bitString(), /unused-bits count 8/],
    ['BIT STRING with non-zero unused bits', '030203a9', (e) => e.bitString(), /unused bits are not zero/],
    ['empty BIT STRING', '0300', (e) => e.bitString(), /no unused-bits octet/],
    ['constructed OCTET STRING', '2403040100', (e) => e.octetString(), /primitive encoding|expected OCTET STRING/],
    ['invalid UTF8String', '0c02c328', (e) => e.string(), /not valid UTF-8/],
    ['PrintableString with @', '130140', (e) => e.string(), /invalid character 0x40 in PrintableString/],
    ['IA5String with 8-bit byte', '1601e9', (e) => e.string(), /invalid character 0xe9/],
    ['UTCTime without seconds', `170b${hex(Buffer.from('2001010000Z'))}`, (e) => e.time(), /not YYMMDDHHMMSSZ/],
    ['UTCTime with offset', `1711${hex(Buffer.from('200101000000+0100'))}`, (e) => e.time(), /not YYMMDDHHMMSSZ/],
    ['GeneralizedTime with fraction', `1811${hex(Buffer.from('20500101000000.5Z'))}`, (e) => e.time(), /not YYYYMMDDHHMMSSZ/],
    ['February 30th', `170d${hex(Buffer.from('200230000000Z'))}`, (e) => e.time(), /not a valid date/],
    ['hour 24', `170d${hex(Buffer.from('200101240000Z'))}`, (e) => e.time(), /not a valid date/],
    ['children of a primitive', '0500', (e) => e.children(), /primitive, expected a constructed/],
    ['children with a truncated element', '30020401', (e) => e.children(), /offset 2: truncated/],
  ];
  it.each(badValues)('rejects %s', (_name, input, read, message) => {
    const err = derError(() => read(decodeDer(bytes(input))));
    expect(err.message).toMatch(message);
  });

  it('names the expected and found tags', () => {
    expect(() => decodeDer(DER.integer(1)).expect(TAG.SEQUENCE, 'certificate')).toThrow(
      /certificate: expected SEQUENCE at offset 0, found INTEGER/,
    );
  });

  it(`refuses nesting deeper than ${MAX_DER_DEPTH} without recursing`, () => {
    let der: Uint8Array = DER.null();
    for (let i = 0; i < MAX_DER_DEPTH; i++) der = DER.sequence(der);
    expect(() => decodeDerTree(der)).not.toThrow();
    der = DER.sequence(der);
    expect(derError(() => decodeDerTree(der)).message).toMatch(/nesting deeper than 32 levels/);
  });

  it('rejects 100,000 levels of nesting fast (the lengths are checked, no stack overflow)', () => {
    // Minimal headers, each claiming the rest of the input, around one NULL.
    const depth = 100_000;
    const headers: number[][] = [];
    let len = 2;
    for (let i = 0; i < depth; i++) {
      const h = len < 0x80 ? [0x30, len] : len <= 0xff ? [0x30, 0x81, len] : len <= 0xffff ? [0x30, 0x82, len >> 8, len & 0xff] : [0x30, 0x83, len >> 16, (len >> 8) & 0xff, len & 0xff];
      headers.push(h);
      len += h.length;
    }
    const buf = Uint8Array.from([...headers.reverse().flat(), 0x05, 0x00]);
    expect(decodeDer(buf).bytes.length).toBe(buf.length);
    const start = performance.now();
    expect(derError(() => decodeDerTree(buf)).message).toMatch(/nesting deeper than/);
    expect(performance.now() - start).toBeLessThan(100);
  });

  it(`bounds what a small input can claim: ${MAX_DER_CHILDREN} children, 2100-byte INTEGERs`, () => {
    const many = DER.sequence(...Array.from({ length: MAX_DER_CHILDREN + 1 }, () => DER.null()));
    expect(derError(() => decodeDer(many).children()).message).toMatch(/more than 10000 elements in one SEQUENCE/);
    expect(decodeDer(DER.sequence(...Array.from({ length: MAX_DER_CHILDREN }, () => DER.null()))).children()).toHaveLength(MAX_DER_CHILDREN);
    const big = DER.integer(1n << BigInt(8 * 2100));
    expect(derError(() => decodeDer(big).integer()).message).toMatch(/INTEGER longer than 2100 bytes/);
  });

  it('rejects every truncation of a valid encoding', () => {
    const der = DER.sequence(DER.integer(123456789n), DER.sequence(DER.oid('1.2.840.113549.1.1.11'), DER.null()), DER.bitString(new Uint8Array(300)));
    for (let n = 0; n < der.length; n++) expect(() => decodeDerTree(der.subarray(0, n))).toThrow(X509Error);
  });

  it('matches openssl asn1parse on what the encoder writes', () => {
    const der = DER.sequence(DER.integer(-129n), DER.oid('2.5.29.17'), DER.utcTime(new Date('2030-01-02T03:04:05Z')), DER.explicit(0, DER.utf8String('hé')));
    const out = execFileSync('openssl', ['asn1parse', '-inform', 'DER'], { input: der, encoding: 'utf8' });
    expect(out).toMatch(/INTEGER\s+:-81/);
    expect(out).toMatch(/OBJECT\s+:X509v3 Subject Alternative Name/);
    expect(out).toMatch(/UTCTIME\s+:300102030405Z/);
    expect(out).toMatch(/cont \[ 0 \]/);
    expect(out).toMatch(/UTF8STRING\s+:h/);
  });
});

describe('names', () => {
  it('encodes in Go order with multi-valued RDNs, Printable when possible', () => {
    const der = encodeName({ commonName: 'a.example', organization: ['SPIRE', 'Ünï'], country: 'US', serialNumber: '42', extra: [{ oid: '1.2.3.4', value: 'x' }] });
    const name = parseName(decodeDer(der), 'subject');
    // DER sorts the SET: the shorter UTF8String attribute comes first.
    expect(name.rdns.map((r) => r.map((a) => a.value))).toEqual([['US'], ['Ünï', 'SPIRE'], ['a.example'], ['42'], ['x']]);
    expect(formatName(name)).toBe('1.2.3.4=x,SERIALNUMBER=42,CN=a.example,O=Ünï+O=SPIRE,C=US');
    const out = execFileSync('openssl', ['asn1parse', '-inform', 'DER'], { input: der, encoding: 'utf8' });
    expect(out).toMatch(/PRINTABLESTRING\s+:SPIRE/);
    expect(out).toMatch(/UTF8STRING/);
    expect(nameToSpec(name)).toEqual({ country: ['US'], organization: ['Ünï', 'SPIRE'], commonName: 'a.example', serialNumber: '42', extra: [{ oid: '1.2.3.4', value: 'x' }] });
    expect(encodeName(nameToSpec(name))).toEqual(der);
  });

  it('escapes RFC 4514 specials', () => {
    const name = parseName(decodeDer(encodeName({ commonName: ' a,b+c"d\\ ', organization: '#x' })), 'n');
    expect(formatName(name)).toBe('CN=\\ a\\,b\\+c\\"d\\\\\\ ,O=\\#x');
  });

  it('an empty name is an empty SEQUENCE', () => {
    expect(hex(encodeName({}))).toBe('3000');
  });
});

describe('PEM', () => {
  it('round-trips and filters by label', () => {
    const a = DER.octetString(new Uint8Array(100).fill(7));
    const text = `junk\n${pemEncode('CERTIFICATE', a)}${pemEncode('PRIVATE KEY', DER.null())}`;
    expect(pemDecode(text, 'CERTIFICATE')).toEqual([a]);
    expect(pemDecode(text)).toHaveLength(2);
    expect(pemEncode('CERTIFICATE', a).split('\n')[1]).toHaveLength(64);
    expect(() => pemDecode('-----BEGIN CERTIFICATE-----\nAAAA\n')).toThrow(/unterminated/);
    expect(() => pemDecode('-----BEGIN CERTIFICATE-----\nA*AA\n-----END CERTIFICATE-----')).toThrow(/base64/);
    expect(() => pemDecode('-----BEGIN A-----\n-----END B-----')).toThrow(/ends with END B/);
  });
});
