import assert from "node:assert/strict";
import type { FailureAccrualSpec } from "./breaker.ts";
import { ManualClock } from "./_test_util.ts";
import { type BreakerState, ConsecutiveFailures } from "./breaker.ts";

const SPEC: FailureAccrualSpec = {
  kind: "consecutive",
  maxFailures: 3,
  minPenaltyMs: 1000,
  maxPenaltyMs: 5000,
  jitter: 0.5,
};

function setup(spec = SPEC, random = () => 0) {
  const clock = new ManualClock();
  const changes: BreakerState["kind"][] = [];
  const b = new ConsecutiveFailures({
    spec,
    clock,
    random,
    onChange: (s, prev) => {
      if (s.kind !== prev.kind) changes.push(s.kind);
    },
  });
  const fail = () => b.record(b.acquire(), "failure");
  const ok = () => b.record(b.acquire(), "success");
  return { b, clock, changes, fail, ok };
}

Deno.test("ConsecutiveFailures: open counts failures; a success resets the count", () => {
  const { b, fail, ok } = setup();
  fail();
  fail();
  assert.deepEqual(b.state, { kind: "open", failures: 2 });
  ok();
  assert.deepEqual(b.state, { kind: "open", failures: 0 });
  fail();
  fail();
  b.record(b.acquire(), "none"); // a cancel says nothing
  assert.deepEqual(b.state, { kind: "open", failures: 2 });
  assert.ok(b.permits);
});

Deno.test("ConsecutiveFailures: maxFailures in a row shut the gate for the min penalty", () => {
  const { b, clock, changes, fail } = setup();
  fail();
  fail();
  fail();
  assert.deepEqual(b.state, { kind: "shut", attempt: 0, untilMs: 1000 });
  assert.equal(b.permits, false);
  assert.deepEqual(changes, ["shut"]);
  // Responses arriving while shut are ignored.
  b.record({ probe: false }, "success");
  b.record({ probe: false }, "failure");
  assert.equal(b.state.kind, "shut");
  clock.advance(999);
  assert.equal(b.state.kind, "shut");
  clock.advance(1);
  assert.deepEqual(b.state, { kind: "probation", attempt: 0, probing: false });
  assert.ok(b.permits);
});

Deno.test("ConsecutiveFailures: probation lets exactly one probe through; success reopens", () => {
  const { b, clock, changes, fail } = setup();
  for (let i = 0; i < 3; i++) fail();
  clock.advance(1000);
  const probe = b.acquire();
  assert.equal(probe.probe, true);
  assert.deepEqual(b.state, { kind: "probation", attempt: 0, probing: true });
  assert.equal(b.permits, false, "one probe only");
  // A straggler from before is not the probe: ignored.
  b.record({ probe: false }, "success");
  assert.equal(b.state.kind, "probation");
  b.record(probe, "success");
  assert.deepEqual(b.state, { kind: "open", failures: 0 });
  assert.deepEqual(changes, ["shut", "probation", "open"]);
  // The backoff was reset: the next trip shuts for the min penalty again.
  for (let i = 0; i < 3; i++) fail();
  assert.deepEqual(b.state, { kind: "shut", attempt: 0, untilMs: 2000 });
});

Deno.test("ConsecutiveFailures: a failed probe shuts again with a doubled penalty, capped at max", () => {
  const { b, clock, fail } = setup();
  for (let i = 0; i < 3; i++) fail();
  const penalties: number[] = [];
  for (let n = 0; n < 5; n++) {
    const s = b.state as Extract<BreakerState, { kind: "shut" }>;
    penalties.push(s.untilMs - clock.now());
    clock.advance(s.untilMs - clock.now());
    b.record(b.acquire(), "failure");
  }
  assert.deepEqual(penalties, [1000, 2000, 4000, 5000, 5000]);
});

Deno.test("ConsecutiveFailures: jitter adds up to base·jitter, within max", () => {
  const { b, fail } = setup(SPEC, () => 0.999);
  for (let i = 0; i < 3; i++) fail();
  const s = b.state as Extract<BreakerState, { kind: "shut" }>;
  assert.ok(s.untilMs > 1490 && s.untilMs < 1500, String(s.untilMs));
});

Deno.test("ConsecutiveFailures: a cancelled probe gives the permit back", () => {
  const { b, clock, fail } = setup();
  for (let i = 0; i < 3; i++) fail();
  clock.advance(1000);
  b.record(b.acquire(), "none");
  assert.deepEqual(b.state, { kind: "probation", attempt: 0, probing: false });
  assert.ok(b.permits);
});

Deno.test("ConsecutiveFailures: maxFailures 0 never trips", () => {
  const { b, fail } = setup({ ...SPEC, maxFailures: 0 });
  for (let i = 0; i < 100; i++) fail();
  assert.equal(b.state.kind, "open");
});

Deno.test("ConsecutiveFailures: dispose stops the penalty timer", () => {
  const { b, clock, fail } = setup();
  for (let i = 0; i < 3; i++) fail();
  assert.equal(clock.pending, 1);
  b[Symbol.dispose]();
  assert.equal(clock.pending, 0);
});
