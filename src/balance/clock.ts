/**
 * The clock and timers the balancer reads, injected so tests and the
 * load-balancing simulation control time (linkerd's rule against reading
 * `Instant::now()` in balancer logic; tokio's paused test clock).
 *
 * @module
 */

/** An opaque timer id of a {@linkcode Clock}. */
export type TimerId = unknown;

/** Time source and timers (tokio `time`), in milliseconds. */
export interface Clock {
  /** Monotonic time in ms. */
  now(): number;
  /** Calls `fn` once after `ms`; returns an id for {@linkcode Clock.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): TimerId;
  /** Cancels a timer; unknown ids are ignored. */
  clearTimeout(id: TimerId): void;
}

/** The real clock: `performance.now()` and the global timers. */
export const REAL_CLOCK: Clock = Object.freeze({
  now: () => performance.now(),
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
  clearTimeout: (id: TimerId) =>
    clearTimeout(id as ReturnType<typeof setTimeout>),
});
