/**
 * Peak-EWMA load of one endpoint: an RTT estimate that jumps to any higher
 * sample at once and decays towards lower ones, times the requests in
 * flight (tower `load/peak_ewma.rs` `PeakEwma`, linkerd `DEFAULT_EWMA`).
 *
 * @module
 */
import { peakEwmaStep } from "./ewma.ts";

/** Options of {@linkcode PeakEwma}. */
export interface PeakEwmaOptions {
  /**
   * The estimate of a fresh endpoint, floored at 1 ms (linkerd `MIN_DEFAULT_RTT`).
   * @default {30}
   */
  defaultRttMs?: number;
  /**
   * The decay time constant: after this long an old estimate keeps 1/e of its weight.
   * @default {10000}
   */
  decayMs?: number;
  /**
   * Record each RTT sample divided by the requests in flight when it was
   * sent (itself included): the estimate becomes a per-request share of
   * the latency, so the queueing already inside an RTT is not multiplied by
   * `pending + 1` a second time. Not in linkerd; see bench/lb_sim.ts.
   * @default {false}
   */
  perRequestShare?: boolean;
  /** Monotonic time in ms (injected: tests and the simulation drive it). */
  now: () => number;
}

/** linkerd's defaults: 30 ms default RTT, 10 s decay. */
export const DEFAULT_EWMA = Object.freeze({
  defaultRttMs: 30,
  decayMs: 10_000,
});

/** linkerd `MIN_DEFAULT_RTT`. */
const MIN_DEFAULT_RTT_MS = 1;

/**
 * The load of one endpoint: `rtt × (pending + 1)`, where the RTT estimate is
 * peak-sensitive and decays with time (tower `PeakEwma`).
 *
 * @example Measure one request
 * ```ts
 * import { PeakEwma } from "./peak_ewma.ts";
 * let t = 0;
 * const ewma = new PeakEwma({ now: () => t });
 * {
 *   using _h = ewma.start(); // pending = 1
 *   t += 80;
 * } // 80 ms sample: a peak, taken at once
 * ewma.load(); // 80
 * ```
 */
export class PeakEwma {
  readonly #decayMs: number;
  readonly #now: () => number;
  readonly #share: boolean;
  #rttMs: number;
  #updatedAt: number;
  #pending = 0;

  constructor(opts: PeakEwmaOptions) {
    this.#decayMs = opts.decayMs ?? DEFAULT_EWMA.decayMs;
    this.#now = opts.now;
    this.#share = opts.perRequestShare ?? false;
    this.#rttMs = Math.max(
      opts.defaultRttMs ?? DEFAULT_EWMA.defaultRttMs,
      MIN_DEFAULT_RTT_MS,
    );
    this.#updatedAt = opts.now();
  }

  /** Requests started and not yet completed. */
  get pending(): number {
    return this.#pending;
  }

  /** The RTT estimate as of the last update (no decay applied). */
  get rttMs(): number {
    return this.#rttMs;
  }

  /**
   * The cost of sending one more request here: the estimate, decayed to now
   * with a zero sample (so idle endpoints look cheaper over time), times
   * `pending + 1` (tower `Load for PeakEwma`). `nowMs` saves a clock read
   * when the caller has the time already.
   */
  load(nowMs?: number): number {
    const now = nowMs ?? this.#now();
    this.#rttMs = peakEwmaStep(this.#rttMs, 0, {
      elapsedMs: now - this.#updatedAt,
      decayMs: this.#decayMs,
    });
    this.#updatedAt = now;
    return this.#rttMs * (this.#pending + 1);
  }

  /**
   * Counts a request as pending until the returned handle completes (tower
   * `Handle`; dispose = complete, so `using h = ewma.start()` works).
   * `nowMs` saves a clock read when the caller has the time already.
   */
  start(nowMs?: number): PeakEwmaHandle {
    const share = this.#share ? ++this.#pending : (this.#pending++, 1);
    return new PeakEwmaHandle(this, nowMs ?? this.#now(), share);
  }

  /** @internal Records a finished request's RTT sample; returns the time used. */
  _complete(sentAt: number, share: number, nowMs: number | undefined): number {
    this.#pending--;
    const now = nowMs ?? this.#now();
    this.#rttMs = peakEwmaStep(this.#rttMs, (now - sentAt) / share, {
      elapsedMs: now - this.#updatedAt,
      decayMs: this.#decayMs,
    });
    this.#updatedAt = now;
    return now;
  }

  /** @internal Forgets a request that never reached the endpoint. */
  _cancel(): void {
    this.#pending--;
  }
}

/** One pending request of a {@linkcode PeakEwma} (tower `peak_ewma::Handle`). */
export class PeakEwmaHandle implements Disposable {
  readonly #ewma: PeakEwma;
  readonly #sentAt: number;
  readonly #share: number;
  #done = false;

  constructor(ewma: PeakEwma, sentAt: number, share: number) {
    this.#ewma = ewma;
    this.#sentAt = sentAt;
    this.#share = share;
  }

  /** When the request started (clock ms). */
  get sentAtMs(): number {
    return this.#sentAt;
  }

  /**
   * The response's first frame arrived: records the RTT sample and stops
   * counting the request as pending (linkerd `PendingUntilFirstData`).
   * Idempotent. Returns the time of the sample (undefined if already done);
   * `nowMs` saves a clock read.
   */
  complete(nowMs?: number): number | undefined {
    if (this.#done) return undefined;
    this.#done = true;
    return this.#ewma._complete(this.#sentAt, this.#share, nowMs);
  }

  /** The request never reached the endpoint: no sample. Idempotent. */
  cancel(): void {
    if (this.#done) return;
    this.#done = true;
    this.#ewma._cancel();
  }

  /** Same as {@linkcode PeakEwmaHandle.complete} (tower's handle drop). */
  [Symbol.dispose](): void {
    this.complete();
  }
}
