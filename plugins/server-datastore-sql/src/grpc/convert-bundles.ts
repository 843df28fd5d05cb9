/**
 * Conversions for bundles, federation relationships, the CA journal, join
 * tokens and change events (see convert.ts for the rules).
 */
import type { datastoreV1 as pb } from '@spire-ts/proto';
import { invalidArgument } from '../errors.js';
import type {
  Bundle, BundleDeleteMode, BundleEndpointProfile, BundleMask, CAJournal, CAJournalInput, EntryEvent, FederationRelationship,
  FederationRelationshipInput, FederationRelationshipMask, JoinToken, JwtAuthority, NewBundle, NodeEvent,
} from '../types.js';
import { bytes, int64, uint64 } from './convert.js';

// ---- Bundles -------------------------------------------------------------------

export function jwtAuthorityToProto(k: JwtAuthority, field = 'jwtAuthority'): pb.JWTAuthority {
  return { key_id: k.keyId, public_key: k.publicKey, expires_at: int64(k.expiresAt, `${field}.expiresAt`), tainted: k.tainted };
}

export function jwtAuthorityFromProto(p: pb.JWTAuthority__Output): JwtAuthority {
  return { keyId: p.key_id, publicKey: bytes(p.public_key), expiresAt: p.expires_at, tainted: p.tainted };
}

export function bundleToProto(b: NewBundle, field = 'bundle'): pb.Bundle {
  return {
    trust_domain: b.trustDomain,
    x509_authorities: b.x509Authorities?.map((a) => ({ asn1: a.asn1, tainted: a.tainted })),
    jwt_authorities: b.jwtAuthorities?.map((k, i) => jwtAuthorityToProto(k, `${field}.jwtAuthorities[${i}]`)),
    refresh_hint: int64(b.refreshHint, `${field}.refreshHint`),
    sequence_number: uint64(b.sequenceNumber, `${field}.sequenceNumber`),
  };
}

export function bundleFromProto(p: pb.Bundle__Output): Bundle {
  return {
    trustDomain: p.trust_domain,
    x509Authorities: p.x509_authorities.map((a) => ({ asn1: bytes(a.asn1), tainted: a.tainted })),
    jwtAuthorities: p.jwt_authorities.map(jwtAuthorityFromProto),
    refreshHint: p.refresh_hint,
    sequenceNumber: p.sequence_number,
  };
}

export function bundleMaskToProto(m: BundleMask | undefined): pb.BundleMask | undefined {
  if (m === undefined) return undefined;
  return {
    x509_authorities: m.x509Authorities === true,
    jwt_authorities: m.jwtAuthorities === true,
    refresh_hint: m.refreshHint === true,
    sequence_number: m.sequenceNumber === true,
  };
}

export function bundleMaskFromProto(m: pb.BundleMask__Output | null): BundleMask | undefined {
  if (!m) return undefined;
  return { x509Authorities: m.x509_authorities, jwtAuthorities: m.jwt_authorities, refreshHint: m.refresh_hint, sequenceNumber: m.sequence_number };
}

export function deleteModeToProto(m: BundleDeleteMode | undefined): pb.BundleDeleteMode | undefined {
  switch (m) {
    case undefined: case 'restrict': return undefined;
    case 'delete': return 'BUNDLE_DELETE_DELETE';
    case 'dissociate': return 'BUNDLE_DELETE_DISSOCIATE';
    default: throw invalidArgument(`mode: unknown bundle delete mode ${JSON.stringify(m)}`);
  }
}

export function deleteModeFromProto(m: pb.BundleDeleteMode__Output): BundleDeleteMode {
  switch (m) {
    case 'BUNDLE_DELETE_RESTRICT': return 'restrict';
    case 'BUNDLE_DELETE_DELETE': return 'delete';
    case 'BUNDLE_DELETE_DISSOCIATE': return 'dissociate';
    default: throw invalidArgument(`mode: unknown bundle delete mode ${String(m as unknown)}`);
  }
}

// ---- Federation relationships ----------------------------------------------------

