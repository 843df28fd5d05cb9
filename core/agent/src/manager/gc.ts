/**
 * A full garbage collection after the agent took in many entries or minted
 * many X.509-SVIDs.
 *
 * Decoding ten thousand entries, or minting an SVID, leaves garbage behind,
 * much of it in buffers whose memory lives outside V8's heap (a mint
 * batch's request and response messages, the DER of keys and CSRs: about
 * two kilobytes per SVID). They stay alive across a server call, so V8 moves
 * them to its old generation, where only a full collection frees them, and
 * V8 starts one only when its heap or its external memory has grown by tens
 * of megabytes. A sync that minted ten thousand SVIDs therefore ended with
 * 20 MB or more of such garbage, or not, depending on whether a full
 * collection happened to run near its end; and the malloc heap, grown
 * meanwhile, does not shrink when the garbage is finally freed. Collecting
 * after every few thousand entries or SVIDs keeps that garbage to a few
 * megabytes, reused by what comes next, for one full collection (some tens
 * of milliseconds with ten thousand entries) per few thousand. A steady
 * agent, whose syncs change nothing, never collects.
 *
 * Node offers no collection call without `--expose-gc`, which users running
 * `spire-agent` directly cannot pass; the flag takes effect for contexts
 * created after it is set, so a new context provides V8's `gc` function.
 *
 * @module
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Entries taken in or SVIDs minted between two collections. */
export const WORK_PER_COLLECTION = 2000;

type Gc = () => void;
let gc: Gc | null | undefined;

/** V8's `gc`, or null where it cannot be had. */
function gcFunction(): Gc | null {
  if (gc !== undefined) return gc;
  try {
    setFlagsFromString('--expose-gc');
    const fn: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
    gc = typeof fn === 'function' ? (fn as Gc) : null;
  } catch {
    gc = null;
  }
  return gc;
}

/** Counts work that leaves garbage behind, and collects it once there is enough. */
export class SyncGarbage {
  #work = 0;

  constructor(private readonly every = WORK_PER_COLLECTION) {}

  /** Records `n` entries taken in or SVIDs minted. */
  add(n: number): void {
    this.#work += n;
  }

  /** Collects if {@link every} units of work were done since the last collection; returns whether it did. */
  collectIfDue(): boolean {
    if (this.#work < this.every) return false;
    this.#work = 0;
    const collect = gcFunction();
    if (!collect) return false;
    collect();
    return true;
  }
}
