import assert from "node:assert/strict";
import { PeakEwma } from "./peak_ewma.ts";

const close = (a: number, b: number, eps = 1e-9) =>
  assert.ok(Math.abs(a - b) <= eps, `${a} ≉ ${b}`);

function clock() {
  const c = { t: 1000, now: () => c.t };
  return c;
}

Deno.test("PeakEwma starts at the 30 ms default RTT, floored at 1 ms", () => {
  const c = clock();
  assert.equal(new PeakEwma({ now: c.now }).load(), 30);
  assert.equal(new PeakEwma({ now: c.now, defaultRttMs: 0.1 }).load(), 1);
  assert.equal(new PeakEwma({ now: c.now, defaultRttMs: 5 }).load(), 5);
});

Deno.test("PeakEwma.load() is rtt × (pending + 1)", () => {
  const c = clock();
  const e = new PeakEwma({ now: c.now });
  const a = e.start();
  const b = e.start();
  assert.equal(e.pending, 2);
  assert.equal(e.load(), 90);
  a.cancel();
  b.cancel();
  assert.equal(e.load(), 30);
});

Deno.test("PeakEwma takes a peak at once and decays towards lower samples", () => {
  const c = clock();
  const e = new PeakEwma({ now: c.now });
  {
    using _h = e.start();
    c.t += 80;
  }
  assert.equal(e.pending, 0);
  assert.equal(e.rttMs, 80);
  // A 10 ms sample 5 s later: the estimate moves part of the way.
  c.t += 4_990;
  const h = e.start();
  c.t += 10;
  h.complete();
  close(e.rttMs, 80 * Math.exp(-0.5) + 10 * (1 - Math.exp(-0.5)));
  // complete() is idempotent.
  h.complete();
  h.cancel();
  assert.equal(e.pending, 0);
});

Deno.test("PeakEwma.load() decays an idle estimate towards 0", () => {
  const c = clock();
  const e = new PeakEwma({ now: c.now });
  c.t += 10_000;
  close(e.load(), 30 / Math.E);
  c.t += 10_000;
  close(e.load(), 30 / Math.E / Math.E);
  // Repeated calls at the same instant change nothing.
  close(e.load(), 30 / Math.E / Math.E);
});

Deno.test("PeakEwma: a cancelled request leaves no sample", () => {
  const c = clock();
  const e = new PeakEwma({ now: c.now, decayMs: 1e12 });
  const h = e.start();
  c.t += 500;
  h.cancel();
  h.complete();
  assert.equal(e.pending, 0);
  close(e.rttMs, 30, 1e-6);
});

Deno.test("PeakEwma: pending counts every started request until it completes", () => {
  const c = clock();
  const e = new PeakEwma({ now: c.now, decayMs: 1e12 });
  const hs = Array.from({ length: 5 }, () => e.start());
  assert.equal(e.pending, 5);
  close(e.load(), 30 * 6, 1e-6);
  for (const h of hs) h[Symbol.dispose]();
  assert.equal(e.pending, 0);
});

Deno.test("PeakEwma perRequestShare: each sample is divided by the requests in flight when it was sent", () => {
  const c = clock();
  const e = new PeakEwma({ now: c.now, perRequestShare: true });
  const hs = [e.start(), e.start(), e.start(), e.start()]; // shares 1, 2, 3, 4
  c.t += 400;
  hs[3]!.complete(); // 400 ms / 4 = 100: a peak
  assert.equal(e.rttMs, 100);
  hs[0]!.complete(); // 400 / 1 = 400: a higher peak
  assert.equal(e.rttMs, 400);
  hs[1]!.cancel();
  hs[2]!.cancel();
  assert.equal(e.pending, 0);
});
