import { describe, expect, it } from 'vitest';
import { maxSvidTtlFor, minCaTtlFor, shortDuration } from '@spire-ts/server';
import type { FlagValues } from '@spire-ts/server';
import { check, lines, server } from './helpers.js';

const plugins = (body: string): string => `plugins {\n${body}\n}\n`;

describe('validateConfig: errors', () => {
  const cases: [string, string, FlagValues, string[]][] = [
    ['a minimal configuration is valid', server(), {}, []],
    [
      'two DataStores',
      server('', plugins('  DataStore "sql" {}\n  DataStore "other" {}\n  KeyManager "memory" {}')),
      {},
      ['server.conf:8:13: plugins.DataStore: exactly one DataStore plugin is allowed; DataStore "sql" is already declared at line 7'],
    ],
    [
      'two DataStores in two blocks',
      server('', plugins('  DataStore "sql" {}\n  KeyManager "memory" {}') + plugins('  DataStore "sql2" {}')),
      {},
      ['server.conf:11:13: plugins.DataStore: exactly one DataStore plugin is allowed; DataStore "sql" is already declared at line 7'],
    ],
    [
      'missing DataStore',
      server('', plugins('  KeyManager "memory" {}')),
      {},
      ['server.conf:6:1: plugins: exactly one DataStore plugin is required, found none; for example DataStore "sql"'],
    ],
    [
      'disabled DataStore',
      server('', plugins('  DataStore "sql" {\n    enabled = false\n  }\n  KeyManager "memory" {}')),
      {},
      ['server.conf:6:1: plugins: exactly one DataStore plugin is required, found none enabled (DataStore "sql" has enabled = false); for example DataStore "sql"'],
    ],
    [
      'missing KeyManager',
      server('', plugins('  DataStore "sql" {}')),
      {},
      ['server.conf:6:1: plugins: exactly one KeyManager plugin is required, found none; for example KeyManager "disk" or KeyManager "memory"'],
    ],
    [
      'two KeyManagers (a disabled third does not count)',
      server('', plugins('  DataStore "sql" {}\n  KeyManager "disk" {}\n  KeyManager "memory" {}\n  KeyManager "aws_kms" {\n    enabled = false\n  }')),
      {},
      ['server.conf:9:14: plugins.KeyManager: exactly one KeyManager plugin is allowed; KeyManager "disk" is already declared at line 8'],
    ],
    [
      'the same KeyManager twice (left to the plugin declarations)',
      server('', plugins('  DataStore "sql" {}\n  KeyManager "memory" {}\n  KeyManager "memory" {}')),
      {},
      [],
    ],
    [
      'two UpstreamAuthorities',
      server('', plugins('  DataStore "sql" {}\n  KeyManager "memory" {}\n  UpstreamAuthority "disk" {}\n  UpstreamAuthority "vault" {}')),
      {},
      ['server.conf:10:21: plugins.UpstreamAuthority: at most one UpstreamAuthority plugin is allowed; UpstreamAuthority "disk" is already declared at line 9'],
    ],
    ['no plugins block', 'server {\n  trust_domain = "a.test"\n  data_dir = "/d"\n}\n', {}, ['server.conf:1:1: missing required key "plugins" (the server needs a DataStore and a KeyManager plugin)']],
    [
      'missing trust_domain and data_dir',
      'server {\n  bind_port = 1\n}\n' + plugins('  DataStore "sql" {}\n  KeyManager "memory" {}'),
      {},
      [
        'server.conf:1:1: missing required key "trust_domain" in server (or set it with -trustDomain)',
        'server.conf:1:1: missing required key "data_dir" in server (or set it with -dataDir)',
      ],
    ],
    ['trust_domain and data_dir from flags', plugins('  DataStore "sql" {}\n  KeyManager "memory" {}'), { trustDomain: 'a.test', dataDir: '/d' }, []],
    [
      'event_timeout and sql_transaction_timeout',
      server('  experimental {\n    event_timeout = "1m"\n    sql_transaction_timeout = "1m"\n  }'),
      {},
      ['server.conf:6:5: server.experimental: both event_timeout and sql_transaction_timeout are set; set only event_timeout'],
    ],
    [
      'named_pipe_name off Windows',
      server('  experimental {\n    named_pipe_name = "\\\\spire-server\\\\private\\\\api"\n  }'),
      {},
      ['server.conf:5:5: server.experimental.named_pipe_name: named pipes exist only on Windows; use server.socket_path instead'],
    ],
    [
      'federation with a bad trust domain',
      server('  federation {\n    federates_with "Partner.test" {\n      bundle_endpoint_url = "https://p.test"\n      bundle_endpoint_profile "https_web" {}\n    }\n  }'),
      {},
      ['server.conf:5:20: server.federation.federates_with: "Partner.test": invalid trust domain "Partner.test": only lowercase letters, digits, ".", "-" and "_" are allowed (did you mean "partner.test"?)'],
    ],
    [
      'federation with itself',
      server('  federation {\n    federates_with "example.org" {\n      bundle_endpoint_url = "https://p.test"\n      bundle_endpoint_profile "https_web" {}\n    }\n  }'),
      {},
      ['server.conf:5:20: server.federation.federates_with: "example.org" is this server\'s own trust domain'],
    ],
    [
      'bundle endpoint address that is not an IP',
      server('  federation {\n    bundle_endpoint {\n      address = "localhost"\n      profile "https_spiffe" {}\n    }\n  }'),
      {},
      ['server.conf:6:17: server.federation.bundle_endpoint.address: must be an IP address to listen on (got "localhost")'],
    ],
  ];
  it.each(cases)('%s', (_name, text, flags, expected) => expect(lines(check(text, flags).errors)).toEqual(expected));

  it('accepts named_pipe_name on Windows', () => {
    expect(check(server('  experimental {\n    named_pipe_name = "x"\n  }'), {}, 'win32').errors).toEqual([]);
  });
});

