// PERMISSION_DENIED status details: the hand-written google.rpc.Status encoder
// checked byte for byte against protobufjs loading the real .proto files, and
// the decoder fed what protobufjs (like grpc-go) encodes, plus hostile bytes.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type * as Protobuf from 'protobufjs';
import { Status } from '@spire-ts/plugin-sdk';
import { DENIED_REASONS, decodeDeniedReason, deniedWithReason, encodeDeniedStatus, type DeniedReason } from '../src/api/errors.js';

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs') as typeof Protobuf;

const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../proto');
const URL = 'type.googleapis.com/spire.api.types.PermissionDeniedDetails';

const root = new protobuf.Root();
// google/protobuf/*.proto are bundled with protobufjs; everything else comes from the repo.
root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : join(PROTO_DIR, target));
root.loadSync(['google/rpc/status.proto', 'spire/api/types/status.proto'], { keepCase: true });
const StatusMsg = root.lookupType('google.rpc.Status');
const Details = root.lookupType('spire.api.types.PermissionDeniedDetails');
const ReasonEnum = root.lookupEnum('spire.api.types.PermissionDeniedDetails.Reason');

interface DecodedStatus {
  code: number;
  message: string;
  details: { type_url: string; value: Uint8Array }[];
}

function decodeStatus(bytes: Uint8Array): DecodedStatus {
  return StatusMsg.toObject(StatusMsg.decode(bytes), { defaults: true, arrays: true }) as DecodedStatus;
}

/** A google.rpc.Status as grpc-go would put it in grpc-status-details-bin. */
function protobufStatus(message: string, details: { type_url: string; value: Uint8Array }[], code = 7): Buffer {
  return Buffer.from(StatusMsg.encode(StatusMsg.fromObject({ code, message, details })).finish());
}

/** PermissionDeniedDetails bytes; proto3 omits a zero reason (protobufjs would write it out). */
function detailsValue(reason: number): Uint8Array {
  return reason === 0 ? new Uint8Array() : Details.encode(Details.fromObject({ reason })).finish();
}

const REASONS = Object.keys(DENIED_REASONS) as DeniedReason[];

describe('encodeDeniedStatus', () => {
  it('knows exactly the reasons of spire.api.types.PermissionDeniedDetails.Reason, with the same numbers', () => {
    expect(DENIED_REASONS).toEqual(ReasonEnum.values);
  });

  it.each(REASONS)('is a valid google.rpc.Status{code=7, details=[PermissionDeniedDetails{%s}]}', (reason) => {
    const message = `agent "spiffe://example.org/spire/agent/x" denied: ${reason}`;
    const bytes = encodeDeniedStatus(message, reason);
    const status = decodeStatus(bytes);
    expect(status.code).toBe(Status.PERMISSION_DENIED);
    expect(status.message).toBe(message);
    expect(status.details).toHaveLength(1);
    const any = status.details[0]!;
    expect(any.type_url).toBe(URL);
    const details = Details.toObject(Details.decode(any.value), { defaults: true, enums: String }) as { reason: string };
    expect(details.reason).toBe(reason);
    // Canonical proto3 encoding: protobufjs produces the very same bytes.
    expect(bytes.toString('hex')).toBe(protobufStatus(message, [{ type_url: URL, value: detailsValue(DENIED_REASONS[reason]) }]).toString('hex'));
  });

  it('encodes long messages (multi-byte length varints) and non-ASCII text correctly', () => {
    const message = `authorization denied for method /x.Y/Z ${'é'.repeat(200)} ✓`;
    const bytes = encodeDeniedStatus(message, 'AGENT_BANNED');
    const status = decodeStatus(bytes);
    expect(status.message).toBe(message);
    expect(bytes.equals(protobufStatus(message, [{ type_url: URL, value: detailsValue(4) }]))).toBe(true);
    expect(decodeDeniedReason(bytes)).toBe('AGENT_BANNED');
  });

  it('round-trips every reason through decodeDeniedReason', () => {
    for (const reason of REASONS) expect(decodeDeniedReason(encodeDeniedStatus('m', reason))).toBe(reason);
  });
});

