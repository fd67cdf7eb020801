import assert from "node:assert/strict";
import { FailFastError, LoadShedError } from "../errors.ts";
import { ManualClock } from "./_test_util.ts";
import { PoolQueue, type Queued } from "./pool_queue.ts";

class Item implements Queued {
  error: Error | undefined;
  constructor(readonly id: number) {}
  fail(err: Error): void {
    this.error = err;
  }
}

/** Reads the error without the narrowing of an earlier assertion. */
function errorOf(it: Item): Error | undefined {
  return it.error;
}

function setup(capacity = 100) {
  const clock = new ManualClock();
  const events: string[] = [];
  let length = 0;
  const q = new PoolQueue<Item>({
    capacity,
    failfastTimeoutMs: 3000,
    backend: "web.test:80",
    clock,
    metrics: {
      length: (n) => length = n,
      gate: (open) => events.push(open ? "gate open" : "gate shut"),
      failfast: () => events.push("failfast"),
      loadshed: () => events.push("loadshed"),
    },
    onGate: (s) => events.push(`log ${s.kind}`),
  });
  return { q, clock, events, length: () => length };
}

Deno.test("PoolQueue: requests wait, then go out in order when an endpoint is ready", () => {
  const { q, clock, length } = setup();
  const items = [1, 2, 3].map((i) => new Item(i));
  for (const it of items) assert.equal(q.push(it), undefined);
  assert.equal(q.length, 3);
  assert.equal(length(), 3);
  assert.equal(q.state.kind, "waiting");
  const sent: number[] = [];
  q.drain((it) => {
    sent.push(it.id);
    return true;
  });
  assert.deepEqual(sent, [1, 2, 3]);
  assert.equal(q.length, 0);
  assert.equal(length(), 0);
  assert.deepEqual(q.state, { kind: "open" });
  assert.equal(clock.pending, 0, "the failfast timer is stopped");
});

Deno.test("PoolQueue: drain stops when no endpoint is ready and restarts the wait", () => {
  const { q, clock } = setup();
  const items = [1, 2, 3].map((i) => new Item(i));
  for (const it of items) q.push(it);
  clock.advance(2000);
  let budget = 1; // a probation endpoint: one request, then not ready
  q.drain(() => budget-- > 0);
  assert.equal(q.length, 2);
  assert.deepEqual(q.state, { kind: "waiting", sinceMs: 2000 });
  clock.advance(2999);
  assert.equal(items[1]!.error, undefined, "a new wait started at 2000 ms");
  clock.advance(1);
  assert.ok(errorOf(items[1]!) instanceof FailFastError);
});

Deno.test("PoolQueue: no ready endpoint within the failfast timeout fails the waiting requests (504) and sheds new ones (503)", () => {
  const { q, clock, events } = setup();
  const a = new Item(1);
  q.push(a);
  clock.advance(1000);
  const b = new Item(2);
  q.push(b);
  clock.advance(2000);
  assert.ok(a.error instanceof FailFastError);
  assert.ok(b.error instanceof FailFastError, "queued later: fails too");
  assert.equal(a.error.timeoutMs, 3000);
  assert.equal(q.state.kind, "failfast");
  assert.equal(q.length, 0);
  const c = new Item(3);
  const shed = q.push(c);
  assert.ok(shed instanceof LoadShedError);
  assert.match(shed.message, /fail-fast/);
  assert.deepEqual(events, [
    "gate shut",
    "log failfast",
    "failfast",
    "failfast",
    "loadshed",
  ]);
});

Deno.test("PoolQueue: an endpoint becoming ready ends failfast by itself", () => {
  const { q, clock, events } = setup();
  q.push(new Item(1));
  clock.advance(3000);
  assert.equal(q.state.kind, "failfast");
  q.drain(() => true);
  assert.deepEqual(q.state, { kind: "open" });
  assert.deepEqual(events.slice(-2), ["gate open", "log open"]);
  const it = new Item(2);
  assert.equal(q.push(it), undefined, "accepted again");
});

Deno.test("PoolQueue: the failfast timer starts only when a request waits", () => {
  const { q, clock } = setup();
  clock.advance(10_000);
  assert.equal(clock.pending, 0);
  assert.deepEqual(q.state, { kind: "open" });
  const it = new Item(1);
  q.push(it);
  clock.advance(2999);
  assert.equal(it.error, undefined);
  clock.advance(1);
  assert.ok(errorOf(it) instanceof FailFastError);
});

Deno.test("PoolQueue: a full queue sheds load", () => {
  const { q } = setup(2);
  assert.equal(q.push(new Item(1)), undefined);
  assert.equal(q.push(new Item(2)), undefined);
  const shed = q.push(new Item(3));
  assert.ok(shed instanceof LoadShedError);
  assert.match(shed.message, /queue is full/);
});

Deno.test("PoolQueue.cancel() withdraws a waiting request; the last one stops the timer", () => {
  const { q, clock } = setup();
  const a = new Item(1), b = new Item(2);
  q.push(a);
  q.push(b);
  assert.equal(q.cancel(a), true);
  assert.equal(q.cancel(a), false);
  assert.equal(q.length, 1);
  assert.equal(q.cancel(b), true);
  assert.deepEqual(q.state, { kind: "open" });
  assert.equal(clock.pending, 0);
});

Deno.test("PoolQueue: the ring buffer keeps order across growth and wrap-around", () => {
  const { q } = setup(10_000);
  const out: number[] = [];
  let n = 0;
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 37; i++) q.push(new Item(n++));
    let take = 20;
    q.drain((it) => {
      if (take-- === 0) return false;
      out.push(it.id);
      return true;
    });
  }
  q.drain((it) => {
    out.push(it.id);
    return true;
  });
  assert.deepEqual(out, Array.from({ length: n }, (_, i) => i));
});

Deno.test("PoolQueue dispose fails the waiting requests and stops the timer", () => {
  const { q, clock } = setup();
  const a = new Item(1);
  q.push(a);
  q[Symbol.dispose]();
  assert.ok(a.error instanceof LoadShedError);
  assert.equal(clock.pending, 0);
});
