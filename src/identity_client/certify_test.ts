import assert from "node:assert/strict";
import { refreshInMs } from "./certify.ts";

Deno.test("refreshInMs() is 70 % of the time left, clamped to [min, max]", () => {
  const min = 10_000, max = 86_400_000;
  assert.equal(refreshInMs(100_000, 0, min, max), 70_000);
  assert.equal(refreshInMs(1_000_000_000, 0, min, max), max);
  assert.equal(refreshInMs(5_000, 0, min, max), min);
  assert.equal(refreshInMs(-5, 0, min, max), min);
  assert.equal(refreshInMs(3_000, 1_000, 100, max), 1_400);
});
