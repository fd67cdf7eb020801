/**
 * The balancer's choice itself (linkerd `P2cPool::p2c_ready_index` + tower
 * `PeakEwma::load`): P2C over 1, 10 and 100 ready endpoints with real
 * Peak-EWMA loads and the real clock, then the whole per-request
 * bookkeeping (pick and start, first frame, class, settle). Goal: under
 * 1 µs per pick at 100 endpoints. A `performance.now()` costs ~90–130 ns
 * here, so the pool reads the clock once per pick.
 *
 *   deno bench -A bench/p2c_bench.ts
 */
import { leastLoadedIndex, p2cIndex } from "../src/balance/p2c.ts";
import { PeakEwma } from "../src/balance/peak_ewma.ts";
import { P2cPool, type PoolService } from "../src/balance/pool.ts";

const now = () => performance.now();

function pool(n: number, scanBelow = 0): P2cPool<PoolService, number> {
  const p = new P2cPool<PoolService, number>({
    newService: () => ({ [Symbol.dispose]() {} }), // no probe: ready at once
    scanBelow,
  });
  p.reset(Array.from({ length: n }, (_, i) => [`10.0.0.${i}:80`, i] as const));
  // Give each endpoint a distinct estimate and some pending requests.
  for (const ep of p.endpoints()) {
    for (let k = 0; k < (Number(ep.meta) % 3); k++) ep.start();
  }
  return p;
}

for (const n of [1, 10, 100]) {
  const loads = Array.from({ length: n }, (_, i) => {
    const e = new PeakEwma({ now, defaultRttMs: 5 + i });
    return e;
  });
  Deno.bench(
    `p2cIndex() over ${n} Peak-EWMA loads`,
    { group: `n=${n}` },
    () => {
      p2cIndex(loads, Math.random);
    },
  );
  const p = pool(n);
  Deno.bench(
    `P2cPool.pick() with ${n} ready endpoints`,
    { group: `n=${n}`, baseline: true },
    () => {
      p.pick();
    },
  );
  Deno.bench(
    `P2cPool.start() + firstFrame + classified + settled, ${n} endpoints`,
    { group: `n=${n}` },
    () => {
      const d = p.start()!; // as Balancer does: pick and start, one clock read
      d.firstFrame();
      d.classified("success");
      d.settled(true);
    },
  );
}

for (const n of [3, 8]) {
  const p = pool(n, 8);
  Deno.bench(`P2cPool.pick() scanning all ${n} (scanBelow 8)`, {
    group: "scan",
  }, () => {
    p.pick();
  });
}
const loads100 = Array.from(
  { length: 100 },
  (_, i) => new PeakEwma({ now, defaultRttMs: 5 + i }),
);
Deno.bench("leastLoadedIndex() over 100 (full scan, for comparison)", {
  group: "scan",
}, () => {
  leastLoadedIndex(loads100, now());
});
