/**
 * SVID conversions: issued X.509-SVIDs and JWT-SVIDs to their
 * `spire.api.types` messages, and the certificate facts the DataStore keeps
 * about an agent SVID (serial as a decimal string, NotAfter in Unix seconds).
 */
import { parseCertificate } from '@spire-ts/common';
import type { apiTypes } from '@spire-ts/proto';
import type { IssuedJwtSvid, IssuedX509Svid } from '../../ca/ca.js';
import { protoFromId } from './common.js';

/** `X509SVID{cert_chain: leaf then chain, id, expires_at}`. */
export function x509SvidToProto(spiffeId: string, svid: IssuedX509Svid): apiTypes.X509SVID__Output {
  return {
    cert_chain: [Buffer.from(svid.certificate), ...svid.chain.map((c) => Buffer.from(c))],
    id: protoFromId(spiffeId),
    expires_at: Math.floor(svid.expiresAt.getTime() / 1000),
    hint: '',
  };
}

/** `JWTSVID{token, id, expires_at, issued_at}`. */
export function jwtSvidToProto(spiffeId: string, svid: IssuedJwtSvid): apiTypes.JWTSVID__Output {
  return {
    token: svid.token,
    id: protoFromId(spiffeId),
    expires_at: Math.floor(svid.expiresAt.getTime() / 1000),
    issued_at: Math.floor(svid.issuedAt.getTime() / 1000),
    hint: '',
  };
}

/** What an attested node records of its SVID: the leaf's serial (decimal, as SPIRE's `big.Int.String()`) and NotAfter. */
export function svidRecord(svid: IssuedX509Svid): { serialNumber: string; notAfter: number } {
  const leaf = parseCertificate(svid.certificate);
  return { serialNumber: leaf.serialNumber.toString(10), notAfter: Math.floor(leaf.notAfter.getTime() / 1000) };
}
