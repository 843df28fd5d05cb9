/**
 * @spire-ts/common: what spire-server and spire-agent share — the plugin
 * host (catalog, supervisor), logging and configuration.
 */
export { createCoreLogger, nullLogger, memoryLogger, isLogLevel } from './log/logger.js';
export { StopStack } from './run/stop-stack.js';
export { Registrations } from './run/registrations.js';
export { makeDirectories } from '@spire-ts/plugin-sdk';
export type { StopFn } from './run/stop-stack.js';
export { serveHealthChecks } from './run/health.js';
export type { HealthChecksSettings } from './run/health.js';
export type { Logger, LogFields, LogLevel, LogFormat } from './log/logger.js';
export { startHealthListener } from './health/http.js';
export type { HealthState, HealthListenerOptions, HealthListener } from './health/http.js';
export { parseHandshake, HandshakeError } from './plugin/handshake.js';
export type { Handshake } from './plugin/handshake.js';
export { parsePluginStderr } from './plugin/hclog.js';
export type { PluginLogLine, StderrState } from './plugin/hclog.js';
export { PluginHostError, pluginLabel } from './plugin/errors.js';
export type { PluginErrorCode } from './plugin/errors.js';
export { launchPlugin, sha256File, PluginProcess } from './plugin/launch.js';
export type { LaunchSpec, ExitInfo } from './plugin/launch.js';
export { ManagedPlugin, describe, restartDelayMs } from './plugin/managed.js';
export type { ManagedPluginOptions, PluginState, HostServiceRegistration, BackoffOptions } from './plugin/managed.js';
export { reapPluginsSync, markHostShuttingDown, hostShutdownReason, removePluginSocket } from './plugin/reaper.js';
export { Catalog, preparePlugin, serviceFor } from './plugin/catalog.js';
export type { PluginDeclaration, CatalogOptions } from './plugin/catalog.js';
export { isBuiltInComponent, builtInComponentNotes, joinTokenEnabled } from './plugin/built-in.js';
export { resolveBuiltIn, listBuiltIns, builtInPackageName } from './plugin/builtin.js';
export type { BuiltInCommand } from './plugin/builtin.js';
export { unary } from './plugin/rpc.js';
export { messageReader } from './plugin/stream.js';
export type { MessageReader, StreamEnd } from './plugin/stream.js';
export type { RequestOf, ResponseOf } from './plugin/rpc.js';
export { pluginDeclarations, pluginBlockSchema, pluginsSchema } from './plugin/declarations.js';
export type { PluginsConfig } from './plugin/declarations.js';
export { PluginRpc, serviceError, decodeGrpcMessage, grpcStatusForHttp } from './plugin/h2rpc.js';
export type { UnaryMethodOf } from './plugin/h2rpc.js';
export { H2Connection } from './plugin/h2conn.js';
export type { StreamHandler } from './plugin/h2conn.js';
export {
  SpiffeIdError,
  JwtSvidError,
  BundleError,
  SpiffeId,
  parseSpiffeId,
  isValidSpiffeId,
  parseTrustDomain,
  trustDomainId,
  isMemberOf,
  validatePath,
  validatePathSegment,
  joinPathSegments,
  spiffeIdFromPath,
  spiffeIdFromSegments,
  MAX_SPIFFE_ID_BYTES,
  MAX_TRUST_DOMAIN_BYTES,
  agentId,
  serverId,
  isReservedPath,
  isAgentPath,
  isAgentId,
  isServerId,
  SERVER_ID_PATH,
  AGENT_PATH_PREFIX,
  JWT_ALGORITHMS,
  isJwtAlgorithm,
  signJwtSvid,
  jwtSvidSigningInput,
  validateJwtSvid,
  decodeJwtUnverified,
  jwkToSpki,
  spkiToJwk,
  jwkToKeyObject,
  spkiToKeyObject,
  keyObjectToJwk,
  encodeSpiffeBundle,
  decodeSpiffeBundle,
  encodeJwks,
  decodeJwks,
  x509AuthorityToJwk,
  jwtAuthorityToJwk,
  concatCertificates,
  splitCertificates,
  ecdsaDerToJose,
  ecdsaJoseToDer,
  x509BundleMap,
  jwtBundleMap,
  parseX509BundleMap,
  parseJwtBundleMap,
} from './spiffe/index.js';
export type {
  SpiffeIdErrorReason,
  JwtSvidErrorReason,
  BundleErrorReason,
  JwtAlgorithm,
  JwtHashAlgorithm,
  JwtSvidSignParams,
  JwtDigestSigner,
  JwtDigestSignOptions,
  ValidateJwtSvidOptions,
  ValidatedJwtSvid,
  JwtKey,
  JwtBundleSource,
  DecodedJwt,
  PublicJwk,
  EncodeSpiffeBundleOptions,
  BytesMap,
  Bundle,
  JwtAuthority,
} from './spiffe/index.js';
export {
  X509Error,
  DER,
  TAG,
  DerElement,
  MAX_DER_DEPTH,
  MAX_DER_CHILDREN,
  decodeDer,
  decodeDerTree,
  tagName,
  OID,
  encodeName,
  parseName,
  formatName,
  nameValues,
  nameToSpec,
  SIGNATURE_ALGORITHMS,
  defaultSignatureAlgorithm,
  parseSpki,
  subjectKeyId,
  verifySignature,
  verifySignatureAsync,
  publicKeyObject,
  publicKeyObjectAsync,
  KEY_USAGES,
  EXT_KEY_USAGES,
  parseExtensions,
  parseCertificate,
  buildCertificate,
  keyObjectSigner,
  randomSerialNumber,
  parseCSR,
  parseCSRAsync,
  parseCSRUnchecked,
  buildCSR,
  x509SvidTemplate,
  X509SvidEncoder,
  caTemplate,
  NOT_BEFORE_CUSHION_MS,
  DEFAULT_X509_SVID_SUBJECT,
  DEFAULT_X509_CA_SUBJECT,
  validateX509Svid,
  pemEncode,
  pemDecode,
} from './x509/index.js';
export type {
  X509ErrorCode,
  DerNode,
  Name,
  NameSpec,
  NameAttribute,
  SignatureAlgorithm,
  VerifyAlgorithm,
  SignatureAlgorithmInfo,
  PublicKeyInfo,
  Extension,
  KeyUsage,
  ExtKeyUsage,
  NameConstraints,
  ParsedExtensions,
  ParsedAltNames,
  ParsedSubtree,
  Certificate,
  CertificateTemplate,
  CertificateSigner,
  BuildOptions as X509BuildOptions,
  CertificateRequest,
  UncheckedCertificateRequest,
  CsrOptions,
  X509SvidParams,
  X509SvidBuildParams,
  BuiltX509Svid,
  X509CaParams,
  X509SvidValidation,
} from './x509/index.js';
export { PositionIndex } from './config/positions.js';
export type { KeyPlace } from './config/positions.js';
export { parseGoFlags, goFlagsUsage } from './config/flags.js';
export { parseCliFlags, cliFlagsUsage, parseGoInt, parseGoDuration, goDurationString, didYouMean, editDistance } from './cli/flags.js';
export type { CliFlag, CliFlagKind, CliFlagSet, CliFlagValue, CliFlagsResult } from './cli/flags.js';
export { goCodeName, isServiceError, rpcErrorText } from './cli/rpc.js';
export { goJson, goTimeUTC } from './cli/text.js';
export { selectSocketPath, unixSocketTarget } from './cli/socket.js';
export type { CliEnv, SocketRules } from './cli/socket.js';
export { runCliFrame, outputFormat, OUTPUT_FLAG, HEALTHCHECK_FLAGS } from './cli/command.js';
export type { CliFrame, OutputFormat } from './cli/command.js';
export type { GoFlagSpec, GoFlagsResult } from './config/flags.js';
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
} from './config/values.js';
export type { KeyType } from './config/values.js';
export { healthChecksSchema, telemetrySchema, FEATURE_FLAGS } from './config/blocks.js';
export type { HealthChecksConfig } from './config/blocks.js';
export { expandConfigEnv, parseSideFile } from './config/file.js';
export type { ParseFileOptions, SideFileResult } from './config/file.js';
export { byPosition, loadSideConfig } from './config/load.js';
export type { LoadIO, SideLoadResult, SideLoadStages } from './config/load.js';
export { sideCli, runProcessCli, EXIT_NO_COMMAND } from './config/cli.js';
export type { CliIO, SideCli, SideCliSpec, SideRuntimeConfig, SidePluginValidation, ServeContext, SideHostServices } from './config/cli.js';
export { ConfigFindings, isSet } from './config/findings.js';
export type { ConfigValidation } from './config/findings.js';
export { mergeBlock } from './config/merge.js';
export type { ConfigOrigin, MergedBlock, MergedSideConfig } from './config/merge.js';
