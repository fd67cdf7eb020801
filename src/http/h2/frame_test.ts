import assert from "node:assert/strict";
import {
  ErrorCode,
  Flag,
  FrameReader,
  FrameType,
  FrameWriter,
  H2ProtocolError,
  PREFACE,
  readU31,
  unpad,
} from "./frame.ts";

import { setImmediate } from "node:timers";

function turn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

type Seen = [number, number, number, number[]];

/** A ByteSink that records writes and completes them at once. */
function recorder() {
  const writes: Uint8Array[] = [];
  return {
    writes,
    sink: {
      writableLength: 0,
      write(c: Uint8Array, cb: () => void) {
        writes.push(c.slice());
        cb();
        return true;
      },
    },
  };
}

function readAll(bytes: Uint8Array, split: number[], preface = false): Seen[] {
  const seen: Seen[] = [];
  const r = new FrameReader(
    (t, f, s, p) => seen.push([t, f, s, [...p]]),
    { preface },
  );
  let pos = 0;
  for (const n of [...split, bytes.length]) {
    r.push(bytes.subarray(pos, Math.min(n, bytes.length)));
    pos = Math.min(n, bytes.length);
  }
  assert.equal(r.pending, 0);
  return seen;
}

function encoded(fill: (w: FrameWriter) => void): Uint8Array {
  const { writes, sink } = recorder();
  const w = new FrameWriter(sink);
  fill(w);
  w.flush();
  assert.equal(writes.length, 1, "one write per turn");
  return writes[0]!;
}

Deno.test("FrameWriter encodes every frame type and FrameReader reads them back at any split", () => {
  const bytes = encoded((w) => {
    w.data(1, new Uint8Array([1, 2, 3]), true);
    w.headers(3, new Uint8Array([0x82, 0x84]), false, 16384);
    w.frame(FrameType.PRIORITY, 0, 3, new Uint8Array([0, 0, 0, 1, 16]));
    w.rstStream(5, ErrorCode.CANCEL);
    w.settings([[4, 1 << 20], [2, 0]]);
    w.settingsAck();
    w.frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, new Uint8Array(4));
    w.ping(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), true);
    w.goaway(7, ErrorCode.ENHANCE_YOUR_CALM, new Uint8Array([104, 105]));
    w.windowUpdate(0, 0x7fffffff);
    w.frame(FrameType.CONTINUATION, Flag.END_HEADERS, 3, new Uint8Array([1]));
    w.frame(0xfa, 0, 0, new Uint8Array(0));
  });
  const expected: Seen[] = [
    [0, 1, 1, [1, 2, 3]],
    [1, 4, 3, [0x82, 0x84]],
    [2, 0, 3, [0, 0, 0, 1, 16]],
    [3, 0, 5, [0, 0, 0, 8]],
    [4, 0, 0, [0, 4, 0, 16, 0, 0, 0, 2, 0, 0, 0, 0]],
    [4, 1, 0, []],
    [5, 4, 1, [0, 0, 0, 0]],
    [6, 1, 0, [1, 2, 3, 4, 5, 6, 7, 8]],
    [7, 0, 0, [0, 0, 0, 7, 0, 0, 0, 11, 104, 105]],
    [8, 0, 0, [0x7f, 0xff, 0xff, 0xff]],
    [9, 4, 3, [1]],
    [0xfa, 0, 0, []],
  ];
  assert.deepEqual(readAll(bytes, []), expected);
  // Every split point, and byte-at-a-time.
  for (let i = 1; i < bytes.length; i++) {
    assert.deepEqual(readAll(bytes, [i]), expected, `split at ${i}`);
  }
  const ones = Array.from({ length: bytes.length }, (_, i) => i + 1);
  assert.deepEqual(readAll(bytes, ones), expected);
});

