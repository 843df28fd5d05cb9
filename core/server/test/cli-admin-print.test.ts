// The admin CLI's pure parts: flags, printers, proto-JSON, registration JSON, bundles.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildCertificate, caTemplate, cliFlagsUsage, goCodeName, goJson, keyObjectSigner, parseCliFlags, parseGoDuration } from '@spire-ts/common';
import type { CliFlag } from '@spire-ts/common';
import type { apiTypes } from '@spire-ts/proto';
import { formatBundle, parseBundleInput } from '../src/cli/admin/bundle.js';
import { DEFAULT_SOCKET_PATH, socketPathFor } from '../src/cli/admin/client.js';
import { parseEntriesJson } from '../src/cli/admin/entry-data.js';
import { formatAgent, formatAgentList, formatEntry, formatEntryFailure, goQuote, goTimeUTC, sortEntries } from '../src/cli/admin/print.js';
import { protoJsonLine, protoJsonObject } from '../src/cli/admin/protojson.js';

const td = (path: string) => ({ trust_domain: 'example.org', path });

function entry(over: Partial<apiTypes.Entry__Output> = {}): apiTypes.Entry__Output {
  return {
    id: 'id1', spiffe_id: td('/w'), parent_id: td('/p'), selectors: [], x509_svid_ttl: 0, federates_with: [], admin: false, downstream: false,
    expires_at: 0, dns_names: [], revision_number: 0, store_svid: false, jwt_svid_ttl: 0, hint: '', created_at: 0, ...over,
  } as apiTypes.Entry__Output;
}

describe('flags', () => {
  const specs: CliFlag[] = [
    { name: 'selector', kind: 'strings', usage: 'sel' },
    { name: 'ttl', kind: 'int', usage: 'ttl', default: 600 },
    { name: 'banned', kind: 'tristate', usage: 'b' },
    { name: 'admin', kind: 'bool', usage: 'a' },
    { name: 'd', kind: 'duration', usage: 'd' },
  ];
  it('collects repeated flags, ints, tristates, durations', () => {
    const r = parseCliFlags(['-selector', 'a:1', '--selector=b:2', '-ttl', '0x10', '-banned', 'false', '-admin', '-d', '1h1m1.5s'], specs);
    if (r.kind !== 'ok') throw new Error(JSON.stringify(r));
    expect(r.flags.list('selector')).toEqual(['a:1', 'b:2']);
    expect(r.flags.int('ttl')).toBe(16);
    expect(r.flags.tristate('banned')).toBe(false);
    expect(r.flags.bool('admin')).toBe(true);
    expect(r.flags.int('d')).toBe(3_661_500);
    expect([...r.flags.given].sort()).toEqual(['admin', 'banned', 'd', 'selector', 'ttl']);
    const defaults = parseCliFlags(['-banned', 'whatever'], specs);
    if (defaults.kind !== 'ok') throw new Error('expected ok');
    expect(defaults.flags.int('ttl')).toBe(600);
    expect(defaults.flags.tristate('banned')).toBeUndefined();
  });
  it('refuses bad values, unknown flags and positional arguments', () => {
    expect(parseCliFlags(['-ttl', 'ten'], specs)).toEqual({ kind: 'error', message: 'invalid value "ten" for flag -ttl: expected an integer (e.g. 600)' });
    expect(parseCliFlags(['-d', '10'], specs)).toMatchObject({ kind: 'error', message: expect.stringContaining('expected a duration with a unit') });
    expect(parseCliFlags(['-selectors', 'x'], specs)).toEqual({ kind: 'error', message: 'flag provided but not defined: -selectors (did you mean -selector?)' });
    expect(parseCliFlags(['stray'], specs)).toMatchObject({ kind: 'error' });
    expect(parseCliFlags(['-selector'], specs)).toEqual({ kind: 'error', message: 'flag needs an argument: -selector' });
    expect(parseCliFlags(['-h'], specs)).toEqual({ kind: 'help' });
  });
  it('parses Go durations and prints Go-style usage', () => {
    expect(parseGoDuration('0')).toBe(0);
    expect(parseGoDuration('90s')).toBe(90_000);
    expect(parseGoDuration('1.5h')).toBe(5_400_000);
    expect(parseGoDuration('-2m')).toBe(-120_000);
    expect(parseGoDuration('5')).toBeUndefined();
    expect(parseGoDuration('1x')).toBeUndefined();
    expect(cliFlagsUsage('t', specs.slice(0, 2))).toBe('Usage of t:\n  -selector value\n    \tsel\n  -ttl int\n    \tttl (default 600)\n');
  });
});

