/**
 * DataStore errors across the wire, both ways: the gRPC code and message
 * travel as the status; the machine-readable `details` (e.g. the existing
 * entry's id on ALREADY_EXISTS) travel as JSON in one binary trailer.
 */
import { PluginError, type Status } from '@spire-ts/plugin-sdk';
import { Code, DataStoreError } from '../errors.js';
import type { CodeName, ErrorDetails } from '../errors.js';

/** The trailer holding a DataStoreError's details as JSON. */
export const ERROR_DETAILS_TRAILER = 'spire-ts-datastore-error-details-bin';

const MAX_DETAILS_BYTES = 4096;

type Metadata = NonNullable<PluginError['metadata']>;

/**
 * Plugin side: any failure as a PluginError with the DataStoreError's code
 * and message. `requestMetadata` only provides a Metadata instance to clone
 * for the trailer (the plugin does not load grpc-js itself).
 */
export function toPluginError(err: unknown, requestMetadata?: Metadata): PluginError {
  if (err instanceof PluginError) return err;
  if (err instanceof DataStoreError) {
    let metadata: Metadata | undefined;
    if (requestMetadata && Object.keys(err.details).length > 0) {
      metadata = requestMetadata.clone();
      for (const key of Object.keys(metadata.getMap())) metadata.remove(key);
      metadata.set(ERROR_DETAILS_TRAILER, Buffer.from(JSON.stringify(err.details)));
    }
    return new PluginError(err.code as Status, err.message, { cause: err, ...(metadata ? { metadata } : {}) });
  }
  return PluginError.internal(err instanceof Error ? err.message : String(err), err);
}

/** What a failed gRPC call gives a client (grpc-js's ServiceError, or the host's lean client's). */
export interface GrpcFailure {
  code: number;
  details?: string;
  message: string;
  metadata?: { get(key: string): Array<string | Buffer> };
}

function isGrpcFailure(err: unknown): err is GrpcFailure {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number';
}

const NAMES = new Map<number, CodeName>(Object.entries(Code).map(([name, code]) => [code, name as CodeName]));

/** Details from the trailer, if well formed: a small flat JSON object of strings, numbers and booleans. */
function detailsFrom(md: GrpcFailure['metadata']): ErrorDetails | undefined {
  const raw = md?.get(ERROR_DETAILS_TRAILER)[0];
  if (raw === undefined) return undefined;
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  if (text.length > MAX_DETAILS_BYTES) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
  }
  return out;
}

/**
 * Client side: a failed call as a DataStoreError with the plugin's code,
 * message and details. Codes the DataStore does not use become UNKNOWN;
 * errors that are not gRPC failures become INTERNAL, prefixed with `label`.
 */
export function fromGrpcError(err: unknown, label: string): DataStoreError {
  if (err instanceof DataStoreError) return err;
  if (!isGrpcFailure(err)) return new DataStoreError('INTERNAL', `${label}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  const name = NAMES.get(err.code) ?? 'UNKNOWN';
  const message = typeof err.details === 'string' && err.details !== '' ? err.details : err.message;
  const details = detailsFrom(err.metadata);
  return new DataStoreError(name, name === 'UNKNOWN' ? `${label}: gRPC code ${err.code}: ${message}` : message, { cause: err, ...(details ? { details } : {}) });
}
