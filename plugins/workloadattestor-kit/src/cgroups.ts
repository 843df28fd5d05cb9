import { CgroupParseError } from './errors.js';

/** One line of `/proc/<pid>/cgroup`: `hierarchy-ID:controller-list:cgroup-path`. */
export interface CgroupLine {
  hierarchyId: string;
  /** The controllers bound to the hierarchy; empty for the cgroup v2 unified hierarchy (`0::/...`). */
  controllers: string[];
  path: string;
}

function quote(line: string): string {
  return JSON.stringify(line.length > 200 ? `${line.slice(0, 200)}...` : line);
}

/**
 * Parses the text of `/proc/<pid>/cgroup` (cgroup v1, v2 or hybrid). The
 * path keeps any further colons (it is everything after the second one).
 * Empty lines are skipped; any other line without two colons is an error.
 */
export function parseCgroupFile(text: string): CgroupLine[] {
  const out: CgroupLine[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const a = line.indexOf(':');
    const b = a < 0 ? -1 : line.indexOf(':', a + 1);
    if (b < 0) {
      const fields = a < 0 ? 1 : 2;
      throw new CgroupParseError(
        `invalid cgroup entry on line ${i + 1}: contains ${fields} colon separated field${fields === 1 ? '' : 's'} but expected at least 3: ${quote(line)}`,
      );
    }
    const controllers = line.slice(a + 1, b);
    out.push({
      hierarchyId: line.slice(0, a),
      controllers: controllers === '' ? [] : controllers.split(','),
      path: line.slice(b + 1),
    });
  }
  return out;
}
