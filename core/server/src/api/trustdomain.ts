/**
 * `spire.api.server.trustdomain.v1.TrustDomain`: federation relationships
 * (SPIRE's pkg/server/api/trustdomain/v1 and api/trustdomain.go): list, get,
 * batch create/update/delete with per-item statuses and masks, and an
 * on-demand bundle refresh. Method-level authorization (admin only) happens
 * in the transport.
 */
import { parseSpiffeId } from '@spire-ts/common';
import type { ServiceImpl } from '@spire-ts/plugin-sdk';
import type { apiTypes } from '@spire-ts/proto';
import type { FederationRelationship, Page } from '../plugin/datastore/datastore.js';
import { bundleFromProto, bundleToProto } from './convert/bundle.js';
import { codeOf, errorMessage, makeStatus, okStatus, trustDomainFromString, type ApiStatus } from './convert/common.js';
import type { ApiDeps } from './deps.js';
import { Status, apiError, internal, invalidArgument, notFound } from './errors.js';

type Impl = ServiceImpl<'spire.api.server.trustdomain.v1.TrustDomain'>;
type ProtoRelationship = apiTypes.FederationRelationship__Output;
type RelationshipInput = apiTypes.FederationRelationship__Output | apiTypes.FederationRelationship;
type Mask = apiTypes.FederationRelationshipMask__Output | null | undefined;
type Result = { status: ApiStatus; federation_relationship: ProtoRelationship | null };

/** What the service needs from the bundle refresh manager (SPIRE's BundleRefresher). */
export interface BundleRefresher {
  /** Re-reads the relationships soon. */
  triggerConfigReload(): void;
  /** Fetches the trust domain's bundle now; false when it is not federated with. */
  refreshBundleFor(trustDomain: string): Promise<boolean>;
}

const LIST_ALL_PAGE = 1000;
const ALL: apiTypes.FederationRelationshipMask__Output = { bundle_endpoint_url: true, bundle_endpoint_profile: true, trust_domain_bundle: true };

/**
 * A relationship from its proto form, SPIRE's rules: a valid trust domain;
 * an https URL with a host and no user info; a profile (https_spiffe with a
 * valid endpoint SPIFFE ID); a bundle, if any, for the same trust domain.
 * Throws an Error saying what is wrong.
 */
export function relationshipFromProto(f: RelationshipInput | null | undefined): FederationRelationship {
  if (!f) throw new Error('missing federation relationship');
  let trustDomain: string;
  try {
    trustDomain = trustDomainFromString(f.trust_domain ?? '');
  } catch (err) {
    throw new Error(`failed to parse trust domain: ${errorMessage(err)}`, { cause: err });
  }
  const rawUrl = f.bundle_endpoint_url ?? '';
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new Error(`failed to parse bundle endpoint URL: ${JSON.stringify(rawUrl)} is not a valid URL`);
  }
  if (url.protocol !== 'https:') throw new Error('bundle endpoint URL must use the https scheme');
  if (url.host === '') throw new Error('bundle endpoint URL must specify the host');
  if (url.username !== '' || url.password !== '') throw new Error('bundle endpoint URL must not contain user info');
  let profile: FederationRelationship['bundleEndpointProfile'];
  const kind = f.bundle_endpoint_profile ?? (f.https_spiffe ? 'https_spiffe' : f.https_web ? 'https_web' : undefined);
  if (kind === 'https_spiffe') {
    if (!f.https_spiffe) throw new Error('bundle endpoint profile does not contain "HttpsSpiffe"');
    const raw = f.https_spiffe.endpoint_spiffe_id ?? '';
    try {
      profile = { type: 'https_spiffe', endpointSpiffeId: parseSpiffeId(raw).toString() };
    } catch (err) {
      throw new Error(`failed to parse endpoint SPIFFE ID: ${errorMessage(err)}`, { cause: err });
    }
  } else if (kind === 'https_web') {
    profile = { type: 'https_web' };
  } else {
    throw new Error('unsupported bundle endpoint profile type: none set (use https_web or https_spiffe)');
  }
  const out: FederationRelationship = { trustDomain, bundleEndpointUrl: rawUrl, bundleEndpointProfile: profile };
  if (f.trust_domain_bundle) {
    let bundle;
    try {
      bundle = bundleFromProto(f.trust_domain_bundle);
    } catch (err) {
      throw new Error(`failed to parse bundle: ${errorMessage(err)}`, { cause: err });
    }
    if (bundle.trustDomain !== trustDomain) {
      throw new Error(`trust domain bundle (${JSON.stringify(f.trust_domain_bundle.trust_domain)}) must match the trust domain of the federation relationship (${JSON.stringify(trustDomain)})`);
    }
    out.trustDomainBundle = bundle;
  }
  return out;
}

