/**
 * The legacy container locator's `container_id_cgroup_matchers`: patterns of
 * `/`-separated parts where `*` matches one whole part, `<id>` captures the
 * container ID (exactly once per pattern), and anything else is literal.
 */
const WILDCARD = '*';
const ID_TOKEN = '<id>';

export class MatcherError extends Error {
  override readonly name = 'MatcherError';
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

function equivalent(a: string, b: string): boolean {
  if (a === b) return true;
  const pa = a.split('/');
  const pb = b.split('/');
  if (pa.length !== pb.length) return false;
  return pa.every((x, i) => {
    const y = pb[i]!;
    return x === y || x === WILDCARD || y === WILDCARD || x === ID_TOKEN || y === ID_TOKEN;
  });
}

export class CgroupMatchers {
  private readonly res: RegExp[];

  constructor(patterns: readonly string[]) {
    if (patterns.length === 0) throw new MatcherError('at least 1 pattern must be supplied');
    const ambiguous = new Set<string>();
    for (let i = 0; i < patterns.length; i++) {
      for (let j = i + 1; j < patterns.length; j++) {
        if (equivalent(patterns[i]!, patterns[j]!)) {
          ambiguous.add(patterns[i]!);
          ambiguous.add(patterns[j]!);
        }
      }
    }
    if (ambiguous.size > 0) throw new MatcherError(`patterns must not be ambiguous: ${[...ambiguous].map((p) => JSON.stringify(p)).join(', ')}`);
    this.res = patterns.map((pattern) => {
      let ids = 0;
      const parts = pattern.split('/').map((part) => {
        if (part === WILDCARD) return '[^/]*';
        if (part === ID_TOKEN) {
          ids++;
          return '([^/]*)';
        }
        return escapeRegExp(part);
      });
      if (ids !== 1) throw new MatcherError(`pattern ${JSON.stringify(pattern)} must contain the container id token "${ID_TOKEN}" exactly once`);
      return new RegExp(`^${parts.join('/')}$`);
    });
  }

  /** The captured ID of the first pattern matching `cgroupPath`; undefined when none matches. */
  find(cgroupPath: string): string | undefined {
    for (const re of this.res) {
      const m = re.exec(cgroupPath);
      if (m) return m[1]!;
    }
    return undefined;
  }
}
