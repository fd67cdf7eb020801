import assert from "node:assert/strict";
import { ManualClock } from "./_test_util.ts";
import {
  formatPeerLoad,
  InboundLoad,
  parsePeerLoad,
  PeerLoad,
  PeerLoadPool,
} from "./peer_load.ts";
import { P2cPool, type PoolService } from "./pool.ts";

Deno.test("parsePeerLoad() reads what formatPeerLoad() writes and refuses the rest", () => {
  assert.deepEqual(parsePeerLoad(formatPeerLoad(3, 1.2345)), {
    inflight: 3,
    svcMs: 1.23,
  });
  assert.deepEqual(parsePeerLoad("svc=250ms; inflight=0;x=1"), {
    inflight: 0,
    svcMs: 250,
  });
  for (
    const bad of [
      "",
      "inflight=3",
      "svc=1ms",
      "inflight=-1;svc=1ms",
      "inflight=1;svc=1",
      "inflight=1;svc=1e9ms",
    ]
  ) {
    assert.equal(parsePeerLoad(bad), undefined, bad);
  }
});

Deno.test("InboundLoad counts in flight and reports latency per request in flight", () => {
  const load = new InboundLoad({ alpha: 0.5 });
  const a = load.start(), b = load.start();
  assert.deepEqual([a, b, load.inflight], [1, 2, 2]);
  assert.equal(load.finish(a, 0, 10), "inflight=1;svc=10ms"); // 10 ms at 1
  assert.equal(load.finish(b, 0, 20), "inflight=0;svc=10ms"); // 20 ms at 2 → 10
  const c = load.start();
  assert.equal(load.finish(c, 100, 130), "inflight=0;svc=20ms"); // (10 + 30) / 2
});

Deno.test("PeerLoad.load() uses a fresh report, counts requests sent since, then falls back", () => {
  const ewma = { load: () => 77 };
  const peer = new PeerLoad({ staleMs: 100 });
  assert.equal(peer.load(0, 0, ewma), 77); // nothing known: Peak-EWMA
  peer.report({ inflight: 2, svcMs: 5 }, 0);
  assert.equal(peer.load(10, 0, ewma), 15); // 5 × (2 + 1)
  peer.sent();
  peer.sent();
  assert.equal(peer.load(10, 2, ewma), 25); // 5 × (2 + 2 + 1)
  assert.equal(peer.load(10, 9, ewma), 50); // never below own in flight
  assert.equal(peer.load(101, 0, ewma), 77); // stale: Peak-EWMA again
});

Deno.test("PeerLoad before its first answer borrows the pool's reference; silent peers use Peak-EWMA", () => {
  const pool = new PeerLoadPool();
  const ewma = { load: () => 77 };
  const known = new PeerLoad({ pool });
  const fresh = new PeerLoad({ pool });
  const silent = new PeerLoad({ pool });
  assert.equal(fresh.load(0, 0, ewma), 77); // no reference yet
  known.report({ inflight: 0, svcMs: 4 }, 0);
  assert.equal(fresh.load(0, 1, ewma), 8); // 4 × (1 + 1)
  silent.answered(); // answered without a report: not a Petrel
  assert.equal(silent.load(0, 0, ewma), 77);
});

interface Svc extends PoolService {
  readonly key: string;
}

Deno.test("P2cPool with peerLoad moves traffic off an endpoint that reports a slow application", () => {
  const clock = new ManualClock();
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const pool = new P2cPool<Svc, null>({
    newService: (key) => ({ key, [Symbol.dispose]() {} }),
    clock,
    random,
    peerLoad: {},
  });
  pool.reset([["a", null], ["b", null]]);
  const counts = { a: 0, b: 0 };
  for (let i = 0; i < 400; i++) {
    const d = pool.start()!;
    const key = (d.endpoint.service as Svc).key as "a" | "b";
    counts[key]++;
    clock.advance(1);
    // a's application takes 50 ms per request, b's 5 ms.
    d.peerLoad(formatPeerLoad(0, key === "a" ? 50 : 5));
    d.firstFrame();
    d.classified("success");
    d.settled(true);
  }
  assert.ok(counts.a < 20, `slow endpoint got ${counts.a} of 400`);
  pool[Symbol.dispose]();
});
