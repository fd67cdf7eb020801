import assert from "node:assert/strict";
import { decayFactor, ewmaStep, peakEwmaStep } from "./ewma.ts";

const close = (a: number, b: number, eps = 1e-9) =>
  assert.ok(Math.abs(a - b) <= eps, `${a} ≉ ${b}`);

Deno.test("decayFactor() is e^(-elapsed/decay), 1 for no time, 0 for no decay", () => {
  close(decayFactor(10_000, 10_000), Math.exp(-1));
  close(decayFactor(10_000 * Math.LN2, 10_000), 0.5);
  assert.equal(decayFactor(0, 10_000), 1);
  assert.equal(decayFactor(-5, 10_000), 1);
  assert.equal(decayFactor(1, 0), 0);
});

Deno.test("ewmaStep() weighs the old estimate by the time elapsed", () => {
  const opts = { elapsedMs: 10_000, decayMs: 10_000 };
  close(ewmaStep(30, 10, opts), 30 / Math.E + 10 * (1 - 1 / Math.E));
  // No time elapsed: the sample has no weight.
  assert.equal(ewmaStep(30, 10, { elapsedMs: 0, decayMs: 10_000 }), 30);
  // Very long: the sample wins.
  close(ewmaStep(30, 10, { elapsedMs: 1e9, decayMs: 10_000 }), 10);
});

Deno.test("peakEwmaStep() takes a higher sample at once, decays towards a lower one", () => {
  const opts = { elapsedMs: 1, decayMs: 10_000 };
  assert.equal(peakEwmaStep(10, 80, opts), 80);
  const down = peakEwmaStep(80, 10, { elapsedMs: 5_000, decayMs: 10_000 });
  close(down, 80 * Math.exp(-0.5) + 10 * (1 - Math.exp(-0.5)));
  assert.ok(down < 80 && down > 10);
});
