/**
 * The failure injector (linkerd `http/route/src/http/filter/inject_failure.rs`):
 * fails a request with probability `numerator / denominator`.
 *
 * @module
 */
import type { Ratio } from "./model.ts";

/**
 * Draws the injector's Bernoulli trial with `random` (uniform in [0, 1)):
 * true means fail this request. 1/1 always fails, 0/n never does.
 */
export function shouldInjectFailure(
  ratio: Ratio,
  random: () => number,
): boolean {
  if (ratio.numerator >= ratio.denominator) return true;
  if (ratio.numerator === 0) return false;
  return random() * ratio.denominator < ratio.numerator;
}

/**
 * Checks a ratio as linkerd's `Bernoulli::from_ratio` does: integers,
 * denominator above 0, numerator at most the denominator. Throws `RangeError`.
 */
export function validateRatio(ratio: Ratio): void {
  const { numerator: n, denominator: d } = ratio;
  if (!Number.isSafeInteger(n) || !Number.isSafeInteger(d) || n < 0 || d <= 0) {
    throw new RangeError(
      `Cannot parse ratio: current value is "${n}/${d}" (the denominator must be above 0)`,
    );
  }
  if (n > d) {
    throw new RangeError(
      `Cannot parse ratio: current value is "${n}/${d}" (the numerator must not exceed the denominator)`,
    );
  }
}