Deno.test("FrameReader checks the client preface and the max frame size", () => {
  const ping = encoded((w) => w.ping(new Uint8Array(8), false));
  const withPreface = new Uint8Array(PREFACE.length + ping.length);
  withPreface.set(PREFACE);
  withPreface.set(ping, PREFACE.length);
  assert.equal(readAll(withPreface, [3, 30], true).length, 1);

  const bad = withPreface.slice();
  bad[5] = 0x41;
  assert.throws(
    () => readAll(bad, [], true),
    (e) => e instanceof H2ProtocolError && e.code === ErrorCode.PROTOCOL_ERROR,
  );

  const big = encoded((w) => w.data(1, new Uint8Array(16385), false));
  for (const split of [[], [4], [9], [100]]) {
    assert.throws(
      () => readAll(big, split),
      (e) =>
        e instanceof H2ProtocolError && e.code === ErrorCode.FRAME_SIZE_ERROR,
    );
  }
  const r = new FrameReader(() => {}, { maxFrameSize: 20000 });
  r.push(big);
  assert.equal(r.pending, 0);
});

Deno.test("FrameReader payloads stay valid after the chunk is split", () => {
  const bytes = encoded((w) => {
    w.data(1, new Uint8Array(1000).fill(7), false);
    w.data(1, new Uint8Array(10).fill(9), true);
  });
  const payloads: Uint8Array[] = [];
  const r = new FrameReader((_t, _f, _s, p) => payloads.push(p));
  const a = bytes.slice(0, 500);
  const b = bytes.slice(500);
  r.push(a);
  r.push(b);
  a.fill(0);
  b.fill(0);
  assert.equal(payloads[0]!.length, 1000);
  assert.ok(payloads[0]!.every((x) => x === 7));
  // The second frame lay inside `b`: its payload is a view of it.
  assert.equal(payloads[1]!.length, 10);
});

Deno.test("FrameWriter splits a large field block into HEADERS and CONTINUATION", () => {
  const block = new Uint8Array(40000).map((_, i) => i & 0xff);
  const bytes = encoded((w) => w.headers(9, block, true, 16384));
  const seen = readAll(bytes, [17]);
  assert.deepEqual(seen.map(([t, f, s, p]) => [t, f, s, p.length]), [
    [FrameType.HEADERS, Flag.END_STREAM, 9, 16384],
    [FrameType.CONTINUATION, 0, 9, 16384],
    [FrameType.CONTINUATION, Flag.END_HEADERS, 9, 40000 - 32768],
  ]);
  assert.deepEqual(
    new Uint8Array(seen.flatMap(([, , , p]) => p)),
    block,
  );
});

Deno.test("FrameWriter coalesces a turn into one write and reuses its buffers", async () => {
  const { writes, sink } = recorder();
  const w = new FrameWriter(sink);
  for (let i = 0; i < 100; i++) w.windowUpdate(i * 2 + 1, 10);
  assert.equal(writes.length, 0);
  await Promise.resolve();
  assert.equal(writes.length, 0, "not before the turn's promise jobs ran");
  await turn();
  assert.equal(writes.length, 1);
  assert.equal(writes[0]!.length, 1300);
  // Many turns: no more writes than turns, each a whole frame sequence.
  for (let i = 0; i < 10; i++) {
    w.rstStream(1, 8);
    await Promise.resolve();
    w.rstStream(3, 8);
    await turn();
  }
  assert.equal(writes.length, 11);
  assert.ok(writes.slice(1).every((c) => c.length === 26));
});

Deno.test("unpad() strips padding and rejects padding longer than the frame", () => {
  assert.deepEqual(
    [...unpad(new Uint8Array([2, 9, 9, 0, 0]), Flag.PADDED)],
    [9, 9],
  );
  assert.deepEqual([...unpad(new Uint8Array([0]), Flag.PADDED)], []);
  assert.throws(
    () => unpad(new Uint8Array([4, 1, 2, 3]), Flag.PADDED),
    (e) => e instanceof H2ProtocolError && e.code === ErrorCode.PROTOCOL_ERROR,
  );
  assert.equal(
    readU31(new Uint8Array([0xff, 0xff, 0xff, 0xff]), 0),
    0x7fffffff,
  );
});