describe('decodeDeniedReason on what protobufjs / grpc-go encode', () => {
  it.each(REASONS.filter((r) => r !== 'UNKNOWN'))('reads %s', (reason) => {
    expect(decodeDeniedReason(protobufStatus('denied', [{ type_url: URL, value: detailsValue(DENIED_REASONS[reason]) }]))).toBe(reason);
  });

  it('reads an empty PermissionDeniedDetails (reason omitted on the wire) as UNKNOWN', () => {
    expect(decodeDeniedReason(protobufStatus('denied', [{ type_url: URL, value: new Uint8Array() }]))).toBe('UNKNOWN');
  });

  it('finds the PermissionDeniedDetails among other details', () => {
    const other = { type_url: 'type.googleapis.com/google.rpc.DebugInfo', value: new Uint8Array([0x12, 0x03, 0x61, 0x62, 0x63]) };
    const bytes = protobufStatus('denied', [other, { type_url: URL, value: detailsValue(DENIED_REASONS.AGENT_NOT_ACTIVE) }]);
    expect(decodeDeniedReason(bytes)).toBe('AGENT_NOT_ACTIVE');
  });

  it('reads an explicitly encoded zero reason as UNKNOWN', () => {
    const zero = Details.encode(Details.fromObject({ reason: 0 })).finish();
    expect(Array.from(zero)).toEqual([0x08, 0x00]);
    expect(decodeDeniedReason(protobufStatus('denied', [{ type_url: URL, value: zero }]))).toBe('UNKNOWN');
  });

  it('reads a reason number it does not know as UNKNOWN', () => {
    expect(decodeDeniedReason(protobufStatus('denied', [{ type_url: URL, value: detailsValue(42) }]))).toBe('UNKNOWN');
  });

  it('is undefined without details or with details of another type', () => {
    expect(decodeDeniedReason(protobufStatus('denied', []))).toBeUndefined();
    expect(decodeDeniedReason(new Uint8Array())).toBeUndefined();
    const other = { type_url: 'type.googleapis.com/google.rpc.ErrorInfo', value: detailsValue(2) };
    expect(decodeDeniedReason(protobufStatus('denied', [other]))).toBeUndefined();
  });
});

describe('decodeDeniedReason on garbage', () => {
  const good = encodeDeniedStatus('authorization denied for method /a.B/C', 'AGENT_EXPIRED');

  it('is undefined for every truncation of a valid status, never throwing', () => {
    // The details field is last: any cut before its end loses it (or leaves a partial field).
    for (let n = 0; n < good.length; n++) {
      expect(() => decodeDeniedReason(good.subarray(0, n)), `cut at ${n}`).not.toThrow();
      expect(decodeDeniedReason(good.subarray(0, n)), `cut at ${n}`).toBeUndefined();
    }
  });

  it('is undefined for bytes that are not a Status', () => {
    const cases: [string, number[]][] = [
      ['unterminated varint', [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
      ['length beyond the end', [0x1a, 0x7f, 0x01]],
      ['unsupported wire type (fixed64)', [0x09, 1, 2, 3, 4, 5, 6, 7, 8]],
      ['details field is a varint', [0x18, 0x05]],
      ['Any with garbage inside', [0x1a, 0x02, 0x0a, 0x7f]],
      ['only continuation bytes', [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]],
    ];
    for (const [name, bytes] of cases) {
      expect(() => decodeDeniedReason(new Uint8Array(bytes)), name).not.toThrow();
      expect(decodeDeniedReason(new Uint8Array(bytes)), name).toBeUndefined();
    }
  });

  it('is undefined for PermissionDeniedDetails whose own bytes are garbage', () => {
    const bytes = protobufStatus('denied', [{ type_url: URL, value: new Uint8Array([0x08, 0x80]) }]);
    expect(decodeDeniedReason(bytes)).toBeUndefined();
  });

  it('never throws on random bytes', () => {
    let seed = 12345;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let i = 0; i < 500; i++) {
      const bytes = Uint8Array.from({ length: 1 + (i % 40) }, rand);
      expect(() => decodeDeniedReason(bytes)).not.toThrow();
    }
  });
});

describe('deniedWithReason', () => {
  it('is PERMISSION_DENIED with the message and the encoded status in grpc-status-details-bin', () => {
    const err = deniedWithReason('agent "spiffe://example.org/spire/agent/x" is banned', 'AGENT_BANNED');
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.message).toBe('agent "spiffe://example.org/spire/agent/x" is banned');
    const values = err.metadata?.get('grpc-status-details-bin') ?? [];
    expect(values).toHaveLength(1);
    const bytes = values[0];
    expect(Buffer.isBuffer(bytes)).toBe(true);
    const status = decodeStatus(bytes as Buffer);
    expect(status).toMatchObject({ code: 7, message: err.message });
    expect(Details.toObject(Details.decode(status.details[0]!.value), { enums: String })).toEqual({ reason: 'AGENT_BANNED' });
  });
});
