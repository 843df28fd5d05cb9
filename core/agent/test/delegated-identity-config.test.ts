// `authorized_delegates`: SPIRE's check that every delegate is a member of the
// agent's trust domain, and the runtime value the admin API is given.
import { describe, expect, it } from 'vitest';
import { BUNDLE, agent, check, lines } from './helpers.js';

describe('authorized_delegates', () => {
  it('accepts members of the trust domain', () => {
    const v = check(agent(`${BUNDLE}\n  authorized_delegates = ["spiffe://example.org/cilium", "spiffe://example.org/ztunnel"]`));
    expect(lines(v.errors)).toEqual([]);
    expect(v.merged.agent.authorized_delegates).toEqual(['spiffe://example.org/cilium', 'spiffe://example.org/ztunnel']);
  });

  it('rejects a delegate of another trust domain, at its position', () => {
    const v = check(agent(`${BUNDLE}\n  authorized_delegates = ["spiffe://example.org/ok", "spiffe://other.org/cilium"]`));
    expect(lines(v.errors)).toEqual(['agent.conf:6:54: error validating authorized delegate: SPIFFE ID "spiffe://other.org/cilium" is not a member of trust domain "example.org"']);
  });

  it('checks against a trust domain given by flag', () => {
    const v = check(agent(`${BUNDLE}\n  authorized_delegates = ["spiffe://example.org/cilium"]`), { trustDomain: 'prod.example' });
    expect(lines(v.errors)).toEqual(['agent.conf:6:27: error validating authorized delegate: SPIFFE ID "spiffe://example.org/cilium" is not a member of trust domain "prod.example"']);
  });
});
