import assert from "node:assert/strict";
import type { FailureAccrualSpec } from "./breaker.ts";
import { flush, ManualClock, MockService, seededRandom } from "./_test_util.ts";
import { type EndpointState, P2cPool, type PoolService } from "./pool.ts";

interface Meta {
  v: number;
}

function setup(
  opts: { failureAccrual?: FailureAccrualSpec; probe?: boolean } = {},
) {
  const clock = new ManualClock();
  const services = new Map<string, MockService[]>();
  const counts: [number, number][] = [];
  const updates: string[] = [];
  const breaker: string[] = [];
  let readyCalls = 0;
  const pool = new P2cPool<MockService, Meta>({
    newService: (key) => {
      const s = new MockService(key);
      if (opts.probe === false) (s as { probe?: unknown }).probe = undefined;
      services.set(key, [...(services.get(key) ?? []), s]);
      return s;
    },
    sameMeta: (a, b) => a.v === b.v,
    clock,
    random: () => 0, // no jitter: 100 ms, 200 ms, …
    ...(opts.failureAccrual ? { failureAccrual: opts.failureAccrual } : {}),
    onReady: () => readyCalls++,
    metrics: {
      endpoints: (r, p) => counts.push([r, p]),
      update: (op) => updates.push(op),
      breaker: (to) => breaker.push(to),
    },
  });
  const svc = (key: string) => services.get(key)!.at(-1)!;
  const state = (key: string): EndpointState | undefined =>
    pool.get(key)?.state;
  return {
    pool,
    clock,
    svc,
    services,
    state,
    counts,
    updates,
    breaker,
    readyCalls: () => readyCalls,
  };
}

const A = "10.0.0.1:80", B = "10.0.0.2:80", C = "10.0.0.3:80";

Deno.test("P2cPool: a new endpoint is pending while it connects, then ready", async () => {
  const t = setup();
  t.pool.reset([[A, { v: 1 }]]);
  assert.deepEqual(t.state(A), { kind: "pending", reason: "connecting" });
  assert.equal(t.pool.pick(), undefined);
  assert.deepEqual(t.counts.at(-1), [0, 1]);
  await t.svc(A).connect(true);
  assert.deepEqual(t.state(A), { kind: "ready" });
  assert.equal(t.pool.pick()?.key, A);
  assert.deepEqual(t.counts.at(-1), [1, 0]);
  assert.equal(t.readyCalls(), 1);
  assert.deepEqual(t.updates, ["Reset"]);
});

Deno.test("P2cPool: a failed connect backs off 100 ms → 200 ms → … and reconnects (AlwaysReconnect)", async () => {
  const t = setup();
  t.pool.reset([[A, { v: 1 }]]);
  await t.svc(A).connect(false);
  let s = t.state(A)!;
  assert.equal(s.kind, "failed");
  assert.equal(s.kind === "failed" && s.failures, 1);
  assert.equal(s.kind === "failed" && s.retryAtMs, 100);
  assert.deepEqual(t.counts.at(-1), [0, 1], "failed counts as pending");
  t.clock.advance(99);
  assert.equal(t.svc(A).probes.length, 1);
  t.clock.advance(1);
  assert.equal(t.svc(A).probes.length, 2, "reconnect after 100 ms");
  assert.deepEqual(t.state(A), { kind: "pending", reason: "connecting" });
  await t.svc(A).connect(false);
  s = t.state(A)!;
  assert.equal(s.kind === "failed" && s.retryAtMs, 300, "then 200 ms");
  t.clock.advance(200);
  await t.svc(A).connect(true);
  assert.deepEqual(t.state(A), { kind: "ready" });
  // The backoff resets after a connect.
  const d = t.pool.pick()!.start();
  d.connectFailed(new Error("refused"));
  s = t.state(A)!;
  assert.equal(s.kind === "failed" && s.failures, 1);
  assert.equal(s.kind === "failed" && s.retryAtMs, t.clock.now() + 100);
});

Deno.test("P2cPool: a request's connect failure takes a ready endpoint out of the P2C set", async () => {
  const t = setup();
  t.pool.reset([[A, { v: 1 }], [B, { v: 1 }]]);
  await t.svc(A).connect(true);
  await t.svc(B).connect(true);
  assert.equal(t.pool.readyCount, 2);
  const ep = t.pool.get(A)!;
  const d = ep.start();
  d.connectFailed(new Error("refused"));
  assert.equal(t.state(A)!.kind, "failed");
  assert.equal(ep.inFlight, 0);
  assert.equal(ep.ewma.pending, 0, "no RTT sample, no pending");
  for (let i = 0; i < 20; i++) assert.equal(t.pool.pick()?.key, B);
});

