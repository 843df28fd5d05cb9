/**
 * The CA journal: a serialisable record of the slots and the local bundle's
 * authorities, so a restarted server resumes with the same CA and JWT keys.
 * JSON (UTF-8 bytes), versioned; the private keys stay in the KeyManager.
 */
import type { SlotStatus } from '../rotator.js';
import type { SlotId } from './slot.js';

export const JOURNAL_VERSION = 1;

export interface X509CAJournalEntry {
  slot: SlotId;
  status: SlotStatus;
  /** Unix milliseconds. */
  issuedAt: number;
  /** The CA certificate, base64 DER. */
  certificate: string;
  /** Upstream chain, base64 DER each (empty for a self-signed root). */
  upstreamChain: string[];
}

export interface JwtKeyJournalEntry {
  slot: SlotId;
  status: SlotStatus;
  issuedAt: number;
  notAfter: number;
  kid: string;
  /** DER SubjectPublicKeyInfo, base64. */
  publicKey: string;
}

export interface JournalBundle {
  /** base64 DER certificates. */
  x509Authorities: string[];
  jwtAuthorities: { kid: string; publicKey: string; expiresAt: number }[];
  sequenceNumber: number;
}

export interface Journal {
  version: typeof JOURNAL_VERSION;
  currentX509Slot: SlotId;
  currentJwtSlot: SlotId;
  x509CAs: X509CAJournalEntry[];
  jwtKeys: JwtKeyJournalEntry[];
  bundle: JournalBundle;
}

export class JournalError extends Error {
  constructor(message: string) {
    super(`invalid CA journal: ${message}`);
    this.name = 'JournalError';
  }
}

const STATUSES: readonly string[] = ['prepared', 'active', 'old'];
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function check(cond: boolean, message: string): asserts cond {
  if (!cond) throw new JournalError(message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isSlot = (v: unknown): v is SlotId => v === 'A' || v === 'B';
const isB64 = (v: unknown): v is string => typeof v === 'string' && B64.test(v);
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function checkEntry(e: unknown, where: string): asserts e is { slot: SlotId; status: SlotStatus; issuedAt: number } {
  check(isObject(e), `${where} is not an object`);
  check(isSlot(e.slot), `${where}.slot must be "A" or "B"`);
  check(typeof e.status === 'string' && STATUSES.includes(e.status), `${where}.status must be prepared, active or old`);
  check(isTime(e.issuedAt), `${where}.issuedAt must be unix milliseconds`);
}

/** Encodes a journal as UTF-8 JSON. */
export function encodeJournal(journal: Journal): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(journal));
}

/**
 * Parses and checks journal bytes (shape only; the manager checks the keys).
 * @throws JournalError
 */
export function loadJournal(bytes: Uint8Array): Journal {
  let j: unknown;
  try {
    j = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new JournalError((err as Error).message);
  }
  check(isObject(j), 'not a JSON object');
  check(j.version === JOURNAL_VERSION, `unsupported version ${JSON.stringify(j.version)} (want ${JOURNAL_VERSION})`);
  check(isSlot(j.currentX509Slot) && isSlot(j.currentJwtSlot), 'current slots must be "A" or "B"');
  check(Array.isArray(j.x509CAs) && j.x509CAs.length <= 2, 'x509CAs must be an array of at most 2');
  j.x509CAs.forEach((e: unknown, i) => {
    const where = `x509CAs[${i}]`;
    checkEntry(e, where);
    const x = e as unknown as Record<string, unknown>;
    check(isB64(x.certificate) && x.certificate !== '', `${where}.certificate must be base64 DER`);
    check(Array.isArray(x.upstreamChain) && x.upstreamChain.every(isB64), `${where}.upstreamChain must be base64 DER strings`);
  });
  check(Array.isArray(j.jwtKeys) && j.jwtKeys.length <= 2, 'jwtKeys must be an array of at most 2');
  j.jwtKeys.forEach((e: unknown, i) => {
    const where = `jwtKeys[${i}]`;
    checkEntry(e, where);
    const x = e as unknown as Record<string, unknown>;
    check(isTime(x.notAfter), `${where}.notAfter must be unix milliseconds`);
    check(typeof x.kid === 'string' && x.kid !== '', `${where}.kid must be a non-empty string`);
    check(isB64(x.publicKey) && x.publicKey !== '', `${where}.publicKey must be base64 DER`);
  });
  const b = j.bundle;
  check(isObject(b), 'bundle must be an object');
  check(Array.isArray(b.x509Authorities) && b.x509Authorities.every(isB64), 'bundle.x509Authorities must be base64 DER strings');
  check(
    Array.isArray(b.jwtAuthorities) &&
      b.jwtAuthorities.every((a: unknown) => isObject(a) && typeof a.kid === 'string' && a.kid !== '' && isB64(a.publicKey) && isTime(a.expiresAt)),
    'bundle.jwtAuthorities must be {kid, publicKey, expiresAt} objects',
  );
  check(isTime(b.sequenceNumber), 'bundle.sequenceNumber must be a non-negative integer');
  return j as unknown as Journal;
}