describe('printers', () => {
  it('prints every entry field as SPIRE', () => {
    const e = entry({
      downstream: true, x509_svid_ttl: 3600, expires_at: 1_700_000_000, revision_number: 7,
      selectors: [{ type: 'unix', value: 'uid:0' }], federates_with: ['other.org'], dns_names: ['a.example'], admin: true, store_svid: true, hint: 'h',
      additional_attributes: { disable_x509_svid_prefetch: true, jwt_svid_include_jti: true },
    });
    expect(formatEntry(e)).toBe(
      [
        'Entry ID                : id1',
        'SPIFFE ID               : spiffe://example.org/w',
        'Parent ID               : spiffe://example.org/p',
        'Revision                : 7',
        'Downstream              : true',
        'X509-SVID TTL           : 3600',
        'JWT-SVID TTL            : default',
        'Expiration time         : 2023-11-14 22:13:20 +0000 UTC',
        'Selector                : unix:uid:0',
        'FederatesWith           : other.org',
        'DNS name                : a.example',
        'Admin                   : true',
        'StoreSvid               : true',
        'Hint                    : h',
        'DisableX509SvidPrefetch : true',
        'JwtSvidIncludeJti       : true',
        '',
        '',
      ].join('\n'),
    );
    expect(formatEntryFailure('update', { code: 5, message: 'entry "x" not found' }, { spiffe_id: td('/w') })).toMatch(/^Failed to update the following entry \(code: NotFound, msg: "entry \\"x\\" not found"\):\nEntry ID {16}: \(none\)\n/);
  });
  it('prints agents', () => {
    const a = { id: td('/spire/agent/x'), attestation_type: 'join_token', x509svid_serial_number: '12', x509svid_expires_at: 0, selectors: [{ type: 't', value: 'v' }], banned: false, can_reattest: true, agent_version: '1.2.3' };
    expect(formatAgent(a, true)).toBe(
      'SPIFFE ID         : spiffe://example.org/spire/agent/x\nAttestation type  : join_token\nExpiration time   : 1970-01-01 00:00:00 +0000 UTC\nSerial number     : 12\nCan re-attest     : true\nAgent version     : 1.2.3\n\nSelectors         : t:v\n',
    );
    expect(formatAgentList([{ ...a, banned: true }])).toMatch(/^Found 1 attested agent:\n\nSPIFFE ID .*\nBanned            : true\nCan re-attest/s);
  });
  it("quotes as Go's %q and names codes as grpc-go", () => {
    expect(goQuote('a\t"b"\\\u0001é')).toBe('"a\\t\\"b\\"\\\\\\x01é"');
    expect(goCodeName(9)).toBe('FailedPrecondition');
    expect(goCodeName(99)).toBe('Code(99)');
    expect(goTimeUTC(86_399)).toBe('1970-01-01 23:59:59 +0000 UTC');
  });
  it('sorts entries and selectors as SPIRE', () => {
    const list = [
      entry({ id: 'c', spiffe_id: td('/b') }),
      entry({ id: 'b', spiffe_id: td('/a'), jwt_svid_ttl: 5 }),
      entry({ id: 'a', spiffe_id: td('/a'), selectors: [{ type: 'z', value: '1' }, { type: 'a', value: '2' }] }),
    ];
    sortEntries(list);
    expect(list.map((e) => e.id)).toEqual(['a', 'b', 'c']);
    expect(list[0]!.selectors.map((s) => s.type)).toEqual(['a', 'z']);
  });
});

