/** Federation relationships; a relationship's bundle lives in the bundles table. */
import { alreadyExists, invalidArgument, notFound } from './errors.js';
import { SqlError } from './dialect/types.js';
import type { Sql } from './dialect/types.js';
import { normalizeBundle } from './bundle-logic.js';
import { readBundle, setBundleIn } from './bundles.js';
import { num, str } from './rows.js';
import type { Ctx } from './context.js';
import type {
  BundleEndpointProfile, FederationRelationship, FederationRelationshipInput, FederationRelationshipMask, ListFederationRelationshipsResponse, Pagination,
} from './types.js';
import { checkPageSize, checkSpiffeId, checkString, LIMITS, normalizeTrustDomain, parsePageToken } from './validation.js';

const COLUMNS = 'pk, trust_domain, bundle_endpoint_url, profile, endpoint_spiffe_id';

function checkUrl(v: unknown): string {
  const url = checkString(v, 'bundleEndpointUrl', LIMITS.urlBytes, { required: true });
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidArgument('bundleEndpointUrl: not a valid URL');
  }
  if (parsed.protocol !== 'https:') throw invalidArgument('bundleEndpointUrl: scheme must be https');
  return url;
}

function checkProfile(p: unknown): BundleEndpointProfile {
  const profile = p as BundleEndpointProfile | undefined;
  if (profile?.type === 'https_web') return { type: 'https_web' };
  if (profile?.type === 'https_spiffe') return { type: 'https_spiffe', endpointSpiffeId: checkSpiffeId(profile.endpointSpiffeId, 'bundleEndpointProfile.endpointSpiffeId') };
  throw invalidArgument('bundleEndpointProfile: type must be https_web or https_spiffe');
}

function checkRelationship(fr: FederationRelationshipInput, mask: FederationRelationshipMask): FederationRelationship {
  if (typeof fr !== 'object' || fr === null) throw invalidArgument('federation relationship is required');
  const out: FederationRelationship = {
    trustDomain: normalizeTrustDomain(fr.trustDomain, 'trustDomain'),
    bundleEndpointUrl: mask.bundleEndpointUrl ? checkUrl(fr.bundleEndpointUrl) : '',
    bundleEndpointProfile: mask.bundleEndpointProfile ? checkProfile(fr.bundleEndpointProfile) : { type: 'https_web' },
  };
  if (mask.trustDomainBundle && fr.trustDomainBundle) {
    const b = normalizeBundle(fr.trustDomainBundle, 'trustDomainBundle');
    if (b.trustDomain !== out.trustDomain) throw invalidArgument('trustDomainBundle: trust domain does not match the relationship');
    out.trustDomainBundle = b;
  }
  return out;
}

async function rowToRelationship(sql: Sql, r: Record<string, unknown>): Promise<FederationRelationship> {
  const trustDomain = str(r['trust_domain']);
  const profile: BundleEndpointProfile =
    str(r['profile']) === 'https_spiffe' ? { type: 'https_spiffe', endpointSpiffeId: str(r['endpoint_spiffe_id']) } : { type: 'https_web' };
  const fr: FederationRelationship = { trustDomain, bundleEndpointUrl: str(r['bundle_endpoint_url']), bundleEndpointProfile: profile };
  const bundle = await readBundle(sql, trustDomain);
  if (bundle) fr.trustDomainBundle = bundle;
  return fr;
}

const ALL: Required<FederationRelationshipMask> = { bundleEndpointUrl: true, bundleEndpointProfile: true, trustDomainBundle: true };