describe('validateConfig: warnings (SPIRE logs them and starts)', () => {
  const cases: [string, string, string[]][] = [
    ['none for the defaults (1h SVIDs, 24h CA)', server(), []],
    [
      'X.509-SVID TTL the CA TTL cannot honour',
      server('  default_x509_svid_ttl = "6h"'),
      [
        'server.conf:4:27: warning: default_x509_svid_ttl (6h) is too long for ca_ttl (24h): SVIDs issued near a CA rotation get shorter lifetimes. ' +
          'Set default_x509_svid_ttl to 4h or less, or ca_ttl to 36h or more, to always get the full default_x509_svid_ttl',
      ],
    ],
    [
      'a short ca_ttl makes the default TTLs too long (pointing at ca_ttl)',
      server('  ca_ttl = "20m"'),
      [
        'server.conf:4:12: warning: default_x509_svid_ttl (1h) is too long for ca_ttl (20m): SVIDs issued near a CA rotation get shorter lifetimes. ' +
          'Set default_x509_svid_ttl to 3m20s or less, or ca_ttl to 6h or more, to always get the full default_x509_svid_ttl',
        'server.conf:4:12: warning: default_jwt_svid_ttl (5m) is too long for ca_ttl (20m): SVIDs issued near a CA rotation get shorter lifetimes. ' +
          'Set default_jwt_svid_ttl to 3m20s or less, or ca_ttl to 30m or more, to always get the full default_jwt_svid_ttl',
      ],
    ],
    [
      'agent_ttl above the 7-day cap with a short ca_ttl',
      server('  agent_ttl = "200h"'),
      [
        'server.conf:4:15: warning: agent_ttl (200h) is above the 168h cap and ca_ttl (24h) is too short for it: SVIDs get shorter lifetimes. ' +
          'Set agent_ttl to 168h or less and ca_ttl to 1008h or more, to always get the full agent_ttl',
      ],
    ],
    [
      'agent_ttl above the cap with a long ca_ttl',
      server('  ca_ttl = "2000h"\n  agent_ttl = "200h"'),
      ['server.conf:5:15: warning: agent_ttl (200h) is above the cap: SVIDs get shorter lifetimes. Set agent_ttl to 168h or less to always get the full agent_ttl'],
    ],
    ['an empty ca_subject', server('  ca_subject {}'), ['server.conf:4:3: warning: ca_subject is set but empty; the default subject (C=US, O=SPIFFE) is used']],
    [
      'bundle endpoint without a profile, with a long refresh hint',
      server('  federation {\n    bundle_endpoint {\n      refresh_hint = "48h"\n    }\n  }'),
      [
        'server.conf:5:5: warning: bundle_endpoint has no profile; "https_spiffe" is used. Set profile "https_spiffe" {} (or "https_web") explicitly: SPIRE will require it',
        'server.conf:6:22: warning: refresh_hint 48h is high: federated servers would miss unscheduled bundle updates for that long; a few minutes (e.g. 5m) is recommended',
      ],
    ],
    [
      'an ACME bundle endpoint (parsed, but run refuses it)',
      server('  federation {\n    bundle_endpoint {\n      profile "https_web" {\n        acme {\n          domain_name = "b.example.org"\n          email = "a@example.org"\n          tos_accepted = true\n        }\n      }\n    }\n  }'),
      [
        'server.conf:7:9: warning: server.federation.bundle_endpoint: ACME is not supported by spire-ts, so `run` will refuse this bundle endpoint (it cannot obtain certificates from an ACME CA); use profile "https_web" with serving_cert_file, or profile "https_spiffe"',
      ],
    ],
    [
      'a refresh hint under a minute',
      server('  federation {\n    bundle_endpoint {\n      refresh_hint = "30s"\n      profile "https_spiffe" {}\n    }\n  }'),
      ['server.conf:6:22: warning: refresh_hint 30s is below the 1m minimum: bundles are not refreshed more often than once a minute'],
    ],
    [
      'experimental features and feature flags',
      server('  experimental {\n    feature_flags = ["wit-svid"]\n  }'),
      [
        'server.conf:4:3: warning: experimental features are enabled: they may change or go away in any release',
        'server.conf:5:21: warning: developer feature flag "wit-svid" is enabled',
      ],
    ],
  ];
  it.each(cases)('%s', (_name, text, expected) => {
    const v = check(text);
    expect(v.errors).toEqual([]);
    expect(lines(v.warnings)).toEqual(expected);
  });
});

describe('TTL arithmetic (SPIRE: SVID TTL <= min(ca_ttl / 6, 7d))', () => {
  const cases: [number, number, string][] = [
    [86_400_000, 14_400_000, '4h'],
    [1_800_000, 300_000, '5m'],
    [2000 * 3_600_000, 168 * 3_600_000, '168h'],
  ];
  it.each(cases)('ca_ttl %d ms -> max SVID TTL %d ms', (ca, max, text) => {
    expect(maxSvidTtlFor(ca)).toBe(max);
    expect(shortDuration(max)).toBe(text);
  });
  it('formats durations without trailing zero units', () => {
    expect([5_400_000, 3_600_000, 90_000, 45_000, 45_500].map(shortDuration)).toEqual(['1h30m', '1h', '1m30s', '45s', '45s']);
    expect(minCaTtlFor(3_600_000)).toBe(6 * 3_600_000);
  });
});