Deno.test("P2cPool: a response from a failed endpoint makes it ready at once", async () => {
  const t = setup();
  t.pool.reset([[A, { v: 1 }]]);
  await t.svc(A).connect(false);
  const ep = t.pool.pickFallback()!;
  assert.equal(ep.key, A);
  const d = ep.start();
  d.settled(true);
  assert.deepEqual(t.state(A), { kind: "ready" });
  assert.equal(t.clock.pending, 0, "the reconnect timer is cancelled");
});

Deno.test("P2cPool.pickFallback(): only with none ready and none connecting", async () => {
  const t = setup();
  t.pool.reset([[A, { v: 1 }], [B, { v: 1 }]]);
  await t.svc(A).connect(false);
  assert.equal(t.pool.pickFallback(), undefined, "B still connecting");
  const before = t.readyCalls();
  await t.svc(B).connect(false);
  assert.equal(t.readyCalls(), before + 1, "failed endpoints wake the queue");
  assert.ok([A, B].includes(t.pool.pickFallback()!.key));
  t.clock.advance(100); // both reconnecting
  assert.equal(t.pool.pickFallback(), undefined);
  await t.svc(A).connect(true);
  assert.equal(t.pool.pickFallback(), undefined, "one is ready");
  assert.equal(t.pool.pick()?.key, A);
});

Deno.test("P2cPool.reset() keeps unchanged endpoints, rebuilds changed ones, removes missing ones", async () => {
  const t = setup();
  t.pool.reset([[A, { v: 1 }], [B, { v: 1 }], [C, { v: 1 }]]);
  for (const k of [A, B, C]) await t.svc(k).connect(true);
  const a = t.pool.get(A)!;
  const b = t.pool.get(B)!;
  t.pool.reset([[A, { v: 1 }], [B, { v: 2 }]]);
  assert.equal(t.pool.get(A), a, "unchanged: the same endpoint, load kept");
  assert.deepEqual(t.state(A), { kind: "ready" });
  assert.notEqual(t.pool.get(B), b, "changed metadata: rebuilt");
  assert.deepEqual(t.state(B), { kind: "pending", reason: "connecting" });
  assert.equal(b.state.kind, "removed");
  assert.equal(t.services.get(B)![0]!.disposed, true, "idle: disposed at once");
  assert.equal(t.pool.get(C), undefined);
  assert.equal(t.svc(C).disposed, true);
  assert.equal(t.pool.size, 2);
  assert.deepEqual(t.updates, ["Reset", "Reset"]);
  assert.deepEqual(t.counts.at(-1), [1, 1]);
});

Deno.test("P2cPool: a removed endpoint finishes its in-flight requests, gets no new ones, then is disposed", async () => {
  const t = setup();
  t.pool.reset([[A, { v: 1 }], [B, { v: 1 }]]);
  await t.svc(A).connect(true);
  await t.svc(B).connect(true);
  const a = t.pool.get(A)!;
  const d1 = a.start();
  const d2 = a.start();
  t.pool.remove(A);
  assert.equal(a.state.kind, "removed");
  assert.equal(t.svc(A).disposed, false, "in flight: not yet");
  for (let i = 0; i < 20; i++) assert.equal(t.pool.pick()?.key, B);
  d1.firstFrame();
  d1.classified("success");
  d1.settled(true);
  assert.equal(t.svc(A).disposed, false);
  d2.settled(false);
  assert.equal(t.svc(A).disposed, true);
  assert.equal(a.state.kind, "removed", "a late response does not revive it");
  t.pool.remove("unknown:1");
  assert.deepEqual(t.updates, ["Reset", "Remove", "Remove"]);
});

Deno.test("P2cPool: removing a connecting or backing-off endpoint cancels its probe and timer", async () => {
  const t = setup();
  t.pool.reset([[A, { v: 1 }], [B, { v: 1 }]]);
  const probeA = t.svc(A).probes[0]!;
  await t.svc(B).connect(false);
  assert.equal(t.clock.pending, 1);
  t.pool.reset([]);
  assert.equal(probeA.signal.aborted, true);
  assert.equal(t.clock.pending, 0);
  assert.equal(t.pool.size, 0);
  // A probe that settles after removal changes nothing.
  probeA.resolve();
  await flush();
  assert.equal(t.pool.readyCount, 0);
});

Deno.test("P2cPool.add() is a no-op for equal metadata and rebuilds on a change", async () => {
  const t = setup();
  t.pool.add(A, { v: 1 });
  await t.svc(A).connect(true);
  const a = t.pool.get(A);
  t.pool.add(A, { v: 1 });
  assert.equal(t.pool.get(A), a);
  t.pool.add(A, { v: 2 });
  assert.notEqual(t.pool.get(A), a);
  assert.equal(t.services.get(A)!.length, 2);
  assert.deepEqual(t.updates, ["Add", "Add", "Add"]);
});

