import assert from "node:assert/strict";
import { backoffDelayMs, DEFAULT_CONNECT_BACKOFF } from "./backoff.ts";

Deno.test("backoffDelayMs() doubles from min up to max without jitter", () => {
  const spec = { minMs: 100, maxMs: 1000, jitter: 0 };
  const delays = [0, 1, 2, 3, 4, 60, 5000].map((n) =>
    backoffDelayMs(spec, n, Math.random)
  );
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
});

Deno.test("backoffDelayMs() adds jitter in [0, base·jitter), total capped at max", () => {
  const spec = DEFAULT_CONNECT_BACKOFF; // 100 ms → 60 s, 0.1
  assert.equal(backoffDelayMs(spec, 0, () => 0), 100);
  assert.equal(backoffDelayMs(spec, 0, () => 0.5), 105);
  assert.ok(backoffDelayMs(spec, 1, () => 0.999) < 220);
  assert.equal(backoffDelayMs(spec, 20, () => 0.999), 60_000);
  // The breaker's defaults: 1 s → 60 s, jitter 0.5.
  const breaker = { minMs: 1000, maxMs: 60_000, jitter: 0.5 };
  assert.equal(backoffDelayMs(breaker, 0, () => 1), 1500);
  assert.equal(backoffDelayMs(breaker, 5, () => 1), 48_000);
  assert.equal(backoffDelayMs(breaker, 6, () => 1), 60_000);
});
