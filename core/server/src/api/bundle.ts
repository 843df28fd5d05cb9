/**
 * `spire.api.server.bundle.v1.Bundle`: the trust domain's own bundle and the
 * federated bundles (SPIRE's pkg/server/api/bundle/v1). Method-level
 * authorization happens in the transport.
 */
import type { Bundle } from '@spire-ts/common';
import type { ServiceImpl } from '@spire-ts/plugin-sdk';
import type { apiTypes, serverApiBundleV1 } from '@spire-ts/proto';
import { Status, apiError, internal, invalidArgument, notFound } from './errors.js';
import type { ApiDeps } from './deps.js';
import type { BundleDeleteMode } from '../plugin/datastore/datastore.js';
import { codeOf, errorMessage, makeStatus, okStatus, trustDomainFromString, type ApiStatus } from './convert/common.js';
import {
  applyBundleMask, bundleFromProto, bundleToProto, jwtKeysToProto, mergeBundle, parseJwtAuthorities, parseX509Authorities, type ProtoBundle,
} from './convert/bundle.js';

type Impl = ServiceImpl<'spire.api.server.bundle.v1.Bundle'>;
type Mask = apiTypes.BundleMask__Output | null | undefined;
type BundleResult = { status: ApiStatus; bundle: ProtoBundle | null };
type DeleteResult = serverApiBundleV1.BatchDeleteFederatedBundleResponse__Output['results'][number];

/** Page size used to read every bundle when the client asks for no paging. */
const LIST_ALL_PAGE = 1000;

const DELETE_MODES: Record<string, BundleDeleteMode> = { RESTRICT: 'RESTRICT', DELETE: 'DELETE', DISSOCIATE: 'DISSOCIATE' };

