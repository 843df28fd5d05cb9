/**
 * Checks of single configuration values. They live in `@spire-ts/common`
 * (spire-agent judges trust domains, SPIFFE IDs and log settings the same
 * way); re-exported here for the server's modules.
 *
 * @module
 */

export {
  checkTrustDomain,
  checkSpiffeId,
  checkLogLevel,
  checkLogFormat,
  checkKeyType,
  checkCidr,
  checkHttpsUrl,
  parseLogLevel,
  parseLogFormat,
  parseKeyType,
  KEY_TYPES,
  MAX_TRUST_DOMAIN_LENGTH,
} from '@spire-ts/common';
export type { KeyType } from '@spire-ts/common';
