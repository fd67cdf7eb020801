/**
 * Exponentially weighted moving averages over irregular samples, weighted by
 * the time elapsed since the last update (linkerd `ewma`, tower
 * `load/peak_ewma.rs` `RttEstimate::update`).
 *
 * @module
 */

/**
 * The weight the old estimate keeps after `elapsedMs`: e^(−elapsed/decay).
 *
 * @example Half-life
 * ```ts
 * import { decayFactor } from "./ewma.ts";
 * decayFactor(10_000 * Math.LN2, 10_000); // 0.5
 * ```
 */
export function decayFactor(elapsedMs: number, decayMs: number): number {
  if (elapsedMs <= 0) return 1;
  if (decayMs <= 0) return 0;
  return Math.exp(-elapsedMs / decayMs);
}

/**
 * One EWMA step: `estimate·d + sample·(1 − d)` with d = {@linkcode decayFactor}
 * (tower `RttEstimate::update`, the non-peak branch).
 *
 * @example Ten seconds pull a 30 ms estimate most of the way to a 10 ms sample
 * ```ts
 * import { ewmaStep } from "./ewma.ts";
 * ewmaStep(30, 10, 10_000, 10_000); // 10 + 20/e ≈ 17.36
 * ```
 */
export function ewmaStep(
  estimate: number,
  sample: number,
  opts: { elapsedMs: number; decayMs: number },
): number {
  const d = decayFactor(opts.elapsedMs, opts.decayMs);
  return estimate * d + sample * (1 - d);
}

/**
 * One Peak-EWMA step: a sample above the estimate replaces it at once (the
 * peak); otherwise an {@linkcode ewmaStep} (tower `RttEstimate::update`).
 *
 * @example A peak is taken at once
 * ```ts
 * import { peakEwmaStep } from "./ewma.ts";
 * peakEwmaStep(10, 80, { elapsedMs: 1, decayMs: 10_000 }); // 80
 * ```
 */
export function peakEwmaStep(
  estimate: number,
  sample: number,
  opts: { elapsedMs: number; decayMs: number },
): number {
  return sample > estimate ? sample : ewmaStep(estimate, sample, opts);
}
