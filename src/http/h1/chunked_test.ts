import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  ChunkedDecoder,
  chunkHead,
  encodeChunk,
  LAST_CHUNK,
  lastChunk,
} from "./chunked.ts";
import type { HeaderMap } from "../message.ts";

const enc = (s: string) => Buffer.from(s, "latin1");

/** Collects pushed data. */
class Collect {
  parts: Uint8Array[] = [];
  push(c: Uint8Array) {
    this.parts.push(Uint8Array.from(c));
  }
  text(): string {
    return Buffer.concat(this.parts).toString("latin1");
  }
}

interface Decoded {
  data: string;
  trailers: HeaderMap | undefined;
  end: number;
  error: string;
}

/** Decodes `input` fed in pieces of `step` bytes (0 = all at once). */
function decode(input: Uint8Array, step = 0): Decoded {
  const d = new ChunkedDecoder({ maxTrailerBytes: 1024 });
  const c = new Collect();
  let pos = 0;
  let end = -1;
  while (pos < input.length) {
    const stop = step === 0 ? input.length : Math.min(input.length, pos + step);
    // Each piece is its own buffer, as socket reads are.
    const piece = Uint8Array.from(input.subarray(pos, stop));
    const r = d.decode(piece, 0, piece.length, c);
    if (r < 0) {
      return { data: c.text(), trailers: undefined, end: -1, error: d.error };
    }
    if (d.done) {
      end = pos + r;
      break;
    }
    assert.equal(r, piece.length, "consumes everything until done");
    pos = stop;
  }
  return { data: c.text(), trailers: d.trailers, end, error: d.error };
}

const BODY = '5\r\nhello\r\n6;ext=1;quoted="a b"\r\n world\r\n' +
  "A \r\n0123456789\r\n0\r\nX-Sum: abc\r\nx-multi: 1\r\nX-Multi: 2\r\n\r\n";

Deno.test("ChunkedDecoder decodes sizes, extensions and trailers", () => {
  const input = enc(BODY + "NEXT");
  const r = decode(input);
  assert.equal(r.error, "");
  assert.equal(r.data, "hello world0123456789");
  assert.deepEqual(r.trailers, { "x-sum": "abc", "x-multi": ["1", "2"] });
  assert.equal(r.end, BODY.length, "stops before the next message");
});

Deno.test("ChunkedDecoder gives the same result split at every byte boundary", () => {
  const input = enc(BODY);
  for (let step = 1; step <= 8; step++) {
    const r = decode(input, step);
    assert.equal(r.data, "hello world0123456789", `step ${step}`);
    assert.deepEqual(r.trailers, { "x-sum": "abc", "x-multi": ["1", "2"] });
    assert.equal(r.end, input.length);
  }
  // Every two-piece split.
  for (let i = 1; i < input.length; i++) {
    const d = new ChunkedDecoder();
    const c = new Collect();
    const a = Uint8Array.from(input.subarray(0, i));
    const b = Uint8Array.from(input.subarray(i));
    assert.equal(d.decode(a, 0, a.length, c), a.length);
    assert.equal(d.decode(b, 0, b.length, c), b.length, `split ${i}`);
    assert.ok(d.done);
    assert.equal(c.text(), "hello world0123456789");
    assert.deepEqual(d.trailers, { "x-sum": "abc", "x-multi": ["1", "2"] });
  }
});

Deno.test("ChunkedDecoder without trailers, with bare LF, with leading zeros", () => {
  assert.deepEqual(decode(enc("3\r\nabc\r\n0\r\n\r\n")), {
    data: "abc",
    trailers: undefined,
    end: 13,
    error: "",
  });
  const lf = decode(enc("3\nabc\n0\n\n"));
  assert.equal(lf.data, "abc");
  assert.equal(lf.end, 9);
  assert.equal(decode(enc("0003\r\nabc\r\n00\r\n\r\n")).data, "abc");
  const empty = decode(enc("0\r\n\r\n"));
  assert.equal(empty.data, "");
  assert.equal(empty.end, 5);
});

Deno.test("ChunkedDecoder rejects bad sizes and framing", () => {
  const bad: [string, RegExp][] = [
    ["\r\nabc\r\n0\r\n\r\n", /invalid chunk size/],
    ["g\r\n", /invalid chunk size/],
    ["-1\r\n", /invalid chunk size/],
    ["0x5\r\nhello\r\n", /invalid chunk size/],
    ["1 2\r\n", /invalid chunk size line/],
    ["3\rabc", /invalid chunk size line/],
    ["3\r\nabcX\r\n", /missing line end/],
    ["3\r\nabc\rX", /missing line end/],
    ["11111111111111111\r\n", /too large/],
    ["FFFFFFFFFFFFFFFF\r\n", /too large/],
    ["3;a\x01b\r\nabc\r\n", /invalid chunk extension/],
    [`3;${"e".repeat(5000)}\r\n`, /extension too long/],
    ["0\r\nbad trailer\r\n\r\n", /colon/],
    ["0\r\nX-A: 1\r\n folded\r\n\r\n", /folding/],
    ["0\r\n\rX", /invalid trailer/],
    [`0\r\nX-Big: ${"a".repeat(2000)}\r\n\r\n`, /too large/],
  ];
  for (const [input, re] of bad) {
    for (const step of [0, 1]) {
      const r = decode(enc(input), step);
      assert.equal(r.end, -1, JSON.stringify(input));
      assert.match(r.error, re, JSON.stringify(input));
    }
  }
});

Deno.test("ChunkedDecoder 16 hex digits within the safe range are accepted", () => {
  const d = new ChunkedDecoder();
  const c = new Collect();
  const input = enc("000000000000000A\r\n0123");
  assert.equal(d.decode(input, 0, input.length, c), input.length);
  assert.equal(c.text(), "0123");
  assert.equal(d.done, false);
});

Deno.test("chunk encoders produce what the decoder reads", () => {
  assert.equal(chunkHead(255), "ff\r\n");
  assert.equal(LAST_CHUNK, "0\r\n\r\n");
  const wire = Buffer.concat([
    encodeChunk(enc("abc")),
    encodeChunk(enc("x".repeat(300))),
    enc(lastChunk({ "grpc-status": "0", "x-m": ["1", "2"], bad: "a\r\nb" })),
  ]);
  assert.equal(
    lastChunk({ "grpc-status": "0" }),
    "0\r\ngrpc-status: 0\r\n\r\n",
  );
  const r = decode(wire);
  assert.equal(r.data, "abc" + "x".repeat(300));
  assert.deepEqual(r.trailers, { "grpc-status": "0", "x-m": ["1", "2"] });
  assert.equal(lastChunk(undefined), LAST_CHUNK);
});
