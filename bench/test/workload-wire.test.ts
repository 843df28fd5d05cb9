import { describe, expect, it } from 'vitest';
import { serviceCodecs } from '@spire-ts/proto/codec';
import { countSvids } from '../src/workload-wire.js';

const api = serviceCodecs('SpiffeWorkloadAPI');
const x509 = (svids: object[]): Buffer => api.FetchX509SVID!.responseSerialize({ svids, crl: [Buffer.from([9])], federated_bundles: { 'spiffe://other.org': Buffer.from([7]) } });
const jwt = (svids: object[]): Buffer => api.FetchJWTSVID!.responseSerialize({ svids });
const good = (i: number): object => ({ spiffe_id: `spiffe://example.org/w/${i}`, x509_svid: Buffer.alloc(300, 1), x509_svid_key: Buffer.alloc(100, 2), bundle: Buffer.alloc(200, 3), hint: 'h' });

describe('countSvids', () => {
  it('counts well-formed X.509-SVIDs among other fields', () => {
    expect(countSvids(x509(Array.from({ length: 10 }, (_, i) => good(i))), 'x509')).toBe(10);
    expect(countSvids(x509([]), 'x509')).toBe(0);
  });

  it('rejects an X.509-SVID without an ID, certificate or key, and truncated messages', () => {
    expect(countSvids(x509([good(0), { ...good(1), spiffe_id: 'example.org/w' }]), 'x509')).toBe(-1);
    expect(countSvids(x509([{ ...good(1), x509_svid: Buffer.alloc(0) }]), 'x509')).toBe(-1);
    expect(countSvids(x509([{ ...good(1), x509_svid_key: Buffer.alloc(0) }]), 'x509')).toBe(-1);
    const whole = x509([good(0), good(1)]);
    expect(countSvids(whole.subarray(0, whole.length - 50), 'x509')).toBe(-1);
  });

  it('checks JWT-SVIDs have three non-empty parts', () => {
    const t = (svid: string): object => ({ spiffe_id: 'spiffe://example.org/w', svid, hint: '' });
    expect(countSvids(jwt([t('aa.bb.cc'), t('x.y.z')]), 'jwt')).toBe(2);
    for (const bad of ['aa.bb', 'aa.bb.cc.dd', '.bb.cc', 'aa..cc', 'aa.bb.', '']) expect(countSvids(jwt([t(bad)]), 'jwt')).toBe(-1);
  });
});
