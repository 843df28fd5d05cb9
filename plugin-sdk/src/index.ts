/**
 * @spire-ts/plugin-sdk: write SPIRE plugins in TypeScript.
 *
 * A plugin binary calls {@link serve} with its service implementation; the
 * SDK speaks hashicorp go-plugin's gRPC protocol the way SPIRE's Go plugin
 * SDK does, so spire-ts (and SPIRE) can load it as a child process.
 */
export { PluginError, Status, statusName, toServiceError, isServiceError } from './errors.js';
export { createLogger, hclogTimestamp } from './logger.js';
export type { Logger, LogLevel, LogFields } from './logger.js';
export {
  PLUGIN_TYPES,
  PLUGIN_SERVICE_NAMES,
  CONFIG_SERVICE,
  INIT_SERVICE,
  CORE_PROTOCOL_VERSION,
  APP_PROTOCOL_VERSION,
  HOST_SERVICE_PROVIDER_ID,
  isPluginType,
  pluginTypeOfService,
} from './plugin-types.js';
export type { PluginType, PluginSide } from './plugin-types.js';
export { toGrpcHandlers, addService } from './handlers.js';
export type { ServiceImpl, ServiceRegistrar } from './handlers.js';
export { EncodedMessage, LeanGrpcServer, ServerCall as LeanServerCall } from './transport/server.js';
export { StreamTable } from './transport/stream-table.js';
export { SwapQueue } from './transport/swap-queue.js';
export { HpackDecoder, HpackError, HPACK_POST_HTTP, encodeLiteral as encodeHpackLiteral, huffmanDecode } from './transport/hpack.js';
export type { HeaderField as HpackHeaderField } from './transport/hpack.js';
export type { ServerMethod, LeanGrpcServerOptions } from './transport/server.js';
export type { H2ServerOptions } from './transport/h2server.js';
export { H2Error, H2Flag, H2Frame, H2_MAX_WINDOW, H2_PREFACE, H2_DEFAULT_MAX_FRAME, H2FrameInput, H2FrameOutput, h2FrameHeader, h2GoawayFrame, h2U32Frame, writeH2Frames } from './transport/h2frame.js';
export type { H2FrameInputOptions } from './transport/h2frame.js';
export { serve, startPluginServer } from './serve.js';
export { makeDirectories } from './directories.js';
export type { ServeOptions, PluginDefinition, PluginServer, ConfigureInput, ConfigHandler } from './serve.js';
export { HostServices } from './broker.js';
export { schemaConfig } from './schema-config.js';
export type { BuiltConfig } from './schema-config.js';
export {
  fromPlain,
  isConfigNode,
  toPlain,
  ConfigError,
  describeIssue,
  describeIssues,
  formatPos,
  buildConfig,
  buildConfigOrThrow,
  parseConfig,
  printHCL,
  expandEnv,
  formatDuration,
  parseDuration,
  formatPath,
  s,
} from './config/index.js';
export type {
  BoolNode,
  ConfigNode,
  EntryForm,
  ListNode,
  NumberNode,
  ObjectEntry,
  ObjectNode,
  PlainObject,
  PlainValue,
  Pos,
  StringNode,
  ConfigIssue,
  IssueCode,
  BuildOptions,
  BuildResult,
  ParseOptions,
  PrintOptions,
  EnvSource,
  AnyOptions,
  CommonOptions,
  ConfigEntry,
  DurationOptions,
  EntriesOptions,
  Infer,
  InferShape,
  ListOptions,
  NumberOptions,
  ObjectOptions,
  Presence,
  Schema,
  SchemaKind,
  Shape,
  StringOptions,
} from './config/index.js';
