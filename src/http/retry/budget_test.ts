import assert from "node:assert/strict";
import { DEFAULT_RETRY_BUDGET, TpsBudget } from "./budget.ts";

Deno.test("TpsBudget: the reserve allows minPerSecond × ttl retries with no traffic", () => {
  let now = 0;
  const b = new TpsBudget(DEFAULT_RETRY_BUDGET, () => now);
  let n = 0;
  while (b.withdraw()) n++;
  assert.equal(n, 100); // 10/s × 10 s
  assert.equal(b.available, 0);
  // One second later the spent reserve is still counted (same 10 s window).
  now = 1000;
  assert.equal(b.withdraw(), false);
  // Once the window has passed, the withdrawals expire.
  now = 11_000;
  assert.equal(b.available, 100);
});

Deno.test("TpsBudget: every 5 requests buy one retry at ratio 0.2", () => {
  let now = 0;
  const b = new TpsBudget(
    { ratio: 0.2, minPerSecond: 0, ttlMs: 10_000 },
    () => now,
  );
  assert.equal(b.withdraw(), false);
  for (let i = 0; i < 1000; i++) b.deposit();
  let n = 0;
  while (b.withdraw()) n++;
  assert.equal(n, 200);
  // Deposits spread over slots expire slot by slot.
  now = 5000;
  for (let i = 0; i < 50; i++) b.deposit();
  assert.equal(b.available, 10);
  now = 10_500; // the first slot (1000 deposits, 200 retries: net 0) expired
  assert.equal(b.available, 10);
  now = 16_000; // all expired
  assert.equal(b.available, 0);
});

Deno.test("TpsBudget: ratio 0 allows only the reserve; ratios above 1 allow several retries per request", () => {
  const zero = new TpsBudget(
    { ratio: 0, minPerSecond: 1, ttlMs: 1000 },
    () => 0,
  );
  for (let i = 0; i < 100; i++) zero.deposit();
  assert.equal(zero.available, 1);
  const two = new TpsBudget(
    { ratio: 2, minPerSecond: 0, ttlMs: 1000 },
    () => 0,
  );
  for (let i = 0; i < 10; i++) two.deposit();
  assert.equal(two.available, 20);
});

Deno.test("TpsBudget rejects specs tower rejects", () => {
  assert.throws(
    () => new TpsBudget({ ratio: 0.2, minPerSecond: 10, ttlMs: 500 }),
    RangeError,
  );
  assert.throws(
    () => new TpsBudget({ ratio: 2000, minPerSecond: 10, ttlMs: 1000 }),
    RangeError,
  );
});
