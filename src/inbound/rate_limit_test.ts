import assert from "node:assert/strict";
import { Gcra, LocalRateLimit } from "./rate_limit.ts";

Deno.test("Gcra.check() allows a burst of rps, then one per interval", () => {
  const g = new Gcra(10);
  let ok = 0;
  for (let i = 0; i < 20; i++) if (g.check(0)) ok++;
  assert.equal(ok, 10);
  assert.equal(g.check(50), false);
  assert.equal(g.check(100), true);
  assert.equal(g.check(100), false);
  // One second at 30 req/s with the bucket empty: 10 more.
  let later = 0;
  for (let t = 101; t < 1101; t += 1000 / 30) if (g.check(t)) later++;
  assert.ok(later >= 9 && later <= 11, `allowed ${later}`);
});

Deno.test("LocalRateLimit.check() checks total, then the override, else the per-identity bucket", () => {
  let now = 0;
  const rl = new LocalRateLimit({
    meta: undefined,
    totalRps: 100,
    identityRps: 2,
    overrides: new Map([["vip.ns", 5]]),
  }, { now: () => now });
  assert.equal(rl.check("a.ns"), undefined);
  assert.equal(rl.check("a.ns"), undefined);
  assert.equal(
    rl.check("a.ns")?.message,
    "per-identity rate limit exceeded: 2rps",
  );
  assert.equal(rl.check("b.ns"), undefined, "each identity has its own bucket");
  for (let i = 0; i < 5; i++) assert.equal(rl.check("vip.ns"), undefined);
  assert.equal(rl.check("vip.ns")?.scope, "override");
  assert.equal(rl.check(undefined), undefined);
  assert.equal(rl.check(undefined), undefined);
  assert.equal(
    rl.check(undefined)?.scope,
    "identity",
    "no identity shares one bucket",
  );
  now = 10_000;
  const t = new LocalRateLimit({
    meta: undefined,
    totalRps: 1,
    identityRps: 0,
    overrides: new Map(),
  }, { now: () => now });
  assert.equal(t.check("x"), undefined);
  assert.equal(t.check("y")?.message, "total rate limit exceeded: 1rps");
});
