/**
 * Checks Workload API responses on the wire, without decoding them in full:
 * the agent load process counts the SVIDs of every response at up to
 * thousands of calls per second, and a full decode of ten X.509-SVIDs with
 * their keys and bundles by the generated codec costs about 10 µs each.
 */
/** Reads a protobuf varint at `pos.i`; throws past the end or beyond 2^53. */
function varint(b: Buffer, pos: { i: number }): number {
  let v = 0;
  for (let mul = 1; ; mul *= 128) {
    if (pos.i >= b.length) throw new Error('truncated varint');
    const x = b[pos.i++]!;
    v += (x & 0x7f) * mul;
    if (x < 0x80) return v;
    if (mul > 2 ** 45) throw new Error('varint too long');
  }
}

/** Calls `fn(field, start, end)` for each length-delimited field of `b[from, to)`, skipping the others; throws on malformed input. */
function eachBytesField(b: Buffer, from: number, to: number, fn: (field: number, start: number, end: number) => void): void {
  const pos = { i: from };
  while (pos.i < to) {
    const key = varint(b, pos);
    const field = Math.floor(key / 8);
    switch (key & 7) {
      case 0: varint(b, pos); break;
      case 1: pos.i += 8; break;
      case 5: pos.i += 4; break;
      case 2: {
        const len = varint(b, pos);
        const start = pos.i;
        pos.i += len;
        if (pos.i > to) throw new Error('truncated field');
        fn(field, start, pos.i);
        break;
      }
      default: throw new Error(`wire type ${key & 7}`);
    }
    if (pos.i > to) throw new Error('truncated field');
  }
}

const SPIFFE_PREFIX = Buffer.from('spiffe://');

/**
 * The SVIDs in an X509SVIDResponse or JWTSVIDResponse (field 1, repeated),
 * read on the wire instead of decoding the whole message with the codec
 * (~10 µs for ten X.509-SVIDs with their keys and bundle, per call): each
 * must carry a spiffe:// ID (field 1) and a non-empty SVID (field 2), for
 * X.509 also a key (field 3); a JWT must have the three dot-separated parts
 * of a JWS. Returns -1 if any SVID is malformed.
 */
export function countSvids(msg: Buffer, method: 'x509' | 'jwt'): number {
  let n = 0;
  let bad = false;
  try {
    eachBytesField(msg, 0, msg.length, (f, s, e) => {
      if (f !== 1) return;
      n++;
      let id = false;
      let svid = false;
      let key = method === 'jwt';
      eachBytesField(msg, s, e, (g, a, z) => {
        if (g === 1) id = z - a > SPIFFE_PREFIX.length && msg.compare(SPIFFE_PREFIX, 0, SPIFFE_PREFIX.length, a, a + SPIFFE_PREFIX.length) === 0;
        else if (g === 2) {
          if (method === 'x509') svid = z > a;
          else {
            // header.payload.signature, none empty.
            const first = msg.indexOf(0x2e, a);
            const second = first < 0 ? -1 : msg.indexOf(0x2e, first + 1);
            const third = second < 0 ? -1 : msg.indexOf(0x2e, second + 1);
            svid = first > a && second > first + 1 && second < z - 1 && (third < 0 || third >= z);
          }
        } else if (g === 3 && method === 'x509') key = z > a;
      });
      if (!id || !svid || !key) bad = true;
    });
  } catch {
    return -1;
  }
  return bad ? -1 : n;
}