export async function createFederationRelationship(ctx: Ctx, input: FederationRelationshipInput): Promise<FederationRelationship> {
  const fr = checkRelationship(input, ALL);
  const now = ctx.now();
  try {
    return await ctx.db.transaction(async (tx) => {
      if (fr.trustDomainBundle) await setBundleIn(tx, fr.trustDomainBundle, ctx.db.forUpdate, now);
      const p = fr.bundleEndpointProfile;
      await tx.exec(
        'INSERT INTO federation_relationships (trust_domain, bundle_endpoint_url, profile, endpoint_spiffe_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
        [fr.trustDomain, fr.bundleEndpointUrl, p.type, p.type === 'https_spiffe' ? p.endpointSpiffeId : '', now, now],
      );
      const [row] = await tx.query(`SELECT ${COLUMNS} FROM federation_relationships WHERE trust_domain = ?`, [fr.trustDomain]);
      return rowToRelationship(tx, row as Record<string, unknown>);
    });
  } catch (err) {
    if (err instanceof SqlError && err.kind === 'unique') throw alreadyExists(`federation relationship with ${fr.trustDomain} already exists`);
    throw err;
  }
}

export async function fetchFederationRelationship(sql: Sql, trustDomain: string): Promise<FederationRelationship | null> {
  const td = normalizeTrustDomain(trustDomain, 'trustDomain');
  const [row] = await sql.query(`SELECT ${COLUMNS} FROM federation_relationships WHERE trust_domain = ?`, [td]);
  return row ? rowToRelationship(sql, row) : null;
}

export async function listFederationRelationships(sql: Sql, pagination: Pagination | undefined): Promise<ListFederationRelationshipsResponse> {
  let where = '';
  let limit = '';
  let pageSize = 0;
  const params: number[] = [];
  if (pagination) {
    pageSize = checkPageSize(pagination.pageSize);
    where = ' WHERE pk > ?';
    params.push(parsePageToken(pagination.token));
    limit = ` LIMIT ${pageSize}`;
  }
  const rows = await sql.query(`SELECT ${COLUMNS} FROM federation_relationships${where} ORDER BY pk${limit}`, params);
  const relationships: FederationRelationship[] = [];
  for (const r of rows) relationships.push(await rowToRelationship(sql, r));
  const last = rows[rows.length - 1];
  return { relationships, nextPageToken: pagination && last && rows.length === pageSize ? String(num(last['pk'])) : '' };
}

export async function updateFederationRelationship(ctx: Ctx, input: FederationRelationshipInput, mask: FederationRelationshipMask = ALL): Promise<FederationRelationship> {
  const fr = checkRelationship(input, mask);
  const now = ctx.now();
  return ctx.db.transaction(async (tx) => {
    const [row] = await tx.query(`SELECT ${COLUMNS} FROM federation_relationships WHERE trust_domain = ?${ctx.db.forUpdate}`, [fr.trustDomain]);
    if (!row) throw notFound(`no federation relationship with ${fr.trustDomain}`);
    const url = mask.bundleEndpointUrl ? fr.bundleEndpointUrl : str(row['bundle_endpoint_url']);
    const p = fr.bundleEndpointProfile;
    const profile = mask.bundleEndpointProfile ? p.type : str(row['profile']);
    const endpointId = mask.bundleEndpointProfile ? (p.type === 'https_spiffe' ? p.endpointSpiffeId : '') : str(row['endpoint_spiffe_id']);
    await tx.exec('UPDATE federation_relationships SET bundle_endpoint_url = ?, profile = ?, endpoint_spiffe_id = ?, updated_at = ? WHERE trust_domain = ?', [
      url, profile, endpointId, now, fr.trustDomain,
    ]);
    if (fr.trustDomainBundle) await setBundleIn(tx, fr.trustDomainBundle, ctx.db.forUpdate, now);
    const [after] = await tx.query(`SELECT ${COLUMNS} FROM federation_relationships WHERE trust_domain = ?`, [fr.trustDomain]);
    return rowToRelationship(tx, after as Record<string, unknown>);
  });
}

export async function deleteFederationRelationship(ctx: Ctx, trustDomain: string): Promise<void> {
  const td = normalizeTrustDomain(trustDomain, 'trustDomain');
  const n = await ctx.db.exec('DELETE FROM federation_relationships WHERE trust_domain = ?', [td]);
  if (n === 0) throw notFound(`no federation relationship with ${td}`);
}
