/** The only source of time for the CA: injected so rotation can be tested under a fake clock. */
export interface Clock {
  now(): Date;
}

/** The wall clock. */
export const systemClock: Clock = Object.freeze({ now: () => new Date() });
