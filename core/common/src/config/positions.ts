/**
 * Where each key of a parsed configuration file was written, so that checks
 * made after parsing (cross-field rules, plugin counts) can still point at
 * `file:line:col`.
 *
 * @module
 */

import type { ConfigNode, ObjectNode, Pos } from '@spire-ts/plugin-sdk';

/** The position of a key and of its value. */
export interface KeyPlace {
  readonly key: Pos;
  readonly value: Pos;
}

const SEP = '\u0000';

/**
 * An index from key paths (`['server', 'ca_ttl']`) to where the key and its
 * value were first written. Block labels are path segments
 * (`['plugins', 'KeyManager', 'disk']`); list items are reached with their
 * index as a string, and objects inside lists also under the list's own path
 * (the JSON form of repeated blocks).
 *
 * @example
 * ```ts
 * const index = PositionIndex.of(parseConfig(text, { filename: 'server.conf' }));
 * index.value(['server', 'ca_ttl']); // { filename: 'server.conf', line: 7, column: 14, offset: 120 }
 * ```
 */
export class PositionIndex {
  private constructor(
    /** The position of the file itself (`file:1:1`). */
    readonly root: Pos,
    private readonly places: ReadonlyMap<string, KeyPlace>,
  ) {}

  /** Indexes every key of a parsed file. */
  static of(root: ObjectNode): PositionIndex {
    const places = new Map<string, KeyPlace>();
    const visit = (node: ConfigNode, path: readonly string[]): void => {
      if (node.kind === 'object') {
        for (const e of node.entries) {
          const p = [...path, e.key];
          const id = p.join(SEP);
          if (!places.has(id)) places.set(id, { key: e.keyPos, value: e.value.pos });
          visit(e.value, p);
        }
      } else if (node.kind === 'list') {
        node.items.forEach((item, i) => {
          const p = [...path, String(i)];
          const id = p.join(SEP);
          if (!places.has(id)) places.set(id, { key: item.pos, value: item.pos });
          visit(item, p);
          if (item.kind === 'object') visit(item, path);
        });
      }
    };
    visit(root, []);
    return new PositionIndex(root.pos, places);
  }

  /** An index with no keys (for a configuration that came from flags only). */
  static empty(filename = ''): PositionIndex {
    return new PositionIndex({ filename, line: 1, column: 1, offset: 0 }, new Map());
  }

  /** Where a key and its value were written, if they were. */
  at(path: readonly string[]): KeyPlace | undefined {
    return this.places.get(path.join(SEP));
  }

  /** Where a key was written, if it was. */
  key(path: readonly string[]): Pos | undefined {
    return this.at(path)?.key;
  }

  /** Where a key's value was written, if it was. */
  value(path: readonly string[]): Pos | undefined {
    return this.at(path)?.value;
  }

  /** The position of the nearest written ancestor key of `path` (the file's start if none). */
  nearest(path: readonly string[]): Pos {
    for (let n = path.length; n > 0; n--) {
      const p = this.key(path.slice(0, n));
      if (p) return p;
    }
    return this.root;
  }
}
