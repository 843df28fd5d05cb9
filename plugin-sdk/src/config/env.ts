/**
 * `$VAR` / `${VAR}` expansion with the semantics of Go's `os.ExpandEnv`, as
 * used by SPIRE's `-expandEnv` flag.
 *
 * @module
 */

/**
 * Where {@link expandEnv} looks variables up: an environment-like record or a
 * function (`undefined` means unset, which expands to the empty string).
 *
 * @example
 * ```ts
 * const env: EnvSource = { TRUST_DOMAIN: 'example.org' };
 * const fn: EnvSource = (name) => (name === 'HOME' ? '/root' : undefined);
 * ```
 */
export type EnvSource = Readonly<Record<string, string | undefined>> | ((name: string) => string | undefined);

/**
 * Replaces `${VAR}` and `$VAR` in `text` exactly like Go's `os.Expand`:
 * - `$NAME` takes the longest run of ASCII letters, digits and `_`;
 * - `${NAME}` takes everything up to the first `}`;
 * - the shell special names `$*` `$#` `$$` `$@` `$!` `$?` `$-` and `$0`..`$9`
 *   (also as `${*}` etc.) are looked up as one-character names;
 * - unset variables expand to `""`;
 * - `${}` and an unterminated `${` are dropped (bad syntax is eaten);
 * - a `$` followed by any other character, or at the end, stays as is.
 *
 * `env` defaults to `process.env`.
 *
 * @example
 * ```ts
 * expandEnv('trust_domain = "${TD}"  port = $PORT', { TD: 'example.org', PORT: '8081' });
 * // 'trust_domain = "example.org"  port = 8081'
 * expandEnv('cost: $5 and 100%$', {}); // 'cost:  and 100%$'  ($5 is a special name, unset)
 * ```
 */
export function expandEnv(text: string, env: EnvSource = process.env): string {
  const lookup = typeof env === 'function' ? env : (name: string): string | undefined => (Object.hasOwn(env, name) ? env[name] : undefined);
  let out = '';
  let i = 0; // start of the not-yet-copied text
  for (let j = 0; j < text.length; j++) {
    if (text[j] !== '$' || j + 1 >= text.length) continue;
    out += text.slice(i, j);
    const [name, width] = shellName(text, j + 1);
    if (name === '' && width > 0) {
      // Invalid syntax: eat the characters.
    } else if (name === '') {
      out += '$'; // "$" not followed by a name: keep it.
    } else {
      out += lookup(name) ?? '';
    }
    j += width;
    i = j + 1;
  }
  return i === 0 ? text : out + text.slice(i);
}

function isShellSpecial(c: string | undefined): boolean {
  return c !== undefined && '*#$@!?-0123456789'.includes(c);
}

function isAlphaNum(c: string | undefined): boolean {
  return c !== undefined && /^[A-Za-z0-9_]$/.test(c);
}

/** Go's getShellName: the name starting at `at` and how many characters it spans. */
function shellName(s: string, at: number): [string, number] {
  if (s[at] === '{') {
    if (s.length - at > 2 && isShellSpecial(s[at + 1]) && s[at + 2] === '}') return [s[at + 1]!, 3];
    for (let k = at + 1; k < s.length; k++) {
      if (s[k] === '}') {
        if (k === at + 1) return ['', 2]; // "${}": bad syntax, eaten
        return [s.slice(at + 1, k), k - at + 1];
      }
    }
    return ['', 1]; // unterminated "${": eat "${"
  }
  if (isShellSpecial(s[at])) return [s[at]!, 1];
  let k = at;
  while (k < s.length && isAlphaNum(s[k])) k++;
  return [s.slice(at, k), k - at];
}