Deno.test("P2cPool.pick() prefers the less loaded of two ready endpoints", async () => {
  const t = setup();
  t.pool.reset([[A, { v: 1 }], [B, { v: 1 }]]);
  await t.svc(A).connect(true);
  await t.svc(B).connect(true);
  const held = t.pool.get(A)!.start(); // A: 30 × 2, B: 30 × 1
  for (let i = 0; i < 10; i++) assert.equal(t.pool.pick()?.key, B);
  held.firstFrame();
  held.settled(true);
});

Deno.test("P2cPool with scanBelow compares every ready endpoint", async () => {
  const clock = new ManualClock();
  const pool = new P2cPool<PoolService, number>({
    newService: () => ({ [Symbol.dispose]() {} }),
    clock,
    random: seededRandom(1),
    scanBelow: 8,
  });
  pool.reset([[A, 0], [B, 0], [C, 0]]);
  await flush();
  const a = pool.get(A)!.start();
  const b = pool.get(B)!.start();
  for (let i = 0; i < 10; i++) assert.equal(pool.pick()?.key, C);
  a.settled(false);
  b.settled(false);
  pool[Symbol.dispose]();
});

const BREAKER: FailureAccrualSpec = {
  kind: "consecutive",
  maxFailures: 2,
  minPenaltyMs: 1000,
  maxPenaltyMs: 60_000,
  jitter: 0,
};

Deno.test("P2cPool: a shut breaker makes the endpoint pending; probation lets one probe through", async () => {
  const t = setup({ failureAccrual: BREAKER });
  t.pool.reset([[A, { v: 1 }], [B, { v: 1 }]]);
  await t.svc(A).connect(true);
  await t.svc(B).connect(true);
  const a = t.pool.get(A)!;
  for (let i = 0; i < 2; i++) {
    const d = a.start();
    d.firstFrame();
    d.settled(true);
    d.classified("failure");
  }
  assert.deepEqual(a.state, { kind: "pending", reason: "breaker" });
  assert.equal(a.breaker?.kind, "shut");
  assert.deepEqual(t.counts.at(-1), [1, 1]);
  for (let i = 0; i < 10; i++) assert.equal(t.pool.pick()?.key, B);
  t.clock.advance(1000);
  assert.deepEqual(a.state, { kind: "ready" });
  assert.equal(a.breaker?.kind, "probation");
  const probe = a.start();
  assert.deepEqual(
    a.state,
    { kind: "pending", reason: "breaker" },
    "one probe only",
  );
  probe.firstFrame();
  probe.settled(true);
  probe.classified("success");
  assert.deepEqual(a.state, { kind: "ready" });
  assert.deepEqual(a.breaker, { kind: "open", failures: 0 });
  assert.deepEqual(t.breaker, ["shut", "probation", "open"]);
});

Deno.test("P2cPool.setFailureAccrual() replaces the breakers (gates reopen)", async () => {
  const t = setup({ failureAccrual: BREAKER });
  t.pool.reset([[A, { v: 1 }]]);
  await t.svc(A).connect(true);
  const a = t.pool.get(A)!;
  for (let i = 0; i < 2; i++) a.start().classified("failure");
  assert.equal(a.breaker?.kind, "shut");
  t.pool.setFailureAccrual(undefined);
  assert.equal(a.breaker, undefined);
  assert.deepEqual(a.state, { kind: "ready" });
  assert.equal(t.clock.pending, 0);
});

Deno.test("P2cPool without probes: endpoints are ready at once", () => {
  const t = setup({ probe: false });
  t.pool.reset([[A, { v: 1 }]]);
  assert.deepEqual(t.state(A), { kind: "ready" });
});

Deno.test("P2cPool dispose: every service disposed, probes aborted, timers cleared", async () => {
  const t = setup({ failureAccrual: BREAKER });
  t.pool.reset([[A, { v: 1 }], [B, { v: 1 }], [C, { v: 1 }]]);
  await t.svc(A).connect(false);
  await t.svc(B).connect(true);
  const b = t.pool.get(B)!;
  for (let i = 0; i < 2; i++) b.start().classified("failure");
  const d = t.pool.get(B);
  assert.ok(d);
  assert.equal(t.clock.pending, 2);
  t.pool[Symbol.dispose]();
  assert.equal(t.clock.pending, 0);
  for (const k of [A, B, C]) assert.equal(t.svc(k).disposed, true);
  assert.equal(t.svc(C).probes[0]!.signal.aborted, true);
  assert.deepEqual(t.counts.at(-1), [0, 0]);
});
