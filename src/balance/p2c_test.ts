import assert from "node:assert/strict";
import { scriptedRandom, seededRandom } from "./_test_util.ts";
import { leastLoadedIndex, p2cIndex } from "./p2c.ts";

const loads = (...ls: number[]) => ls.map((l) => ({ load: () => l }));

Deno.test("p2cIndex() of none is -1, of one is 0 without drawing", () => {
  const never = () => {
    throw new Error("no draw expected");
  };
  assert.equal(p2cIndex([], never), -1);
  assert.equal(p2cIndex(loads(7), never), 0);
});

Deno.test("p2cIndex() draws two distinct indices and takes the lower load", () => {
  // i = floor(0 * 3) = 0; j = floor(0.5 * 2) = 1 → 1 ≥ i → 2.
  assert.equal(p2cIndex(loads(5, 1, 3), scriptedRandom(0, 0.5)), 2);
  // i = 2; j = floor(0.99 * 2) = 1 (< i, kept): loads 3 vs 1 → 1.
  assert.equal(p2cIndex(loads(5, 1, 3), scriptedRandom(0.99, 0.99)), 1);
  // Same draw twice never picks the same index: i = 0, j = 0 → 1.
  assert.equal(p2cIndex(loads(1, 9), scriptedRandom(0, 0)), 0);
  assert.equal(p2cIndex(loads(9, 1), scriptedRandom(0, 0)), 1);
});

Deno.test("p2cIndex() ties go to the first drawn", () => {
  assert.equal(p2cIndex(loads(2, 2, 2), scriptedRandom(0.7, 0)), 2);
  assert.equal(p2cIndex(loads(2, 2, 2), scriptedRandom(0, 0.9)), 0);
});

Deno.test("p2cIndex() never picks the most loaded of three, and spreads over the rest", () => {
  const random = seededRandom(42);
  const items = loads(1, 2, 3);
  const counts = [0, 0, 0];
  for (let k = 0; k < 30_000; k++) counts[p2cIndex(items, random)]!++;
  assert.equal(counts[2], 0);
  // The lowest wins both pairs it is in (2/3), the middle one pair (1/3).
  assert.ok(Math.abs(counts[0]! / 30_000 - 2 / 3) < 0.02, String(counts));
  assert.ok(Math.abs(counts[1]! / 30_000 - 1 / 3) < 0.02, String(counts));
});

Deno.test("leastLoadedIndex() scans every item, ties to the lowest index", () => {
  assert.equal(leastLoadedIndex([]), -1);
  assert.equal(leastLoadedIndex(loads(5, 1, 3)), 1);
  assert.equal(leastLoadedIndex(loads(2, 1, 1)), 1);
});
