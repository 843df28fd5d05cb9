/** The server CA: signing (ca.ts), slot lifecycle and journal (manager/), rotation timing (rotator.ts). */
export { ServerCA, DEFAULT_X509_SVID_TTL_MS, DEFAULT_JWT_SVID_TTL_MS } from './ca.js';
export type { ServerCAConfig, X509CA, JwtKey, X509SvidRequest, IssuedX509Svid, JwtSvidRequest, IssuedJwtSvid } from './ca.js';
export { systemClock } from './clock.js';
export type { Clock } from './clock.js';
export {
  nextAction,
  preparationThreshold,
  activationThreshold,
  isPrunable,
  PREPARATION_THRESHOLD_CAP_MS,
  PREPARATION_THRESHOLD_DIVISOR,
  ACTIVATION_THRESHOLD_CAP_MS,
  ACTIVATION_THRESHOLD_DIVISOR,
  BUNDLE_PRUNE_GRACE_MS,
  ROTATE_INTERVAL_MS,
  startRotationLoop,
} from './rotator.js';
export type { AuthorityKind, SlotStatus, SlotTimes, KindState, RotationState, RotationAction, Rotatable, Timers, RotationLoopOptions } from './rotator.js';
export { certificateSigner, jwtAlgorithmFor, jwtSigner } from './signers.js';
export { CAManager, DEFAULT_CA_TTL_MS } from './manager/manager.js';
export type { CAManagerConfig, SlotView } from './manager/manager.js';
export { loadJournal, encodeJournal, JournalError, JOURNAL_VERSION } from './manager/journal.js';
export type { Journal, X509CAJournalEntry, JwtKeyJournalEntry, JournalBundle } from './manager/journal.js';
export { x509CAKeyId, jwtKeyId, otherSlot, SLOT_IDS } from './manager/slot.js';
export type { SlotId, X509CASlot, JwtKeySlot } from './manager/slot.js';