/** The Bundle service over `deps`. */
export function bundleService(deps: ApiDeps): Impl {
  const td = deps.trustDomain;
  const out = (b: Bundle, mask: Mask): ProtoBundle => applyBundleMask(bundleToProto(b), mask);
  const fail = (code: number, msg: string, cause?: unknown): BundleResult => ({ status: makeStatus(code, msg, cause), bundle: null });

  /** The federated trust domain named by a request item, or a failed result (invalid, or the server's own). */
  const federatedTd = (name: string, verb: string): string | BundleResult => {
    let parsed: string;
    try {
      parsed = trustDomainFromString(name);
    } catch (err) {
      return fail(Status.INVALID_ARGUMENT, 'trust domain argument is not valid', err);
    }
    if (parsed === td) return fail(Status.INVALID_ARGUMENT, `${verb} a federated bundle for the server's own trust domain is not allowed`);
    return parsed;
  };

  /** Validation shared by create, update and set: trust domain, then the bundle's content. */
  const federatedInput = (b: apiTypes.Bundle__Output, verb: string): Bundle | BundleResult => {
    const parsed = federatedTd(b.trust_domain, verb);
    if (typeof parsed !== 'string') return parsed;
    try {
      return bundleFromProto(b);
    } catch (err) {
      return fail(Status.INVALID_ARGUMENT, 'failed to convert bundle', err);
    }
  };
  const isResult = (v: Bundle | BundleResult): v is BundleResult => 'status' in v;

  const createOne = async (b: apiTypes.Bundle__Output, mask: Mask): Promise<BundleResult> => {
    const input = federatedInput(b, 'creating');
    if (isResult(input)) return input;
    try {
      const created = await deps.ds.createBundle(input);
      deps.log.debug('Federated bundle created', { trust_domain_id: input.trustDomain });
      return { status: okStatus(), bundle: out(created, mask) };
    } catch (err) {
      if (codeOf(err) === Status.ALREADY_EXISTS) return fail(Status.ALREADY_EXISTS, 'bundle already exists');
      return fail(Status.INTERNAL, 'unable to create bundle', err);
    }
  };

  const updateOne = async (b: apiTypes.Bundle__Output, inputMask: Mask, outputMask: Mask): Promise<BundleResult> => {
    const input = federatedInput(b, 'updating');
    if (isResult(input)) return input;
    try {
      const current = await deps.ds.fetchBundle(input.trustDomain);
      if (!current) return fail(Status.NOT_FOUND, 'bundle not found');
      const updated = await deps.ds.updateBundle(mergeBundle(current, input, inputMask));
      deps.log.debug('Federated bundle updated', { trust_domain_id: input.trustDomain });
      return { status: okStatus(), bundle: out(updated, outputMask) };
    } catch (err) {
      if (codeOf(err) === Status.NOT_FOUND) return fail(Status.NOT_FOUND, 'bundle not found', err);
      return fail(Status.INTERNAL, 'failed to update bundle', err);
    }
  };

  const setOne = async (b: apiTypes.Bundle__Output, mask: Mask): Promise<BundleResult> => {
    const input = federatedInput(b, 'setting');
    if (isResult(input)) return input;
    try {
      const stored = await deps.ds.setBundle(input);
      deps.log.info('Bundle set successfully', { trust_domain_id: input.trustDomain });
      return { status: okStatus(), bundle: out(stored, mask) };
    } catch (err) {
      return fail(Status.INTERNAL, 'failed to set bundle', err);
    }
  };

  const deleteOne = async (name: string, mode: BundleDeleteMode): Promise<DeleteResult> => {
    let parsed: string;
    try {
      parsed = trustDomainFromString(name);
    } catch (err) {
      return { trust_domain: name, status: makeStatus(Status.INVALID_ARGUMENT, 'trust domain argument is not valid', err) };
    }
    if (parsed === td) {
      return { trust_domain: name, status: makeStatus(Status.INVALID_ARGUMENT, 'removing the bundle for the server trust domain is not allowed') };
    }
    try {
      await deps.ds.deleteBundle(parsed, mode);
      return { trust_domain: name, status: okStatus() };
    } catch (err) {
      const code = codeOf(err);
      if (code === Status.NOT_FOUND) return { trust_domain: name, status: makeStatus(Status.NOT_FOUND, 'bundle not found', err) };
      return { trust_domain: name, status: makeStatus(code === Status.UNKNOWN ? Status.INTERNAL : code, 'failed to delete federated bundle', err) };
    }
  };

  const appendOwn = async (bundle: Bundle): Promise<Bundle> => {
    try {
      const stored = await deps.ds.appendBundle(bundle);
      deps.bundleUpdated?.(stored);
      return stored;
    } catch (err) {
      throw internal(`failed to append bundle: ${errorMessage(err)}`, err);
    }
  };

  return {
    async CountBundles() {
      try {
        return { count: await deps.ds.countBundles() };
      } catch (err) {
        throw internal(`failed to count bundles: ${errorMessage(err)}`, err);
      }
    },

    async GetBundle(req) {
      let bundle: Bundle;
      try {
        bundle = deps.bundle();
      } catch (err) {
        throw internal(`failed to fetch bundle: ${errorMessage(err)}`, err);
      }
      return out(bundle, req.output_mask);
    },

    async AppendBundle(req) {
      if (req.jwt_authorities.length === 0 && req.x509_authorities.length === 0) throw invalidArgument('no authorities to append');
      let jwtAuthorities;
      try {
        jwtAuthorities = parseJwtAuthorities(req.jwt_authorities);
      } catch (err) {
        throw invalidArgument(`failed to convert JWT authority: ${errorMessage(err)}`);
      }
      let x509Authorities;
      try {
        x509Authorities = parseX509Authorities(req.x509_authorities);
      } catch (err) {
        throw invalidArgument(`failed to convert X.509 authority: ${errorMessage(err)}`);
      }
      const stored = await appendOwn({ trustDomain: td, x509Authorities, jwtAuthorities, refreshHint: 0, sequenceNumber: 0 });
      return out(stored, req.output_mask);
    },

    async PublishJWTAuthority(req) {
      if (!req.jwt_authority) throw invalidArgument('missing JWT authority');
      let key;
      try {
        [key] = parseJwtAuthorities([req.jwt_authority]);
      } catch (err) {
        throw invalidArgument(`invalid JWT authority: ${errorMessage(err)}`);
      }
      if (!key) throw invalidArgument('missing JWT authority');
      let stored: Bundle;
      try {
        stored = await deps.ds.appendBundle({ trustDomain: td, x509Authorities: [], jwtAuthorities: [key], refreshHint: 0, sequenceNumber: 0 });
        deps.bundleUpdated?.(stored);
      } catch (err) {
        throw internal(`failed to publish JWT key: ${errorMessage(err)}`, err);
      }
      return { jwt_authorities: jwtKeysToProto(stored.jwtAuthorities) };
    },

    async PublishWITAuthority() {
      throw apiError(Status.UNIMPLEMENTED, 'WIT-SVID functionality is not yet implemented');
    },

    async ListFederatedBundles(req) {
      try {
        const bundles: ProtoBundle[] = [];
        const keep = (items: readonly Bundle[]): void => {
          for (const b of items) if (b.trustDomain !== td) bundles.push(out(b, req.output_mask));
        };
        if (req.page_size > 0) {
          const page = await deps.ds.listBundles({ pageSize: req.page_size, pageToken: req.page_token });
          keep(page.items);
          return { bundles, next_page_token: page.nextPageToken };
        }
        let token = '';
        do {
          const page = await deps.ds.listBundles({ pageSize: LIST_ALL_PAGE, pageToken: token });
          keep(page.items);
          token = page.nextPageToken;
        } while (token !== '');
        return { bundles, next_page_token: '' };
      } catch (err) {
        if (codeOf(err) === Status.INVALID_ARGUMENT) throw invalidArgument(`failed to list bundles: ${errorMessage(err)}`);
        throw internal(`failed to list bundles: ${errorMessage(err)}`, err);
      }
    },

    async GetFederatedBundle(req) {
      let parsed: string;
      try {
        parsed = trustDomainFromString(req.trust_domain);
      } catch (err) {
        throw invalidArgument(`trust domain argument is not valid: ${errorMessage(err)}`);
      }
      if (parsed === td) throw invalidArgument("getting a federated bundle for the server's own trust domain is not allowed");
      let bundle: Bundle | undefined;
      try {
        bundle = await deps.ds.fetchBundle(parsed);
      } catch (err) {
        throw internal(`failed to fetch bundle: ${errorMessage(err)}`, err);
      }
      if (!bundle) throw notFound('bundle not found');
      return out(bundle, req.output_mask);
    },

    async BatchCreateFederatedBundle(req) {
      const results: BundleResult[] = [];
      for (const b of req.bundle) results.push(await createOne(b, req.output_mask));
      return { results };
    },

    async BatchUpdateFederatedBundle(req) {
      const results: BundleResult[] = [];
      for (const b of req.bundle) results.push(await updateOne(b, req.input_mask, req.output_mask));
      return { results };
    },

    async BatchSetFederatedBundle(req) {
      const results: BundleResult[] = [];
      for (const b of req.bundle) results.push(await setOne(b, req.output_mask));
      return { results };
    },

    async BatchDeleteFederatedBundle(req) {
      const mode = DELETE_MODES[String(req.mode || 'RESTRICT')];
      if (!mode) throw invalidArgument(`failed to parse deletion mode: unhandled delete mode ${JSON.stringify(req.mode)}`);
      const results: DeleteResult[] = [];
      for (const name of req.trust_domains) results.push(await deleteOne(name, mode));
      return { results };
    },
  };
}
