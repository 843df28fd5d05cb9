import { describe, expect, it } from 'vitest';
import { flagsUsage, parseFlags, SERVER_FLAGS } from '@spire-ts/server';
import type { FlagsResult } from '@spire-ts/server';

describe('parseFlags (Go flag package rules)', () => {
  const ok = (flags: object): FlagsResult => ({ kind: 'ok', flags });
  const err = (message: string): FlagsResult => ({ kind: 'error', message });
  const cases: [string, string[], FlagsResult][] = [
    ['no flags', [], ok({})],
    ['-name value', ['-config', 'server.conf'], ok({ config: 'server.conf' })],
    ['-name=value', ['-config=server.conf'], ok({ config: 'server.conf' })],
    ['--name value', ['--config', 'server.conf'], ok({ config: 'server.conf' })],
    ['value with "="', ['-config=a=b.conf'], ok({ config: 'a=b.conf' })],
    ['empty value', ['-config='], ok({ config: '' })],
    ['bool flag alone', ['-expandEnv'], ok({ expandEnv: true })],
    ['bool flag =false', ['-expandEnv=false'], ok({ expandEnv: false })],
    ['bool flag =1', ['-logSourceLocation=1'], ok({ logSourceLocation: true })],
    ['last occurrence wins', ['-serverPort', '1', '-serverPort', '2'], ok({ serverPort: 2 })],
    ['hex port', ['-serverPort', '0x1F91'], ok({ serverPort: 8081 })],
    [
      'every override',
      [
        '-bindAddress', '127.0.0.1', '-serverPort', '9081', '-socketPath', '/run/api.sock', '-trustDomain', 'acme.test',
        '-dataDir', '/data', '-logLevel', 'debug', '-logFormat', 'JSON', '-logFile', '/log', '-logSourceLocation',
      ],
      ok({
        bindAddress: '127.0.0.1', serverPort: 9081, socketPath: '/run/api.sock', trustDomain: 'acme.test',
        dataDir: '/data', logLevel: 'debug', logFormat: 'JSON', logFile: '/log', logSourceLocation: true,
      }),
    ],
    ['parsing stops at --', ['-expandEnv', '--'], ok({ expandEnv: true })],
    ['-h', ['-h'], { kind: 'help' }],
    ['--help after flags', ['-config', 'x', '--help'], { kind: 'help' }],
    ['unknown flag with suggestion', ['-confg', 'x'], err('flag provided but not defined: -confg (did you mean -config?)')],
    ['unknown flag, case', ['-trustdomain', 'x'], err('flag provided but not defined: -trustdomain (did you mean -trustDomain?)')],
    ['unknown flag, no suggestion', ['-frobnicate'], err('flag provided but not defined: -frobnicate')],
    ['missing value', ['-config'], err('flag needs an argument: -config')],
    ['bad int', ['-serverPort', 'http'], err('invalid value "http" for flag -serverPort: expected a port number (0-65535)')],
    ['port out of range', ['-serverPort=70000'], err('invalid value "70000" for flag -serverPort: expected a port number (0-65535)')],
    ['bad bool', ['-expandEnv=yes'], err('invalid boolean value "yes" for -expandEnv: expected true or false')],
    [
      'bad trust domain',
      ['-trustDomain', 'spiffe://acme.test'],
      err('invalid value "spiffe://acme.test" for flag -trustDomain: must be a bare trust domain name like "acme.test", not a SPIFFE ID or URL'),
    ],
    ['bad log level', ['-logLevel', 'loud'], err('invalid value "loud" for flag -logLevel: invalid log level "loud" (expected DEBUG, INFO, WARN or ERROR, in any case)')],
    ['bad log format', ['-logFormat', 'xml'], err('invalid value "xml" for flag -logFormat: invalid log format "xml" (expected "text" or "json")')],
    ['bad syntax', ['---config'], err('bad flag syntax: ---config')],
    ['positional argument', ['server.conf'], err('unexpected argument "server.conf": only flags are accepted (did you mean -config server.conf?)')],
    ['argument after --', ['--', 'x'], err('unexpected argument "x": only flags are accepted')],
  ];
  it.each(cases)('%s', (_name, args, expected) => expect(parseFlags(args)).toEqual(expected));
});

describe('flagsUsage', () => {
  it('lists every flag with its kind, as Go prints them', () => {
    const text = flagsUsage('run');
    expect(text.split('\n')[0]).toBe('Usage of run:');
    for (const f of SERVER_FLAGS) expect(text).toContain(`  -${f.name}${f.kind === 'bool' ? '\n' : ` ${f.kind}\n`}`);
    expect(text).toContain('(default "conf/server/server.conf")');
    expect(SERVER_FLAGS.map((f) => f.name)).toEqual([...SERVER_FLAGS.map((f) => f.name)].sort());
  });
});
