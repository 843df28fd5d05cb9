/**
 * When to rotate: SPIRE's thresholds (pkg/server/ca/manager/slot.go) as a pure
 * function of the clock reading and the slots' lifetimes. The next authority
 * is prepared once the current one passes its preparation point (half its
 * lifetime, at most 30 days before expiry) and activated once it passes its
 * activation point (a sixth of its lifetime, at most 7 days before expiry).
 * Both comparisons are strict, as Go's `now.After(threshold)`.
 */

const DAY_MS = 24 * 60 * 60 * 1000;
/** SPIRE's `preparationThresholdCap`. */
export const PREPARATION_THRESHOLD_CAP_MS = 30 * DAY_MS;
/** SPIRE's `preparationThresholdDivisor`. */
export const PREPARATION_THRESHOLD_DIVISOR = 2;
/** SPIRE's `activationThresholdCap`. */
export const ACTIVATION_THRESHOLD_CAP_MS = 7 * DAY_MS;
/** SPIRE's `activationThresholdDivisor`. */
export const ACTIVATION_THRESHOLD_DIVISOR = 6;
/** SPIRE's `safetyThresholdBundle`: expired authorities stay in the bundle this long. */
export const BUNDLE_PRUNE_GRACE_MS = DAY_MS;

export type AuthorityKind = 'x509' | 'jwt';
export type SlotStatus = 'prepared' | 'active' | 'old';

/** What the rotator needs to know about a slot. */
export interface SlotTimes {
  readonly issuedAt: Date;
  readonly notAfter: Date;
  readonly status: SlotStatus;
}

/** The two slots of one kind; a slot that is absent or `old` counts as empty. */
export interface KindState {
  readonly current?: SlotTimes | undefined;
  readonly next?: SlotTimes | undefined;
}

export interface RotationState {
  readonly x509: KindState;
  readonly jwt: KindState;
  /** Expiry of every authority in the bundle (X.509 CAs and JWT keys). */
  readonly bundleExpiries: readonly Date[];
  /** Default {@link BUNDLE_PRUNE_GRACE_MS}. */
  readonly pruneGraceMs?: number;
}

export type RotationAction =
  | { readonly type: 'prepare'; readonly kind: AuthorityKind }
  | { readonly type: 'activate'; readonly kind: AuthorityKind }
  | { readonly type: 'prune' }
  | { readonly type: 'nothing'; readonly nextCheckAt: Date };

function threshold(s: SlotTimes, divisor: number, capMs: number): number {
  const lifetime = s.notAfter.getTime() - s.issuedAt.getTime();
  return s.notAfter.getTime() - Math.min(lifetime / divisor, capMs);
}

/** The instant after which the next authority should be prepared. */
export function preparationThreshold(s: SlotTimes): Date {
  return new Date(threshold(s, PREPARATION_THRESHOLD_DIVISOR, PREPARATION_THRESHOLD_CAP_MS));
}

/** The instant after which the next authority should be activated. */
export function activationThreshold(s: SlotTimes): Date {
  return new Date(threshold(s, ACTIVATION_THRESHOLD_DIVISOR, ACTIVATION_THRESHOLD_CAP_MS));
}

function live(s: SlotTimes | undefined): SlotTimes | undefined {
  return s && s.status !== 'old' ? s : undefined;
}

function kindAction(now: number, kind: AuthorityKind, st: KindState): RotationAction | number {
  const current = live(st.current);
  const next = live(st.next);
  if (!current) return next ? { type: 'activate', kind } : { type: 'prepare', kind };
  if (current.status === 'prepared') return { type: 'activate', kind };
  const activateAt = activationThreshold(current).getTime();
  if (now > activateAt) return next ? { type: 'activate', kind } : { type: 'prepare', kind };
  const prepareAt = preparationThreshold(current).getTime();
  if (!next && now > prepareAt) return { type: 'prepare', kind };
  // Nothing due: the first instant something will be.
  return next ? activateAt + 1 : prepareAt + 1;
}

/**
 * The first rotation step due at `now`, or when to look again. Apply the
 * action and call again until it answers `nothing`.
 *
 * @example
 * ```ts
 * for (let a = nextAction(clock.now(), state); a.type !== 'nothing'; a = nextAction(clock.now(), state)) apply(a);
 * ```
 */
export function nextAction(now: Date, state: RotationState): RotationAction {
  const t = now.getTime();
  const times: number[] = [];
  for (const kind of ['x509', 'jwt'] as const) {
    const a = kindAction(t, kind, state[kind]);
    if (typeof a !== 'number') return a;
    times.push(a);
  }
  const grace = state.pruneGraceMs ?? BUNDLE_PRUNE_GRACE_MS;
  for (const expiry of state.bundleExpiries) {
    const pruneAt = expiry.getTime() + grace;
    if (t > pruneAt) return { type: 'prune' };
    times.push(pruneAt + 1);
  }
  return { type: 'nothing', nextCheckAt: new Date(Math.min(...times)) };
}

/** Whether an authority expiring at `notAfter` is past its bundle grace at `now`. */
export function isPrunable(now: Date, notAfter: Date, graceMs: number = BUNDLE_PRUNE_GRACE_MS): boolean {
  return now.getTime() > notAfter.getTime() + graceMs;
}

/** SPIRE's `rotateInterval`: the longest the rotation loop sleeps (so a clock jump is noticed). */
export const ROTATE_INTERVAL_MS = 10_000;

/** What the rotation loop drives (the CA manager). */
export interface Rotatable {
  rotate(): Promise<{ nextCheckAt: Date }>;
}

/** Timer functions, injected so tests drive the loop by hand. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface RotationLoopOptions {
  target: Rotatable;
  clock: { now(): Date };
  /** Default the global timers. */
  timers?: Timers;
  /** Default {@link ROTATE_INTERVAL_MS}. */
  maxIntervalMs?: number;
  /** A failed rotation is reported here and retried after `maxIntervalMs`. */
  onError?: (err: unknown) => void;
}

/**
 * Runs `target.rotate()` now and then at each `nextCheckAt`, never sleeping
 * longer than `maxIntervalMs`. Returns a stop function.
 *
 * @example
 * ```ts
 * const stop = startRotationLoop({ target: manager, clock: systemClock, onError: (e) => log.error('rotation failed', { error: String(e) }) });
 * ```
 */
export function startRotationLoop(opts: RotationLoopOptions): () => void {
  const timers: Timers = opts.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
  const max = opts.maxIntervalMs ?? ROTATE_INTERVAL_MS;
  let stopped = false;
  let handle: unknown;
  const schedule = (ms: number): void => {
    if (!stopped) handle = timers.setTimeout(tick, Math.max(0, Math.min(ms, max)));
  };
  function tick(): void {
    opts.target.rotate().then(
      (r) => schedule(r.nextCheckAt.getTime() - opts.clock.now().getTime()),
      (err: unknown) => {
        opts.onError?.(err);
        schedule(max);
      },
    );
  }
  tick();
  return () => {
    stopped = true;
    if (handle !== undefined) timers.clearTimeout(handle);
  };
}
