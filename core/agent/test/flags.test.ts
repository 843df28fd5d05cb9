import { describe, expect, it } from 'vitest';
import { AGENT_FLAGS, flagsUsage, parseFlags } from '@spire-ts/agent';
import type { FlagsResult } from '@spire-ts/agent';

describe('parseFlags (spire-agent run / validate)', () => {
  const cases: [string, string[], FlagsResult][] = [
    ['nothing', [], { kind: 'ok', flags: {} }],
    ['-config and -expandEnv', ['-config=agent.conf', '-expandEnv'], { kind: 'ok', flags: { config: 'agent.conf', expandEnv: true } }],
    [
      'every SPIRE value flag',
      ['-serverAddress', 'spire', '-serverPort', '0x1f91', '-trustDomain', 'example.org', '-trustBundle', 'b.pem', '-trustBundleUrl', 'https://x/b', '-trustBundleFormat', 'spiffe', '-joinToken', 't', '-joinTokenFile', 'f', '-dataDir', 'd', '-rebootstrapMode', 'auto', '-rebootstrapDelay', '1m', '-socketPath', '/s'],
      {
        kind: 'ok',
        flags: { serverAddress: 'spire', serverPort: 8081, trustDomain: 'example.org', trustBundle: 'b.pem', trustBundleUrl: 'https://x/b', trustBundleFormat: 'spiffe', joinToken: 't', joinTokenFile: 'f', dataDir: 'd', rebootstrapMode: 'auto', rebootstrapDelay: '1m', socketPath: '/s' },
      },
    ],
    [
      'booleans',
      ['-insecureBootstrap', '-disableSDSAPI=true', '-disableWorkloadAPI=false', '--allowUnauthenticatedVerifiers', '-logSourceLocation'],
      { kind: 'ok', flags: { insecureBootstrap: true, disableSDSAPI: true, disableWorkloadAPI: false, allowUnauthenticatedVerifiers: true, logSourceLocation: true } },
    ],
    ['the last occurrence wins', ['-joinToken', 'a', '-joinToken', 'b'], { kind: 'ok', flags: { joinToken: 'b' } }],
    ['help', ['-h'], { kind: 'help' }],
    ['an unknown flag, with a suggestion', ['-joinTokn', 'x'], { kind: 'error', message: 'flag provided but not defined: -joinTokn (did you mean -joinToken?)' }],
    ['a server flag', ['-bindAddress', 'x'], { kind: 'error', message: 'flag provided but not defined: -bindAddress' }],
    ['a bad port', ['-serverPort', '99999'], { kind: 'error', message: 'invalid value "99999" for flag -serverPort: expected a port number (0-65535)' }],
    ['a bad bundle format', ['-trustBundleFormat', 'der'], { kind: 'error', message: 'invalid value "der" for flag -trustBundleFormat: invalid trust bundle format "der" (expected "pem" or "spiffe")' }],
    ['a bad rebootstrap mode', ['-rebootstrapMode', 'sometimes'], { kind: 'error', message: 'invalid value "sometimes" for flag -rebootstrapMode: unknown rebootstrap mode "sometimes" (expected "never", "auto" or "always")' }],
    ['a bad duration', ['-rebootstrapDelay', '10'], { kind: 'error', message: 'invalid value "10" for flag -rebootstrapDelay: invalid duration "10" (expected a Go duration like "10m")' }],
    ['a positional config file', ['agent.conf'], { kind: 'error', message: 'unexpected argument "agent.conf": only flags are accepted (did you mean -config agent.conf?)' }],
    ['a missing value', ['-config'], { kind: 'error', message: 'flag needs an argument: -config' }],
  ];
  it.each(cases)('%s', (_name, args, expected) => {
    expect(parseFlags(args)).toEqual(expected);
  });

  it('lists the flags sorted by name, as Go prints them', () => {
    const names = AGENT_FLAGS.map((f) => f.name);
    expect(names).toEqual([...names].sort((a, b) => (a < b ? -1 : 1)));
    const usage = flagsUsage('run');
    expect(usage.startsWith('Usage of run:\n  -allowUnauthenticatedVerifiers\n    \t')).toBe(true);
    expect(usage).toContain('  -config string\n    \tPath to a SPIRE agent config file (default "conf/agent/agent.conf")\n');
    expect(usage).toContain('  -serverPort int\n');
  });
});
