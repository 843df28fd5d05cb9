/**
 * Where each key of a parsed configuration file was written. The index
 * itself lives in `@spire-ts/common` (spire-agent uses it too).
 *
 * @module
 */

export { PositionIndex } from '@spire-ts/common';
export type { KeyPlace } from '@spire-ts/common';
