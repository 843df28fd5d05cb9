// The start of the X.509 identity streams: the first snapshot at once, or a
// wait for SVIDs still being minted that holds back empty updates and ends
// with the first update carrying identities or with the time limit.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Selector, WorkloadUpdate, WorkloadUpdateListener } from '../src/workload/cache.js';
import { SvidWaitingSubscription } from '../src/workload/svid-wait.js';

const SELECTORS: Selector[] = [{ type: 'unix', value: 'uid:1000' }];

function update(identities: number): WorkloadUpdate {
  return { identities: Array.from({ length: identities }, (_, i) => ({ entryId: `e${i}` })), bundle: undefined, federatedBundles: [] } as unknown as WorkloadUpdate;
}

/** A cache with `matching` entries for the selectors and `cached` SVIDs among them. */
class FakeSource {
  listeners = new Set<WorkloadUpdateListener>();
  constructor(public matching: number, public cached: number) {}
  subscribe(_s: readonly Selector[], l: WorkloadUpdateListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  fetchWorkloadUpdate(): WorkloadUpdate {
    return update(this.cached);
  }
  matchingEntries(): never[] {
    return Array.from({ length: this.matching }) as never[];
  }
  emit(u: WorkloadUpdate): void {
    for (const l of this.listeners) l(u);
  }
}

afterEach(() => {
  vi.useRealTimers();
});

describe('SvidWaitingSubscription', () => {
  it('delivers the first snapshot at once when SVIDs are cached, or when no entry matches', () => {
    for (const [matching, cached, want] of [[2, 2, 2], [0, 0, 0]] as const) {
      const src = new FakeSource(matching, cached);
      const got: number[] = [];
      const sub = new SvidWaitingSubscription(src, SELECTORS, (u) => got.push(u.identities.length), 1000);
      const onWait = vi.fn();
      sub.start(onWait);
      expect(got).toEqual([want]);
      expect(onWait).not.toHaveBeenCalled();
      src.emit(update(3));
      expect(got).toEqual([want, 3]);
      sub.stop();
      src.emit(update(4));
      expect(got).toEqual([want, 3]);
      expect(src.listeners.size).toBe(0);
    }
  });

  it('waits for minting SVIDs: empty updates held back, the first with identities delivered', () => {
    vi.useFakeTimers();
    const src = new FakeSource(1, 0);
    const got: number[] = [];
    const sub = new SvidWaitingSubscription(src, SELECTORS, (u) => got.push(u.identities.length), 1000);
    const onWait = vi.fn();
    sub.start(onWait);
    expect(onWait).toHaveBeenCalledTimes(1);
    expect(got).toEqual([]);
    src.emit(update(0));
    expect(got).toEqual([]);
    src.emit(update(1));
    expect(got).toEqual([1]);
    // The wait is over: the timer no longer fires, and later (even empty) updates are delivered.
    vi.advanceTimersByTime(5000);
    src.emit(update(0));
    expect(got).toEqual([1, 0]);
    sub.stop();
  });

  it('delivers what the cache has when the wait times out, and nothing after stop', () => {
    vi.useFakeTimers();
    const src = new FakeSource(1, 0);
    const got: number[] = [];
    const sub = new SvidWaitingSubscription(src, SELECTORS, (u) => got.push(u.identities.length), 1000);
    sub.start();
    vi.advanceTimersByTime(999);
    expect(got).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(got).toEqual([0]);

    const src2 = new FakeSource(1, 0);
    const got2: number[] = [];
    const sub2 = new SvidWaitingSubscription(src2, SELECTORS, (u) => got2.push(u.identities.length), 1000);
    sub2.start();
    sub2.stop();
    vi.advanceTimersByTime(2000);
    src2.emit(update(1));
    expect(got2).toEqual([]);
    sub.stop();
  });
});
