import { describe, expect, it } from 'vitest';
import { HandshakeError, parseHandshake } from '@spire-ts/common';

describe('parseHandshake', () => {
  const ok: Array<[string, string, { network: 'unix' | 'tcp'; address: string; appVersion?: number }, number[]?]> = [
    ['go-plugin line with trailing |', '1|1|unix|/tmp/plugin123|grpc|', { network: 'unix', address: '/tmp/plugin123' }],
    ['trailing newline', '1|1|unix|/tmp/p.sock|grpc|\n', { network: 'unix', address: '/tmp/p.sock' }],
    ['CRLF', '1|1|unix|/tmp/p.sock|grpc|\r\n', { network: 'unix', address: '/tmp/p.sock' }],
    ['no sixth field', '1|1|unix|/tmp/p.sock|grpc', { network: 'unix', address: '/tmp/p.sock' }],
    ['tcp', '1|1|tcp|127.0.0.1:10001|grpc|', { network: 'tcp', address: '127.0.0.1:10001' }],
    ['short sixth field is not a certificate', '1|1|unix|/tmp/p|grpc|abc', { network: 'unix', address: '/tmp/p' }],
    ['other accepted app version', '1|2|unix|/tmp/p|grpc|', { network: 'unix', address: '/tmp/p', appVersion: 2 }, [1, 2]],
  ];
  it.each(ok)('accepts: %s', (_name, line, want, accepted) => {
    const hs = accepted ? parseHandshake(line, accepted) : parseHandshake(line);
    expect(hs).toEqual({ coreVersion: 1, appVersion: want.appVersion ?? 1, network: want.network, address: want.address, protocol: 'grpc' });
  });

  const bad: Array<[string, string, RegExp]> = [
    ['garbage', 'hello, I am not a plugin', /malformed handshake line "hello, I am not a plugin".*print something else to stdout/],
    ['empty line', '', /malformed handshake line ""/],
    ['three fields', '1|1|unix', /malformed handshake line "1\|1\|unix"/],
    ['core protocol 2', '2|1|unix|/tmp/p|grpc|', /unsupported core protocol version "2" \(want 1\)/],
    ['app protocol 9', '1|9|unix|/tmp/x|grpc|', /plugin speaks protocol version "9", host accepts 1/],
    ['non-numeric app protocol', '1|one|unix|/tmp/x|grpc|', /protocol version "one"/],
    ['app protocol with junk', '1|1x|unix|/tmp/x|grpc|', /protocol version "1x"/],
    ['unknown network', '1|1|udp|/tmp/x|grpc|', /unsupported network "udp" \(want unix or tcp\)/],
    ['empty address', '1|1|unix||grpc|', /empty address/],
    ['netrpc', '1|1|unix|/tmp/x|netrpc|', /unsupported plugin protocol "netrpc" \(only grpc is supported\)/],
    ['protocol missing = netrpc', '1|1|unix|/tmp/x', /unsupported plugin protocol "netrpc"/],
    ['server certificate (AutoMTLS)', `1|1|unix|/tmp/x|grpc|${'A'.repeat(60)}`, /offered a TLS certificate but AutoMTLS is not enabled/],
  ];
  it.each(bad)('rejects: %s', (_name, line, message) => {
    let err: unknown;
    try {
      parseHandshake(line);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HandshakeError);
    expect((err as Error).message).toMatch(message);
  });

  it('quotes and truncates a long line in the message', () => {
    const line = 'x'.repeat(1000);
    expect(() => parseHandshake(line)).toThrow(/"x{200}…"/);
  });
});
