/**
 * A reader of one DataStore change-event stream (entry or node events) that
 * tolerates event ids committed out of order, as SPIRE's entry fetcher does:
 * an id skipped over now may show up later when a slower transaction
 * commits, so skipped ids are remembered for `timeoutMs` and looked for again
 * on each poll; and during `timeoutMs` after the first event is seen, ids
 * below it are looked for too.
 */
import type { Logger } from '@spire-ts/common';
import type { ChangeEvent } from '../plugin/datastore/datastore.js';

export type ListEvents = (afterId: number, limit: number) => Promise<ChangeEvent[]>;

export interface EventCursorOptions {
  /** Milliseconds since the epoch. */
  nowMs: () => number;
  /** How long a skipped id (or an id below the first) is waited for. */
  timeoutMs: number;
  /** Events asked per call. */
  pageSize: number;
  /** Skipped ids remembered at most (a larger gap is not tracked beyond this). */
  maxTracked: number;
  log: Logger;
  /** `entry` or `node`, for log lines. */
  kind: string;
}

/** Events asked per call when looking below the first event. */
const PROBE_LIMIT = 100;

export class EventCursor {
  private lastId = 0;
  /** 0 until an event has been seen. */
  private firstId = 0;
  private firstSeenAtMs = 0;
  /** Ids below the first event already picked up. */
  private readonly beforeFirstSeen = new Set<number>();
  /** Skipped event id → give up after (ms). */
  private readonly skipped = new Map<number, number>();
  private overflowWarned = false;

  constructor(
    private readonly list: ListEvents,
    private readonly opts: EventCursorOptions,
  ) {}

  /** The highest event id seen. */
  get lastEventId(): number {
    return this.lastId;
  }

  /** The skipped ids still waited for. */
  get trackedSkipped(): number {
    return this.skipped.size;
  }

  /**
   * Reads the events not seen yet and adds their subjects to `changed` as it
   * goes: on failure, what was read is both in `changed` and marked seen, so
   * the caller keeps `changed` and polls again.
   */
  async poll(changed: Set<string>): Promise<void> {
    const now = this.opts.nowMs();
    for (const [id, until] of this.skipped) if (until < now) this.skipped.delete(id);
    await this.probeBeforeFirst(changed, now);

    let after = this.lastId;
    for (const id of this.skipped.keys()) after = Math.min(after, id - 1);
    for (;;) {
      const events = await this.list(after, this.opts.pageSize);
      for (const ev of events) {
        after = ev.eventId;
        if (ev.eventId <= this.lastId) {
          if (this.skipped.delete(ev.eventId)) changed.add(ev.subject);
          continue;
        }
        if (this.firstId === 0) {
          this.firstId = ev.eventId;
          this.firstSeenAtMs = now;
        } else {
          this.trackGap(this.lastId + 1, ev.eventId, now);
        }
        this.lastId = ev.eventId;
        changed.add(ev.subject);
      }
      if (events.length < this.opts.pageSize) return;
    }
  }

  private trackGap(from: number, to: number, now: number): void {
    for (let id = from; id < to; id++) {
      if (this.skipped.size >= this.opts.maxTracked) {
        if (!this.overflowWarned) {
          this.overflowWarned = true;
          this.opts.log.warn(`entry cache: too many skipped ${this.opts.kind} event ids to track; later commits of these may be missed until a restart`, {
            tracked: this.skipped.size, gap_from: id, gap_to: to - 1,
          });
        }
        return;
      }
      this.skipped.set(id, now + this.opts.timeoutMs);
    }
  }

  private async probeBeforeFirst(changed: Set<string>, now: number): Promise<void> {
    if (this.firstId <= 1) return;
    if (now - this.firstSeenAtMs > this.opts.timeoutMs) {
      this.beforeFirstSeen.clear();
      return;
    }
    let after = 0;
    for (;;) {
      const events = await this.list(after, PROBE_LIMIT);
      for (const ev of events) {
        if (ev.eventId >= this.firstId) return;
        after = ev.eventId;
        if (!this.beforeFirstSeen.has(ev.eventId)) {
          this.beforeFirstSeen.add(ev.eventId);
          changed.add(ev.subject);
        }
      }
      if (events.length < PROBE_LIMIT) return;
    }
  }
}
