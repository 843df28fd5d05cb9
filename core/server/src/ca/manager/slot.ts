/** The two slots (A and B) each kind of authority rotates through, and their KeyManager key IDs. */
import type { JwtKey, X509CA } from '../ca.js';
import type { SlotStatus } from '../rotator.js';

export type SlotId = 'A' | 'B';

export const SLOT_IDS: readonly SlotId[] = Object.freeze(['A', 'B']);

export function otherSlot(id: SlotId): SlotId {
  return id === 'A' ? 'B' : 'A';
}

/** SPIRE's KeyManager key ID of an X.509 CA slot: `x509-CA-A` / `x509-CA-B`. */
export function x509CAKeyId(id: SlotId): string {
  return `x509-CA-${id}`;
}

/** SPIRE's KeyManager key ID of a JWT key slot: `JWT-Signer-A` / `JWT-Signer-B`. */
export function jwtKeyId(id: SlotId): string {
  return `JWT-Signer-${id}`;
}

export interface X509CASlot {
  readonly id: SlotId;
  status: SlotStatus;
  /** The clock reading when the CA was prepared (the rotation thresholds are fractions of notAfter − issuedAt). */
  readonly issuedAt: Date;
  readonly ca: X509CA;
}

export interface JwtKeySlot {
  readonly id: SlotId;
  status: SlotStatus;
  readonly issuedAt: Date;
  readonly jwtKey: JwtKey;
}
