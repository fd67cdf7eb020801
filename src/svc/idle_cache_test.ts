import assert from "node:assert/strict";
import { IdleCache } from "./idle_cache.ts";

Deno.test("IdleCache.get() builds once and reuses", () => {
  const t = 0;
  const cache = new IdleCache<{ id: number }>({ idleMs: 100, now: () => t });
  let built = 0;
  const a = cache.get("a", () => ({ id: ++built }));
  const b = cache.get("a", () => ({ id: ++built }));
  assert.equal(a, b);
  assert.equal(built, 1);
  cache.clear();
});

Deno.test("IdleCache.sweep() evicts idle entries, never held ones", () => {
  let t = 0;
  const disposed: string[] = [];
  const cache = new IdleCache<string>({
    idleMs: 100,
    now: () => t,
    dispose: (v) => disposed.push(v),
  });
  cache.get("a", () => "A");
  cache.get("b", () => "B");
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
