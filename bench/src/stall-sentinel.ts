/**
 * Machine-stall sentinel of the agent bench: a forked process that does
 * nothing but wake on a 1 ms timer and remember every wake-up that came
 * more than STALL_MS late. Being idle, it is late only when the machine
 * did not run it: when both CPUs were taken (by the bench's own processes,
 * at rates that saturate them) or when the virtual machine as a whole was
 * not running. On the 2-vCPU VM of this project, the latter happens for
 * 3-12 ms every half second or so, to every process at once; a call open
 * across such a moment is late by as much, whatever the agent does.
 *
 * The load process asks, after each step, for the stalls inside the
 * step's window, and reports the p99 of the calls that did not overlap one
 * beside the p99 of all calls (which stays the headline figure).
 *
 * Times are CLOCK_MONOTONIC milliseconds (process.hrtime), which every
 * process on the machine shares.
 *
 * IPC: `{type:'stalls', from, to}` → `{type:'stalls', stalls: [start, end][]}`;
 * `{type:'exit'}`.
 */

/** A wake-up later than this (beyond its 1 ms period) is a stall. */
export const STALL_MS = 2;

export const monoMs = (): number => Number(process.hrtime.bigint() / 1000n) / 1000;

// Only run as a forked child: importing the constants above must not start a timer.
if (process.send && process.argv[2] === 'sentinel') {
  const stalls: [number, number][] = [];
  let last = monoMs();
  setInterval(() => {
    const now = monoMs();
    if (now - last > 1 + STALL_MS) stalls.push([last, now]);
    last = now;
    // Keep the last minute or so: steps ask right after their window.
    if (stalls.length > 20_000) stalls.splice(0, 10_000);
  }, 1);
  process.on('message', (m: { type: string; from?: number; to?: number }) => {
    if (m.type === 'stalls') {
      const from = m.from ?? -Infinity;
      const to = m.to ?? Infinity;
      process.send!({ type: 'stalls', stalls: stalls.filter(([s, e]) => e > from && s < to) });
    } else if (m.type === 'exit') {
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
}
