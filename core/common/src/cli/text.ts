/**
 * Go-compatible text for the CLIs: encoding/json of a map (sorted keys,
 * HTML-safe escapes) and `time.Time` as Go prints it in UTC.
 *
 * @module
 */

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = sortKeys((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

/**
 * JSON with keys sorted and (unless `htmlSafe` is false, as protojson) Go's
 * HTML-safe escaping, as Go's encoding/json writes a map.
 *
 * @example
 * ```ts
 * goJson({ b: 1, a: '<' }); // '{"a":"\\u003c","b":1}'
 * ```
 */
export function goJson(value: unknown, htmlSafe = true): string {
  const text = JSON.stringify(sortKeys(value));
  if (!htmlSafe) return text;
  return text.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A time as Go's `time.Time` prints in UTC (`2026-11-23 07:15:41 +0000 UTC`),
 * with a fraction of a second only when there is one.
 *
 * @example
 * ```ts
 * goTimeUTC(new Date(0)); // '1970-01-01 00:00:00 +0000 UTC'
 * ```
 */
export function goTimeUTC(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  const ms = d.getUTCMilliseconds();
  const frac = ms === 0 ? '' : `.${String(ms).padStart(3, '0').replace(/0+$/, '')}`;
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}${frac} +0000 UTC`;
}
