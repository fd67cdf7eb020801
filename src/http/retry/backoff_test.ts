import assert from "node:assert/strict";
import { ManualClock } from "../../balance/_test_util.ts";
import { backoffDelayMs, DEFAULT_RETRY_BACKOFF, delay } from "./backoff.ts";

Deno.test("backoffDelayMs() with the route default: 25 ms doubling to 250 ms, jitter up to the base", () => {
  const lo = [0, 1, 2, 3, 4].map((n) =>
    backoffDelayMs(DEFAULT_RETRY_BACKOFF, n, () => 0)
  );
  assert.deepEqual(lo, [25, 50, 100, 200, 250]);
  const hi = [0, 1, 2, 3, 4].map((n) =>
    backoffDelayMs(DEFAULT_RETRY_BACKOFF, n, () => 0.999999)
  );
  assert.deepEqual(hi.map(Math.round), [50, 100, 200, 250, 250]);
});

Deno.test("delay() waits on the clock and stops at an abort", async () => {
  const clock = new ManualClock();
  let done = false;
  const p = delay(25, clock).then(() => done = true);
  clock.advance(24);
  await Promise.resolve();
  assert.equal(done, false);
  clock.advance(1);
  await p;
  assert.ok(done);

  const ctl = new AbortController();
  const q = delay(25, clock, ctl.signal);
  ctl.abort(new Error("client gone"));
  await assert.rejects(q, /client gone/);
  assert.equal(clock.pending, 0);
  await assert.rejects(delay(5, clock, ctl.signal), /client gone/);
  await delay(0, clock);
});
