/**
 * V8 heap settings of the `spire-agent` process, applied before anything
 * else is loaded (the executable's first statement).
 *
 * The young generation starts with 1 MiB semi-spaces and V8 doubles them,
 * up to 16 MiB each, whenever many objects survive a scavenge. Minting
 * thousands of X.509-SVIDs in a sync does exactly that, and V8 only shrinks
 * them again at a garbage collection while allocation is slow, which an idle
 * agent never triggers: the process kept 32 MiB of young generation it no
 * longer used. Users start `spire-agent` directly (no `node` flags, and the
 * BusyBox `env` of small images cannot pass any in a shebang), so the agent
 * sets the growth factor itself: `semi_space_growth_factor` is read each
 * time V8 considers growing the young generation, so setting it at start-up
 * takes effect, unlike the semi-space size limits, which V8 reads only when
 * the heap is created.
 *
 * @module
 */
import { setFlagsFromString } from 'node:v8';

/** Keeps the young generation at its initial size (1 MiB semi-spaces). */
export const HEAP_FLAGS = '--semi-space-growth-factor=1';

/** Applies {@link HEAP_FLAGS} to this process. */
export function applyHeapSettings(): void {
  setFlagsFromString(HEAP_FLAGS);
}
