/**
 * Power of two choices: draw two distinct endpoints at random and take the
 * less loaded (tower `balance/p2c`, linkerd `pool/p2c`).
 *
 * @module
 */

/** Something with a load (tower `Load`). */
export interface Loaded {
  /** The cost of one more request; `nowMs` is the time, when the caller read it. */
  load(nowMs?: number): number;
}

/**
 * The index P2C chooses among `items`: −1 for none, 0 for one, otherwise two
 * distinct indices drawn with `random()` and the lower load wins (ties go to
 * the first drawn), as linkerd's `P2cPool::p2c_ready_index`. `nowMs` is
 * handed to both `load()`s (one clock read for the choice).
 *
 * @example Deterministic with an injected random
 * ```ts
 * import { p2cIndex } from "./p2c.ts";
 * const items = [5, 1, 3].map((l) => ({ load: () => l }));
 * const draws = [0.0, 0.5]; // indices 0, then 1 of the remaining 2 → 2
 * p2cIndex(items, () => draws.shift()!); // 2 (load 3 < 5)
 * ```
 */
export function p2cIndex(
  items: readonly Loaded[],
  random: () => number,
  nowMs?: number,
): number {
  const n = items.length;
  if (n < 2) return n - 1;
  const i = Math.floor(random() * n);
  let j = Math.floor(random() * (n - 1));
  if (j >= i) j++;
  return items[j]!.load(nowMs) < items[i]!.load(nowMs) ? j : i;
}

/**
 * The index of the least loaded of `items` (−1 for none), comparing every
 * one; ties go to the lowest index. The full-scan choice for small pools.
 * `nowMs` is handed to every `load()` (one clock read for the scan).
 *
 * @example
 * ```ts
 * import { leastLoadedIndex } from "./p2c.ts";
 * leastLoadedIndex([5, 1, 3].map((l) => ({ load: () => l }))); // 1
 * ```
 */
export function leastLoadedIndex(
  items: readonly Loaded[],
  nowMs?: number,
): number {
  let best = -1;
  let bestLoad = Infinity;
  for (let i = 0; i < items.length; i++) {
    const l = items[i]!.load(nowMs);
    if (l < bestLoad) {
      best = i;
      bestLoad = l;
    }
  }
  return best;
}
