/**
 * A retry budget over a sliding window (tower `retry::budget::TpsBudget`,
 * as linkerd's ServiceProfile retries use it): every request deposits,
 * every retry withdraws, and a floor of `minPerSecond` retries per second
 * is always available, so retries cannot multiply an outage.
 *
 * Arithmetic as tower's: with `0 < ratio ≤ 1` a deposit adds 1 and a
 * withdrawal takes `⌊1/ratio⌋`; the reserve is
 * `minPerSecond × ttl seconds × withdrawal`; a withdrawal succeeds while the
 * deposits of the last `ttl` (10 slots of `ttl/10`) plus the reserve, minus
 * the withdrawals of that window, still cover it.
 *
 * @module
 */

import type { RetryBudget } from "../route/model.ts";

/**
 * A retry budget (linkerd `RetryBudget`, tower `TpsBudget::new`): `ratio`
 * retries per request in [0, 1000], `minPerSecond` retries per second
 * always allowed, deposits counted for `ttlMs` (1 s to 60 s).
 */
export type RetryBudgetSpec = RetryBudget;

/** The controller's default budget: 20 % of requests, ≥ 10 retries/s, 10 s window. */
export const DEFAULT_RETRY_BUDGET: RetryBudgetSpec = Object.freeze({
  ratio: 0.2,
  minPerSecond: 10,
  ttlMs: 10_000,
});

const SLOTS = 10;

/** tower's `TpsBudget`, single-threaded. */
export class TpsBudget {
  readonly #now: () => number;
  readonly #deposit: number;
  readonly #withdraw: number;
  readonly #reserve: number;
  readonly #windowMs: number;
  readonly #slots = new Array<number>(SLOTS).fill(0);
  #index = 0;
  #since: number;
  /** The current slot's running total. */
  #current = 0;

  /**
   * @param now Monotonic milliseconds. @default {performance.now}
   */
  constructor(
    spec: RetryBudgetSpec = DEFAULT_RETRY_BUDGET,
    now: () => number = () => performance.now(),
  ) {
    const { ratio, minPerSecond, ttlMs } = spec;
    if (!(ttlMs >= 1000 && ttlMs <= 60_000)) {
      throw new RangeError(
        `Cannot build retry budget: ttl must be 1s to 60s, current value is ${ttlMs}ms`,
      );
    }
    if (!(ratio >= 0 && ratio <= 1000)) {
      throw new RangeError(
        `Cannot build retry budget: ratio must be in [0, 1000], current value is ${ratio}`,
      );
    }
    if (!(minPerSecond >= 0 && minPerSecond < 2 ** 31)) {
      throw new RangeError(
        `Cannot build retry budget: minPerSecond must be in [0, 2^31), current value is ${minPerSecond}`,
      );
    }
    if (ratio === 0) {
      this.#deposit = 0;
      this.#withdraw = 1;
    } else if (ratio <= 1) {
      this.#deposit = 1;
      this.#withdraw = Math.floor(1 / ratio);
    } else {
      this.#deposit = 1000;
      this.#withdraw = Math.floor(1000 / ratio);
    }
    this.#reserve = Math.floor(minPerSecond) * Math.floor(ttlMs / 1000) *
      this.#withdraw;
    this.#windowMs = ttlMs / SLOTS;
    this.#now = now;
    this.#since = now();
  }

  /** Records one request (tower `Budget::deposit`). */
  deposit(): void {
    this.#expire();
    this.#current += this.#deposit;
  }

  /** Takes one retry from the budget; false when it is spent (tower `Budget::withdraw`). */
  withdraw(): boolean {
    this.#expire();
    if (this.#sum() < this.#withdraw) return false;
    this.#current -= this.#withdraw;
    return true;
  }

  /** Retries available right now (for tests and diagnostics). */
  get available(): number {
    this.#expire();
    return Math.max(0, Math.floor(this.#sum() / this.#withdraw));
  }

  #sum(): number {
    let sum = this.#current + this.#reserve;
    for (let i = 0; i < SLOTS; i++) {
      if (i !== this.#index) sum += this.#slots[i]!;
    }
    return sum;
  }

  /** Moves to the slot of `now`, zeroing the slots that expired (tower `expire`). */
  #expire(): void {
    const now = this.#now();
    let elapsed = now - this.#since;
    if (elapsed < this.#windowMs) return;
    this.#slots[this.#index] = this.#current;
    this.#current = 0;
    let idx = (this.#index + 1) % SLOTS;
    for (let n = 0; elapsed > this.#windowMs && n < SLOTS; n++) {
      this.#slots[idx] = 0;
      elapsed -= this.#windowMs;
      idx = (idx + 1) % SLOTS;
    }
    this.#index = idx;
    this.#since = now;
  }
}
