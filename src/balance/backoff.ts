/**
 * Exponential backoff with jitter (linkerd `linkerd/exp-backoff`
 * `ExponentialBackoff`): base `min·2^n` capped at `max`, plus a jitter drawn
 * from `[0, base·jitter)`, the total capped at `max`.
 *
 * @module
 */

/** Backoff parameters (linkerd `ExponentialBackoff`). */
export interface BackoffSpec {
  /** The first delay. */
  readonly minMs: number;
  /** No delay is longer. */
  readonly maxMs: number;
  /** Jitter ratio in [0, 1]. */
  readonly jitter: number;
}

/** linkerd's outbound connect backoff: 100 ms → 60 s, jitter 0.1 (`OUTBOUND_CONNECT_EXP_BACKOFF_*`). */
export const DEFAULT_CONNECT_BACKOFF: BackoffSpec = Object.freeze({
  minMs: 100,
  maxMs: 60_000,
  jitter: 0.1,
});

/**
 * The delay before retry number `attempt` (0 = the first retry), with
 * `random()` in [0, 1) choosing the jitter (linkerd `ExponentialBackoff::stream`).
 *
 * @example Without jitter
 * ```ts
 * import { backoffDelayMs } from "./backoff.ts";
 * const spec = { minMs: 100, maxMs: 1000, jitter: 0 };
 * [0, 1, 2, 3, 4].map((n) => backoffDelayMs(spec, n, Math.random)); // [100, 200, 400, 800, 1000]
 * ```
 */
export function backoffDelayMs(
  spec: BackoffSpec,
  attempt: number,
  random: () => number,
): number {
  const base = Math.min(spec.minMs * 2 ** Math.min(attempt, 52), spec.maxMs);
  const jitter = spec.jitter > 0 ? base * spec.jitter * random() : 0;
  return Math.min(base + jitter, spec.maxMs);
}