export function relationshipToProto(fr: FederationRelationshipInput | FederationRelationship): pb.FederationRelationship {
  const p = fr.bundleEndpointProfile;
  const out: pb.FederationRelationship = {
    trust_domain: fr.trustDomain,
    bundle_endpoint_url: fr.bundleEndpointUrl,
    trust_domain_bundle: fr.trustDomainBundle ? bundleToProto(fr.trustDomainBundle, 'trustDomainBundle') : null,
  };
  if (p?.type === 'https_web') out.https_web = {};
  else if (p?.type === 'https_spiffe') out.https_spiffe = { endpoint_spiffe_id: p.endpointSpiffeId };
  else if (p !== undefined) throw invalidArgument(`bundleEndpointProfile: unknown type ${JSON.stringify((p as { type?: unknown }).type)}`);
  return out;
}

/** A relationship as decoded: the profile is absent when the sender set none. */
export type DecodedRelationship = Omit<FederationRelationship, 'bundleEndpointProfile'> & { bundleEndpointProfile?: BundleEndpointProfile };

export function relationshipFromProto(p: pb.FederationRelationship__Output): DecodedRelationship {
  const out: DecodedRelationship = { trustDomain: p.trust_domain, bundleEndpointUrl: p.bundle_endpoint_url };
  if (p.bundle_endpoint_profile === 'https_web') out.bundleEndpointProfile = { type: 'https_web' };
  else if (p.bundle_endpoint_profile === 'https_spiffe') {
    out.bundleEndpointProfile = { type: 'https_spiffe', endpointSpiffeId: p.https_spiffe?.endpoint_spiffe_id ?? '' };
  }
  if (p.trust_domain_bundle) out.trustDomainBundle = bundleFromProto(p.trust_domain_bundle);
  return out;
}

export function relationshipMaskToProto(m: FederationRelationshipMask | undefined): pb.FederationRelationshipMask | undefined {
  if (m === undefined) return undefined;
  return {
    bundle_endpoint_url: m.bundleEndpointUrl === true,
    bundle_endpoint_profile: m.bundleEndpointProfile === true,
    trust_domain_bundle: m.trustDomainBundle === true,
  };
}

export function relationshipMaskFromProto(m: pb.FederationRelationshipMask__Output | null): FederationRelationshipMask | undefined {
  if (!m) return undefined;
  return { bundleEndpointUrl: m.bundle_endpoint_url, bundleEndpointProfile: m.bundle_endpoint_profile, trustDomainBundle: m.trust_domain_bundle };
}

// ---- CA journal, join tokens, events ------------------------------------------------

export function journalToProto(j: CAJournalInput): pb.CAJournal {
  return {
    id: uint64(j.id, 'caJournal.id'),
    data: j.data,
    active_x509_authority_id: j.activeX509AuthorityId,
    active_jwt_authority_id: j.activeJwtAuthorityId,
    expires_at: int64(j.expiresAt, 'caJournal.expiresAt'),
  };
}

export function journalFromProto(p: pb.CAJournal__Output): CAJournal {
  return {
    id: p.id,
    data: bytes(p.data),
    activeX509AuthorityId: p.active_x509_authority_id,
    activeJwtAuthorityId: p.active_jwt_authority_id,
    expiresAt: p.expires_at,
  };
}

export function joinTokenToProto(t: JoinToken): pb.JoinToken {
  return { token: t.token, expires_at: int64(t.expiresAt, 'joinToken.expiresAt') };
}

export function joinTokenFromProto(p: pb.JoinToken__Output): JoinToken {
  return { token: p.token, expiresAt: p.expires_at };
}

export function entryEventToProto(e: EntryEvent): pb.EntryEvent {
  return { event_id: e.eventId, entry_id: e.entryId, created_at: e.createdAt };
}

export function entryEventFromProto(p: pb.EntryEvent__Output): EntryEvent {
  return { eventId: p.event_id, entryId: p.entry_id, createdAt: p.created_at };
}

export function nodeEventToProto(e: NodeEvent): pb.NodeEvent {
  return { event_id: e.eventId, spiffe_id: e.spiffeId, created_at: e.createdAt };
}

export function nodeEventFromProto(p: pb.NodeEvent__Output): NodeEvent {
  return { eventId: p.event_id, spiffeId: p.spiffe_id, createdAt: p.created_at };
}