/** The proto form of a relationship with the fields `mask` leaves out unset (no mask: all). */
export function relationshipToProto(fr: FederationRelationship, mask: Mask): ProtoRelationship {
  const m = mask ?? ALL;
  const out: ProtoRelationship = {
    trust_domain: fr.trustDomain,
    bundle_endpoint_url: m.bundle_endpoint_url ? fr.bundleEndpointUrl : '',
    trust_domain_bundle: m.trust_domain_bundle && fr.trustDomainBundle ? bundleToProto(fr.trustDomainBundle) : null,
  };
  if (m.bundle_endpoint_profile) {
    const p = fr.bundleEndpointProfile;
    if (p.type === 'https_spiffe') {
      out.bundle_endpoint_profile = 'https_spiffe';
      out.https_spiffe = { endpoint_spiffe_id: p.endpointSpiffeId };
    } else {
      out.bundle_endpoint_profile = 'https_web';
      out.https_web = {};
    }
  }
  return out;
}

/** The TrustDomain service over `deps`; `refresher` is told of changes and runs RefreshBundle. */
export function trustDomainService(deps: ApiDeps, refresher: BundleRefresher): Impl {
  const td = deps.trustDomain;
  const fail = (code: number, msg: string, cause?: unknown): Result => ({ status: makeStatus(code, msg, cause), federation_relationship: null });

  /** SPIRE warns when an https_spiffe relationship cannot authenticate its endpoint yet. */
  const checkEndpointBundle = async (fr: FederationRelationship): Promise<void> => {
    if (fr.trustDomainBundle || fr.bundleEndpointProfile.type !== 'https_spiffe') return;
    const endpointTd = parseSpiffeId(fr.bundleEndpointProfile.endpointSpiffeId).trustDomain;
    try {
      if (!(await deps.ds.fetchBundle(endpointTd))) {
        deps.log.warn('Bundle not found for the endpoint SPIFFE ID trust domain; set it with `spire-server bundle set` before the bundle can be refreshed', {
          trust_domain: fr.trustDomain,
          bundle_endpoint_spiffe_id: fr.bundleEndpointProfile.endpointSpiffeId,
        });
      }
    } catch (err) {
      deps.log.warn('Failed to check whether the endpoint SPIFFE ID trust domain has a bundle', { error: errorMessage(err) });
    }
  };

  const createOne = async (f: RelationshipInput, mask: Mask): Promise<Result> => {
    let fr: FederationRelationship;
    try {
      fr = relationshipFromProto(f);
    } catch (err) {
      return fail(Status.INVALID_ARGUMENT, 'failed to convert federation relationship', err);
    }
    if (fr.trustDomain === td) return fail(Status.INVALID_ARGUMENT, 'unable to create federation relationship for server trust domain');
    let created: FederationRelationship;
    try {
      created = await deps.ds.createFederationRelationship(fr);
    } catch (err) {
      const code = codeOf(err) === Status.ALREADY_EXISTS ? Status.ALREADY_EXISTS : Status.INTERNAL;
      return fail(code, 'failed to create federation relationship', err);
    }
    await checkEndpointBundle(created);
    deps.log.info('Federation relationship created', { trust_domain: created.trustDomain, bundle_endpoint_url: created.bundleEndpointUrl, bundle_endpoint_profile: created.bundleEndpointProfile.type });
    return { status: okStatus(), federation_relationship: relationshipToProto(created, mask) };
  };

  const updateOne = async (f: RelationshipInput, inputMask: Mask, outputMask: Mask): Promise<Result> => {
    let fr: FederationRelationship;
    try {
      fr = relationshipFromProto(f);
    } catch (err) {
      return fail(Status.INVALID_ARGUMENT, 'failed to convert federation relationship', err);
    }
    const m = inputMask ?? ALL;
    let updated: FederationRelationship;
    try {
      updated = await deps.ds.updateFederationRelationship(fr, {
        bundleEndpointUrl: m.bundle_endpoint_url,
        bundleEndpointProfile: m.bundle_endpoint_profile,
        trustDomainBundle: m.trust_domain_bundle,
      });
    } catch (err) {
      const code = codeOf(err) === Status.NOT_FOUND ? Status.NOT_FOUND : Status.INTERNAL;
      return fail(code, 'failed to update federation relationship', err);
    }
    await checkEndpointBundle(updated);
    deps.log.info('Federation relationship updated', { trust_domain: updated.trustDomain });
    return { status: okStatus(), federation_relationship: relationshipToProto(updated, outputMask) };
  };

  const deleteOne = async (name: string): Promise<{ status: ApiStatus; trust_domain: string }> => {
    if (name === '') return { trust_domain: name, status: makeStatus(Status.INVALID_ARGUMENT, 'missing trust domain') };
    let parsed: string;
    try {
      parsed = trustDomainFromString(name);
    } catch (err) {
      return { trust_domain: name, status: makeStatus(Status.INVALID_ARGUMENT, 'failed to parse trust domain', err) };
    }
    try {
      await deps.ds.deleteFederationRelationship(parsed);
    } catch (err) {
      if (codeOf(err) === Status.NOT_FOUND) return { trust_domain: parsed, status: makeStatus(Status.NOT_FOUND, 'federation relationship not found') };
      return { trust_domain: parsed, status: makeStatus(Status.INTERNAL, 'failed to delete federation relationship', err) };
    }
    deps.log.info('Federation relationship deleted', { trust_domain: parsed });
    return { trust_domain: parsed, status: okStatus() };
  };

  return {
    async ListFederationRelationships(req) {
      const items: FederationRelationship[] = [];
      let next = '';
      try {
        if (req.page_size > 0) {
          const page = await deps.ds.listFederationRelationships({ pageSize: req.page_size, pageToken: req.page_token });
          items.push(...page.items);
          next = page.nextPageToken;
        } else {
          let token = req.page_token;
          let page: Page<FederationRelationship>;
          do {
            page = await deps.ds.listFederationRelationships({ pageSize: LIST_ALL_PAGE, pageToken: token });
            items.push(...page.items);
            token = page.nextPageToken;
          } while (token !== '');
        }
      } catch (err) {
        if (codeOf(err) === Status.INVALID_ARGUMENT) throw apiError(Status.INVALID_ARGUMENT, `failed to list federation relationships: ${errorMessage(err)}`, err);
        throw internal(`failed to list federation relationships: ${errorMessage(err)}`, err);
      }
      return { federation_relationships: items.map((fr) => relationshipToProto(fr, req.output_mask)), next_page_token: next };
    },

    async GetFederationRelationship(req) {
      let parsed: string;
      try {
        parsed = trustDomainFromString(req.trust_domain);
      } catch (err) {
        throw invalidArgument(`failed to parse trust domain: ${errorMessage(err)}`);
      }
      let fr: FederationRelationship | undefined;
      try {
        fr = await deps.ds.fetchFederationRelationship(parsed);
      } catch (err) {
        throw internal(`failed to fetch federation relationship: ${errorMessage(err)}`, err);
      }
      if (!fr) throw notFound('federation relationship does not exist');
      return relationshipToProto(fr, req.output_mask);
    },

    async BatchCreateFederationRelationship(req) {
      const results: Result[] = [];
      for (const f of req.federation_relationships) results.push(await createOne(f, req.output_mask));
      if (results.some((r) => r.status.code === Status.OK)) refresher.triggerConfigReload();
      return { results };
    },

    async BatchUpdateFederationRelationship(req) {
      const results: Result[] = [];
      for (const f of req.federation_relationships) results.push(await updateOne(f, req.input_mask, req.output_mask));
      if (results.some((r) => r.status.code === Status.OK)) refresher.triggerConfigReload();
      return { results };
    },

    async BatchDeleteFederationRelationship(req) {
      const results = [];
      for (const name of req.trust_domains) results.push(await deleteOne(name));
      if (results.some((r) => r.status.code === Status.OK)) refresher.triggerConfigReload();
      return { results };
    },

    async RefreshBundle(req) {
      let parsed: string;
      try {
        parsed = trustDomainFromString(req.trust_domain);
      } catch (err) {
        throw invalidArgument(`failed to parse trust domain: ${errorMessage(err)}`);
      }
      let managed: boolean;
      try {
        managed = await refresher.refreshBundleFor(parsed);
      } catch (err) {
        throw internal(`failed to refresh bundle: ${errorMessage(err)}`, err);
      }
      if (!managed) throw notFound(`no relationship with trust domain "${parsed}"`);
      return {};
    },
  };
}
