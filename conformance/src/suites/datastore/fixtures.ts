/**
 * Test fixtures shared by the DataStore contract and the plugin's own tests:
 * a fake clock, error assertions by gRPC code, entry/node builders and
 * structurally valid DER certificates with a chosen notAfter and SKI.
 */
import { expect } from 'vitest';

/** gRPC status codes (google.rpc.Code), so the contract works with any implementation's errors. */
export const GrpcCode = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;
export type GrpcCodeName = keyof typeof GrpcCode;

export class FakeClock {
  constructor(public t = 1_700_000_000) {}
  readonly now = (): number => this.t;
  advance(seconds: number): void {
    this.t += seconds;
  }
}

/** Awaits `p`, expects it to reject with the gRPC code, returns the error. */
export async function expectCode(p: Promise<unknown>, code: GrpcCodeName, message?: RegExp): Promise<Error & { details?: Record<string, unknown> }> {
  const outcome = await p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (outcome.ok) throw new Error(`expected ${code}, but the call succeeded with ${JSON.stringify(outcome.value)?.slice(0, 200)}`);
  const err = outcome.error as Error & { code?: unknown };
  expect(err, `expected ${code}, got ${String(err)}`).toBeInstanceOf(Error);
  expect({ code: err.code, message: err.message }).toMatchObject({ code: GrpcCode[code] });
  if (message) expect(err.message).toMatch(message);
  return err as Error & { details?: Record<string, unknown> };
}

export const TD = 'spiffe://example.org';
export const SERVER_ID = `${TD}/spire/server`;
export const agentId = (name: string): string => `${TD}/spire/agent/x509pop/${name}`;
export const sel = (type: string, value: string): { type: string; value: string } => ({ type, value });

// --- DER certificates (structure only; the signature is not valid) ----------

function tlv(tag: number, content: Buffer): Buffer {
  const len = content.length;
  let header: Buffer;
  if (len < 0x80) header = Buffer.from([tag, len]);
  else if (len < 0x100) header = Buffer.from([tag, 0x81, len]);
  else header = Buffer.from([tag, 0x82, len >> 8, len & 0xff]);
  return Buffer.concat([header, content]);
}
const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const oid = (hex: string): Buffer => tlv(0x06, Buffer.from(hex, 'hex'));
const name = (cn: string): Buffer => seq(tlv(0x31, seq(oid('550403'), tlv(0x0c, Buffer.from(cn)))));

function generalizedTime(unix: number): Buffer {
  const d = new Date(unix * 1000);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const s = `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return tlv(0x18, Buffer.from(s));
}

/** A DER certificate with the given notAfter (Unix seconds) and subject key ID (hex). */
export function fakeCert(opts: { notAfter: number; ski: string; cn?: string }): Uint8Array {
  const spki = seq(seq(oid('2a8648ce3d0201'), oid('2a8648ce3d030107')), tlv(0x03, Buffer.concat([Buffer.from([0, 4]), Buffer.alloc(64, 7)])));
  const skiExt = seq(oid('551d0e'), tlv(0x04, tlv(0x04, Buffer.from(opts.ski, 'hex'))));
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, Buffer.from([1])),
    seq(oid('2a8648ce3d040302')),
    name(opts.cn ?? 'ca'),
    seq(generalizedTime(opts.notAfter - 86_400 * 365), generalizedTime(opts.notAfter)),
    name(opts.cn ?? 'ca'),
    spki,
    tlv(0xa3, seq(skiExt)),
  );
  return new Uint8Array(seq(tbs, seq(oid('2a8648ce3d040302')), tlv(0x03, Buffer.from([0, 1, 2, 3]))));
}

export const fakeKey = (n: number): Uint8Array => new Uint8Array(Buffer.alloc(91, n));
