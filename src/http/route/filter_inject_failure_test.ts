import assert from "node:assert/strict";
import { shouldInjectFailure, validateRatio } from "./filter_inject_failure.ts";

Deno.test("shouldInjectFailure() draws Bernoulli(numerator/denominator)", () => {
  const always = { numerator: 1, denominator: 1 };
  const never = { numerator: 0, denominator: 5 };
  const quarter = { numerator: 1, denominator: 4 };
  const throws = () => {
    throw new Error("random() must not be called");
  };
  assert.equal(shouldInjectFailure(always, throws), true);
  assert.equal(shouldInjectFailure(never, throws), false);
  assert.equal(shouldInjectFailure(quarter, () => 0.2499), true);
  assert.equal(shouldInjectFailure(quarter, () => 0.25), false);
  let i = 0;
  const seq = () => (i++ % 100) / 100;
  let n = 0;
  for (let k = 0; k < 1000; k++) if (shouldInjectFailure(quarter, seq)) n++;
  assert.equal(n, 250);
});

Deno.test("validateRatio() accepts linkerd's Bernoulli ratios only", () => {
  validateRatio({ numerator: 0, denominator: 1 });
  validateRatio({ numerator: 3, denominator: 3 });
  assert.throws(
    () => validateRatio({ numerator: 1, denominator: 0 }),
    RangeError,
  );
  assert.throws(
    () => validateRatio({ numerator: 2, denominator: 1 }),
    RangeError,
  );
  assert.throws(
    () => validateRatio({ numerator: 0.5, denominator: 1 }),
    RangeError,
  );
});
