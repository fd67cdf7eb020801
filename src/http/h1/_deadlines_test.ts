import assert from "node:assert/strict";
import { DeadlineQueue, type DeadlineTarget } from "./_deadlines.ts";
import { waitFor } from "./_test_util.ts";

function target(log: string[], name: string): DeadlineTarget {
  return { deadlinePassed: () => log.push(name) };
}

Deno.test("DeadlineQueue fires entries in order with one timer, and none once empty", async () => {
  let now = 0;
  const q = new DeadlineQueue(20, () => now);
  const log: string[] = [];
  const a = target(log, "a");
  const b = target(log, "b");
  const c = target(log, "c");
  q.add(a);
  now = 5;
  q.add(b);
  q.add(b); // already running: keeps its deadline
  now = 10;
  q.add(c);
  q.delete(c);
  assert.equal(q.size, 2);
  now = 21; // a is due, b (25) is not
  await waitFor(() => log.length === 1, "a fires");
  assert.deepEqual(log, ["a"]);
  now = 30;
  await waitFor(() => log.length === 2, "b fires");
  assert.deepEqual(log, ["a", "b"]);
  assert.equal(q.size, 0);
  // Deleting the last entry clears the timer (the sanitizer would see a leak).
  q.add(a);
  q.delete(a);
  assert.equal(q.size, 0);
});
