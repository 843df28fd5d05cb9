/**
 * Configuration for SPIRE in TypeScript: HCL v1 and JSON parsing with
 * positions, an HCL printer, `-expandEnv` expansion, and schema-driven typed
 * config building with precise, positioned errors.
 *
 * @module
 */

export type { BoolNode, ConfigNode, EntryForm, ListNode, NumberNode, ObjectEntry, ObjectNode, PlainObject, PlainValue, Pos, StringNode } from './nodes.js';
export { fromPlain, isConfigNode, toPlain } from './nodes.js';
export type { ConfigIssue, IssueCode } from './issues.js';
export { ConfigError, describeIssue, describeIssues, formatPos } from './issues.js';
export type { BuildOptions, BuildResult, ParseOptions } from './build.js';
export { buildConfig, buildConfigOrThrow, parseConfig } from './build.js';
export type { PrintOptions } from './print.js';
export { printHCL } from './print.js';
export type { EnvSource } from './env.js';
export { expandEnv } from './env.js';
export { formatDuration, parseDuration } from './duration.js';
export type {
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
} from './schema.js';
export { formatPath } from './decode.js';
export { s } from './builders.js';