describe('proto JSON', () => {
  it('emits unpopulated fields, int64 as strings, sorted keys, and drops unset messages', () => {
    const obj = protoJsonObject('spire.api.server.entry.v1.Entry', 'spire.api.types.Entry', { id: 'x', spiffe_id: td('/w'), revision_number: 3 });
    expect(obj).toEqual({
      id: 'x', spiffe_id: { trust_domain: 'example.org', path: '/w' }, selectors: [], x509_svid_ttl: 0, federates_with: [], admin: false, downstream: false,
      expires_at: '0', dns_names: [], revision_number: '3', store_svid: false, jwt_svid_ttl: 0, hint: '', created_at: '0',
    });
    expect(protoJsonLine('spire.api.server.entry.v1.Entry', 'spire.api.server.entry.v1.CountEntriesResponse', { count: 2 })).toBe('{"count":2}\n');
  });
  it('unwraps wrappers, names enums, base64s bytes and escapes HTML as Go', () => {
    const filter = protoJsonObject('spire.api.server.entry.v1.Entry', 'spire.api.server.entry.v1.ListEntriesRequest', {
      filter: { by_hint: { value: '<a&b>' }, by_downstream: { value: false }, by_selectors: { selectors: [], match: 'MATCH_ANY' } },
    });
    expect(goJson(filter)).toBe(
      '{"filter":{"by_downstream":false,"by_hint":"\\u003ca\\u0026b\\u003e","by_selectors":{"match":"MATCH_ANY","selectors":[]}},"page_size":0,"page_token":""}',
    );
    const b = protoJsonObject('spire.api.server.bundle.v1.Bundle', 'spire.api.types.Bundle', { trust_domain: 't', x509_authorities: [{ asn1: Buffer.from([1, 2, 3]) }] });
    expect(b.x509_authorities).toEqual([{ asn1: 'AQID', tainted: false }]);
    expect(b.refresh_hint).toBe('0');
  });
  it('knows unknown types are a bug', () => {
    expect(() => protoJsonObject('spire.api.server.entry.v1.Entry', 'nope.Nope', {})).toThrow(/no message nope.Nope/);
  });
});

