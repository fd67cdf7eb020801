/**
 * One timer for many deadlines of the same length (the idea of undici's
 * `util/timers.js` and of style rule H4): entries are due in the order they
 * were added, so a FIFO `Map` and a single `setTimeout` for its oldest entry
 * serve any number of connections. Adding and removing are O(1); no timer
 * runs while the queue is empty.
 *
 * @module
 */

/** Something told when its deadline passed. */
export interface DeadlineTarget {
  deadlinePassed(): void;
}

/** Deadlines of one fixed length, served by one timer (undici `fastTimers`). */
export class DeadlineQueue {
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #due = new Map<DeadlineTarget, number>();
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;

  /** `now` is the clock in milliseconds. @default {performance.now} */
  constructor(timeoutMs: number, now: () => number = () => performance.now()) {
    this.#timeoutMs = timeoutMs;
    this.#now = now;
  }

  /** Entries waiting. */
  get size(): number {
    return this.#due.size;
  }

  /** Starts `t`'s deadline, `timeoutMs` from now (no-op if it runs already). */
  add(t: DeadlineTarget): void {
    if (this.#due.has(t)) return;
    this.#due.set(t, this.#now() + this.#timeoutMs);
    if (this.#timer === undefined) this.#arm(this.#timeoutMs);
  }

  /** Cancels `t`'s deadline. */
  delete(t: DeadlineTarget): void {
    if (!this.#due.delete(t) || this.#due.size > 0) return;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(this.#fire, ms < 1 ? 1 : Math.ceil(ms));
  }

  #fire = (): void => {
    this.#timer = undefined;
    const now = this.#now();
    // Entries added by a callback are due later than `now`: the loop ends.
    for (const [t, at] of this.#due) {
      if (at > now) {
        if (this.#timer === undefined) this.#arm(at - now);
        return;
      }
      this.#due.delete(t);
      try {
        t.deadlinePassed();
      } catch { /* the target's own failure; the others are still due */ }
    }
  };
}

const QUEUES = new Map<number, DeadlineQueue>();

/** The process-wide queue for deadlines of `timeoutMs`. */
export function sharedDeadlines(timeoutMs: number): DeadlineQueue {
  let q = QUEUES.get(timeoutMs);
  if (q === undefined) {
    q = new DeadlineQueue(timeoutMs);
    QUEUES.set(timeoutMs, q);
  }
  return q;
}
