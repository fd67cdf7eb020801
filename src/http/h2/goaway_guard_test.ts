import assert from "node:assert/strict";
import { GoawayFilter } from "./goaway_guard.ts";

function frame(type: number, streamId: number, payload: number[]): number[] {
  const len = payload.length;
  return [
    len >> 16,
    (len >> 8) & 255,
    len & 255,
    type,
    0,
    0,
    0,
    0,
    streamId,
    ...payload,
  ];
}
const SETTINGS = frame(4, 0, []);
const DATA = frame(0, 1, [1, 2, 3, 4, 5]);
const GOAWAY = frame(7, 0, [0, 0, 0, 5, 0, 0, 0, 11]);
const HEADERS = frame(1, 3, [0x82]);
const PREFACE = [
  ...new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
];

Deno.test("GoawayFilter passes frames through untouched, same chunk object", () => {
  const f = new GoawayFilter(true, () => assert.fail("no goaway"));
  const chunk = new Uint8Array([...PREFACE, ...SETTINGS, ...DATA, ...HEADERS]);
  assert.equal(f.filter(chunk), chunk);
});

Deno.test("GoawayFilter removes GOAWAY and reports last-stream-id and code, at every split", () => {
  const input = [
    ...PREFACE,
    ...SETTINGS,
    ...DATA,
    ...GOAWAY,
    ...HEADERS,
    ...DATA,
  ];
  const expected = [...PREFACE, ...SETTINGS, ...DATA, ...HEADERS, ...DATA];
  for (let a = 0; a <= input.length; a++) {
    for (
      const b of [
        a,
        Math.min(input.length, a + 3),
        Math.min(input.length, a + 13),
      ]
    ) {
      const seen: [number, number][] = [];
      const f = new GoawayFilter(true, (last, code) => seen.push([last, code]));
      const out = [
        ...f.filter(new Uint8Array(input.slice(0, a))),
        ...f.filter(new Uint8Array(input.slice(a, b))),
        ...f.filter(new Uint8Array(input.slice(b))),
      ];
      assert.deepEqual(out, expected, `split at ${a}/${b}`);
      assert.deepEqual(seen, [[5, 11]], `split at ${a}/${b}`);
    }
  }
});

Deno.test("GoawayFilter without preface (client side) handles a DATA payload that looks like GOAWAY", () => {
  const tricky = frame(0, 1, [0, 0, 8, 7, 0, 0, 0, 0, 0]); // payload mimics a GOAWAY header
  const f = new GoawayFilter(
    false,
    () => assert.fail("payload is not a frame"),
  );
  const chunk = new Uint8Array([...SETTINGS, ...tricky]);
  assert.deepEqual([...f.filter(chunk)], [...SETTINGS, ...tricky]);
});