describe('registration JSON and socket', () => {
  it('reads SPIRE registration JSON', () => {
    const [e] = parseEntriesJson(
      JSON.stringify({ entries: [{ Spiffe_ID: 'spiffe://example.org/w', parent_id: 'spiffe://example.org/p', selectors: [{ type: 'unix', value: 'uid:0' }], federates_with: ['spiffe://other.org'], entryExpiry: 5, unknown: 1, admin: true }] }),
      'f.json',
    );
    expect(e).toMatchObject({ spiffe_id: td('/w'), parent_id: td('/p'), federates_with: ['other.org'], expires_at: 5, admin: true, selectors: [{ type: 'unix', value: 'uid:0' }] });
    expect(() => parseEntriesJson('{"entries":[{"spiffe_id":"spiffe://example.org/w","parent_id":"spiffe://example.org/p","x509_svid_ttl":"60"}]}', 'f.json')).toThrow('f.json: entries[0].x509_svid_ttl: expected an integer, got "60"');
    expect(() => parseEntriesJson('{"entries":[{"spiffe_id":"http://x","parent_id":"spiffe://example.org/p"}]}', 'f.json')).toThrow(
      /^f.json: entries\[0\]: invalid SPIFFE ID "http:\/\/x": scheme is missing or invalid: want "spiffe:\/\/", got "http:\/\/"$/,
    );
    expect(() => parseEntriesJson('{"entries":[{"spiffe_id":"spiffe://example.org/w","parent_id":"spiffe://example.org/p","federates_with":["spiffe://A"]}]}', 'f.json')).toThrow(
      /^f.json: entries\[0\]: invalid federated trust domain "spiffe:\/\/A": trust domain characters are limited .* \(trust domains must be lowercase\)$/,
    );
    expect(() => parseEntriesJson('[', 'stdin')).toThrow(/^stdin is not valid JSON/);
  });
  it('chooses the socket as SPIRE', () => {
    expect(socketPathFor({ socketPath: DEFAULT_SOCKET_PATH, instance: '' }, {})).toBe(DEFAULT_SOCKET_PATH);
    expect(socketPathFor({ socketPath: DEFAULT_SOCKET_PATH, instance: '' }, { SPIRE_SERVER_PRIVATE_SOCKET: '/s' })).toBe('/s');
    expect(socketPathFor({ socketPath: DEFAULT_SOCKET_PATH, instance: 'a' }, { SPIRE_SERVER_PRIVATE_SOCKET_TEMPLATE: '/r/%i.sock', SPIRE_SERVER_PRIVATE_SOCKET: '/s' })).toBe('/r/a.sock');
    expect(socketPathFor({ socketPath: '/x', instance: 'a' }, { SPIRE_SERVER_PRIVATE_SOCKET_TEMPLATE: '/r/%i' })).toBe('/x');
    expect(() => socketPathFor({ socketPath: DEFAULT_SOCKET_PATH, instance: 'a' }, {})).toThrow('you must define SPIRE_SERVER_PRIVATE_SOCKET_TEMPLATE to use the instance flag');
    expect(() => socketPathFor({ socketPath: DEFAULT_SOCKET_PATH, instance: 'a' }, { SPIRE_SERVER_PRIVATE_SOCKET_TEMPLATE: '/r' })).toThrow('failed to find %i in SPIRE_SERVER_PRIVATE_SOCKET_TEMPLATE');
  });
});

describe('bundles', () => {
  it('round-trips PEM and SPIFFE bundle input and prints both formats', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const der = await buildCertificate(caTemplate({ trustDomain: 'other.org', now: new Date(), ttlMs: 3.6e6 }), {
      signer: keyObjectSigner(privateKey),
      publicKeyDer: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
    });
    const proto = { trust_domain: 'other.org', x509_authorities: [{ asn1: Buffer.from(der), tainted: false }], jwt_authorities: [], refresh_hint: 300, sequence_number: 2 } as unknown as apiTypes.Bundle__Output;
    const pem = formatBundle(proto, 'pem', true);
    expect(pem).toMatch(/^\*{40}\n\* other\.org\n\*{40}\n-----BEGIN CERTIFICATE-----\n/);
    const fromPem = parseBundleInput(pem, 'pem', 'spiffe://other.org');
    expect(fromPem).toEqual({ trust_domain: 'spiffe://other.org', x509_authorities: [{ asn1: Buffer.from(der) }] });
    const doc = formatBundle(proto, 'spiffe', false);
    expect(JSON.parse(doc)).toMatchObject({ keys: [{ use: 'x509-svid', kty: 'EC' }], spiffe_sequence: 2, spiffe_refresh_hint: 300 });
    expect(doc.startsWith('{\n    "keys": [')).toBe(true);
    expect(parseBundleInput(doc, 'spiffe', 'spiffe://other.org')).toMatchObject({ trust_domain: 'other.org', refresh_hint: 300, sequence_number: 2, x509_authorities: [{ asn1: Buffer.from(der) }] });
    expect(() => parseBundleInput('nothing', 'pem', 'x')).toThrow(/no PEM CERTIFICATE blocks found/);
    expect(() => parseBundleInput('{', 'spiffe', 'other.org')).toThrow(/^unable to parse to spiffe bundle: /);
  });
});
