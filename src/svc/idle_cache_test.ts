import assert from "node:assert/strict";
import { IdleCache } from "./idle_cache.ts";

Deno.test("IdleCache.get() returns what insert() cached", () => {
  const cache = new IdleCache<{ id: number }>({ idleMs: 100, now: () => 0 });
  assert.equal(cache.get("a"), undefined);
  const a = cache.insert("a", { id: 1 });
  assert.equal(cache.get("a"), a);
  cache.clear();
  assert.equal(cache.get("a"), undefined);
});

Deno.test("IdleCache.sweep() evicts idle entries, never held ones", () => {
  let t = 0;
  const disposed: string[] = [];
  const cache = new IdleCache<string>({
    idleMs: 100,
    now: () => t,
    dispose: (v) => disposed.push(v),
  });
  cache.insert("a", "A");
  cache.insert("b", "B");
  const release = cache.hold("b");
  t = 50;
  assert.equal(cache.sweep(), 0);
  t = 150;
  assert.equal(cache.sweep(), 1);
  assert.deepEqual(disposed, ["A"]);
  release();
  t = 200;
  assert.equal(cache.sweep(), 0);
  t = 300;
  assert.equal(cache.sweep(), 1);
  assert.deepEqual(disposed, ["A", "B"]);
  assert.equal(cache.size, 0);
});
